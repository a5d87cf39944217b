"""Config errors name the file, the line, the key and the fix, in every section and for every type (issue 19).

Each broken config below gave a traceback, or was silently accepted, before: ``quota = 5``,
``tokens_per_block = "many"``, ``scope = 5``, ``limit = "1e400"`` (``decimal.InvalidOperation``),
a bad upstream URL, ``forecast_alert = "false"`` (read as true), ``channels = ["nowhere"]``; and
errors inside a section named the file but not the line.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from config_corpus import FULL, load_every_section

from spendtag import settings
from spendtag.errors import ConfigError


@pytest.fixture
def config() -> Path:
    """The config file the autouse fixture points SPENDTAG_CONFIG at."""
    return Path(os.environ["SPENDTAG_CONFIG"])


@pytest.fixture(autouse=True)
def _secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in (("SPENDTAG_TEST_WEBHOOK_SECRET", "s3cret"), ("SPENDTAG_TEST_WEBHOOK_URL", "https://h.example/x"),
                        ("SPENDTAG_TEST_SMTP_PASSWORD", "pw")):
        monkeypatch.setenv(name, value)


def error_for(config: Path, text: str) -> ConfigError:
    config.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_every_section()
    return info.value


def cli_error(*args: str) -> str:
    """A refused command: exit status 2, one line on stderr, no traceback."""
    result = CliRunner().invoke(cli_group(), list(args), env={"COLUMNS": "160"})
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def cli_group() -> object:
    from spendtag.cli.main import cli

    return cli


# -- the failures the issue lists -------------------------------------------------------------------

def test_a_section_that_is_not_a_table_names_its_line(config: Path) -> None:
    err = error_for(config, 'tz = "UTC"\nquota = 5\n')
    assert str(err) == f"{config}:2: quota must be a table (fix: write it as a [quota] table with key = value " \
                       "lines under it)"
    assert cli_error("quota") == f"error: {err}"


def test_a_word_where_a_number_belongs_names_the_line_and_the_key(config: Path) -> None:
    err = error_for(config, '[quota]\nplan = "max"\ntokens_per_block = "many"\n')
    assert str(err) == (f"{config}:3: [quota] tokens_per_block: must be a whole number from 1 to 1,000,000,000,000, "
                        "not 'many' (fix: write tokens_per_block = 880000)")
    assert cli_error("quota") == f"error: {err}"


def test_a_budget_scope_that_is_a_number_names_the_line(config: Path) -> None:
    err = error_for(config, '[[budgets]]\nname = "acme"\nlimit = "300"\nscope = 5\n')
    assert str(err) == (f'{config}:4: [[budgets]] #1 (acme) scope: must be a list of strings, not the number 5 '
                        f'(fix: write scope = ["client=acme"])')
    assert cli_error("budget", "list") == f"error: {err}"


@pytest.mark.parametrize(("limit", "problem"), [
    ('"1e400"', "1e400 USD is more than one amount may be (at most 1,000,000 USD)"),
    ('"1e999999999"', "not an amount spendtag can hold: '1e999999999'"),
    ('"NaN"', "not a finite amount: NaN"),
    ('"lots"', "not an amount: 'lots' (expected something like 49.00)"),
    ("inf", "not a finite amount: Infinity"),
    ("true", "must be an amount in USD, not the boolean true"),
    ('"0"', "0 must be more than $0"),
])
def test_a_budget_limit_that_is_not_money_says_why(config: Path, limit: str, problem: str) -> None:
    err = error_for(config, f'[[budgets]]\nname = "a"\nperiod = "daily"\n\nlimit = {limit}\n')
    assert str(err) == f'{config}:5: [[budgets]] #1 (a) limit: {problem} (fix: write limit = "300" (USD))'


def test_a_bad_upstream_url_names_the_line(config: Path) -> None:
    err = error_for(config, '[proxy]\nport = 4000\n\n[proxy.upstreams.groq]\nbase_url = "groq.com/v1"\n')
    assert str(err) == (f"{config}:5: [proxy.upstreams.groq] base_url: 'groq.com/v1' is not an http(s) URL with a host "
                        '(fix: write base_url = "https://api.groq.com/openai/v1")')


@pytest.mark.parametrize("url", ['"ftp://api.groq.com"', '"https://"', '"https://h:99999/v1"', '"https://a b/v1"', "5"])
def test_every_kind_of_bad_url_is_refused(config: Path, url: str) -> None:
    err = error_for(config, f"[proxy]\nopenai_base_url = {url}\n")
    assert str(err).startswith(f"{config}:2: [proxy] openai_base_url: ")


def test_a_boolean_in_quotes_is_refused_not_read_as_true(config: Path) -> None:
    err = error_for(config, '[[budgets]]\nname = "a"\nlimit = "10"\nforecast_alert = "false"\n')
    assert str(err) == (f"{config}:4: [[budgets]] #1 (a) forecast_alert: must be true or false, not 'false' "
                        "(fix: write forecast_alert = false (no quotes))")


def test_a_budget_naming_a_channel_that_does_not_exist_is_refused(config: Path) -> None:
    text = ('[alerts.channels.ops]\ntype = "console"\n\n'
            '[[budgets]]\nname = "a"\nlimit = "10"\nchannels = ["console", "opz"]\n')
    err = error_for(config, text)
    assert str(err) == (f"{config}:7: [[budgets]] #1 (a) channels: 'opz' is not a configured alert channel "
                        "(fix: did you mean 'ops'? use one of: console, ops, or add [alerts.channels.opz])")
    assert cli_error("budget", "list") == f"error: {err}"


def test_errors_in_the_second_table_of_a_list_name_its_own_line(config: Path) -> None:
    text = ('[[budgets]]\nname = "a"\nlimit = "10"\n\n[[budgets]]\nname = "b"\nlimit = "20"\n'
            'period = "fortnightly"\n')
    err = error_for(config, text)
    assert str(err) == (f"{config}:8: [[budgets]] #2 (b) period: 'fortnightly' is not allowed "
                        "(fix: use one of: daily, weekly, monthly, total)")
    assert (err.line, err.key) == (8, ("budgets", 1, "period"))


# -- every section: a wrong key gets "did you mean", with its line ------------------------------------

@pytest.mark.parametrize(("text", "line", "expected"), [
    ('timezone = "UTC"\n', 1, "unknown setting 'timezone'"),
    ('tzz = "UTC"\n', 1, "did you mean 'tz'?"),
    ('[[budgets]]\nname = "a"\nlimt = "10"\n', 3, "[[budgets]] #1 (a) limt: unknown key (fix: did you mean 'limit'?"),
    ('[[prices]]\nmodel = "m"\ninptu = 1\n', 3, "unknown key(s) inptu (fix: did you mean 'input'?"),
    ('[alerts]\nchanels = {}\n', 2, "[alerts] chanels: unknown key (fix: did you mean 'channels'?"),
    ('[alerts.channels.ops]\ntype = "webhook"\nurl = "https://x.example"\nallow_unsigned = true\ntimout = 3\n', 5,
     "timout: not a setting of a webhook channel (fix: did you mean 'timeout'?"),
    ('[quota]\ntokens_per_blok = 5\n', 2,
     "[quota] tokens_per_blok: unknown key (fix: did you mean 'tokens_per_block'?"),
    ('[invoices]\nprefx = "INV"\n', 2, "[invoices] prefx: unknown key (fix: did you mean 'prefix'?"),
    ('[billing]\nallocat = "even"\n', 2, "[billing] allocat: unknown key (fix: did you mean 'allocate'?"),
    ('[billing.clients.acme]\nmodel = "fixed-fee"\nfee = "5"\noverage = "bill"\nusage_cp = 4\n', 5,
     "[billing.clients.acme] usage_cp: unknown key (fix: did you mean 'usage_cap'?"),
    ('[proxy]\nprot = 4000\n', 2, "[proxy] prot: unknown key (fix: did you mean 'port'?"),
    ('[proxy.upstreams.groq]\nbase_url = "https://x.example/v1"\napi_key = "sk-1"\n', 3,
     "[proxy.upstreams.groq] api_key: unknown key (fix: did you mean 'api_key_env'?"),
    ('[pull]\nmaping = {}\n', 2, "[pull] maping: unknown key (fix: did you mean 'mapping'?"),
])
def test_every_section_answers_an_unknown_key_with_the_closest_one(config: Path, text: str, line: int,
                                                                   expected: str) -> None:
    err = error_for(config, text)
    assert str(err).startswith(f"{config}:{line}: ")
    assert expected in str(err)


# -- every type ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "line", "expected"), [
    ('[proxy]\naccess_log = "no"\n', 2, "[proxy] access_log: must be true or false, not 'no'"),
    ('[proxy]\nport = 99999\n', 2, "[proxy] port: must be a whole number from 1 to 65,535, not the number 99999"),
    ('[proxy]\nport = "http"\n', 2, "[proxy] port: must be a whole number"),
    ('[proxy]\nread_timeout = nan\n', 2, "[proxy] read_timeout: must be a number of seconds above 0"),
    ('[proxy]\nhost = "0.0.0.0 ; rm"\n', 2, "[proxy] host: '0.0.0.0 ; rm' is not a host name or IP address"),
    ('[proxy]\nmetric_tags = ["a==b"]\n', 2, "[proxy] metric_tags: tag key 'a==b' may only hold"),
    ('[proxy]\nopenai_api_key_env = "sk-live-123 456"\n', 2, "is not the name of an environment variable"),
    ('[proxy.output_estimates]\n"gpt-5" = -4\n', 2, '[proxy.output_estimates] gpt-5: must be a whole number from 1'),
    ('[alerts.channels.ops]\ntype = "slack"\nurl = "https://h:99999/x"\n', 3, "url: not an http(s) URL"),
    ('[alerts.channels.m]\ntype = "email"\nhost = "smtp example"\nfrom = "a@b.c"\nto = "d@e.f"\n', 3,
     "host: not a host name or IP address"),
    ('[[budgets]]\nname = "a"\nlimit = "10"\nnotify_percent = [80, "1e400"]\n', 4,
     "notify_percent: '1e400' is not a number above 0 and at most 1000%"),
    ('[[budgets]]\nname = "a"\nlimit = "10"\nstart = "2026-13-45"\nperiod = "total"\n', 4,
     "start: '2026-13-45' is not a date such as 2026-03-01"),
    ('[[budgets]]\nname = "a b"\nlimit = "10"\n', 2, "name: 'a b' is not a budget name"),
    ('[[budgets]]\nname = "a"\nlimit = "10"\nscope = ["client==acme"]\n', 4,
     "scope: 'client==acme': write one '=' between key and value"),
    ('[billing.clients.acme]\nmodel = "fixed-fee"\nfee = "1e400"\n', 3,
     "fee: 1e400 USD is more than one amount may be"),
    ('[billing.clients.acme]\nmarkup = "1e400%"\n', 2, "markup: markup '1e400%' must be from 0 to 1000 percent"),
    ('[billing]\nallocate = "fixed:a=50"\n', 2, "allocate: allocation fixed: percentages sum to 50, not 100"),
    ('[invoices]\nby = "a==b"\n', 2, "[invoices] by: tag key 'a==b' may only hold"),
    ('[[prices]]\nmodel = "m"\ninput = "1e400"\n', 3, "input must be a non-negative number up to 1,000,000"),
    ('[attribution]\n"~/x/**" = { client = 5 }\n', 2, "attribution rule '~/x/**' must map to a table of string tags"),
    ('[pull.mapping]\n"anthropic:nothing:x" = { client = "a" }\n', 2, "pull mapping 'anthropic:nothing:x': expected"),
    ('[pull]\nopenai_base_url = "api.openai.com"\n', 2,
     "[pull] openai_base_url: 'api.openai.com' is not an http(s) URL"),
    ('client_key = "a==b"\n', 1, "client_key = 'a==b': tag key 'a==b' may only hold"),
    ('tz = "Mars/Olympus"\n', 1, "tz = 'Mars/Olympus': unknown time zone 'Mars/Olympus'"),
])
def test_every_type_is_checked_where_its_key_is(config: Path, text: str, line: int, expected: str) -> None:
    err = error_for(config, text)
    assert str(err).startswith(f"{config}:{line}: "), str(err)
    assert expected in str(err)
    assert "(fix: " in str(err)


# -- the file itself -------------------------------------------------------------------------------

def test_a_byte_order_mark_is_read_as_nothing(config: Path) -> None:
    config.write_bytes(b"\xef\xbb\xbf" + FULL.read_bytes())
    load_every_section()
    assert settings.load()["tz"] == "Europe/Berlin"


def test_bytes_that_are_not_utf8_name_their_line(config: Path) -> None:
    config.write_bytes(b'tz = "UTC"\n\n[invoices]\nissuer = "Caf\xe9 Ltd"\n')
    with pytest.raises(ConfigError) as info:
        settings.load()
    assert str(info.value) == f"{config}:4: not UTF-8 text (byte 0xe9) (fix: save the file as UTF-8)"


def test_the_full_fixture_loads_every_section(config: Path) -> None:
    config.write_bytes(FULL.read_bytes())
    loaded = load_every_section()
    assert loaded.alert_channels == ("console", "ops", "open", "team", "mail", "screen")


# -- where keys are ---------------------------------------------------------------------------------

def test_key_lines_follow_tables_arrays_of_tables_dotted_and_quoted_keys() -> None:
    from spendtag.toml_lines import key_lines, line_of

    text = ('# c\ntz = "UTC"\n[[budgets]]\nname = "a"\nnote = """\nlimit = 1\n[[budgets]]\n"""\n\n[[budgets]]\n'
            'name = "b"\nchannels = [\n  "ops",  # x\n  "team",\n]\n[alerts.channels."o.p"]\ntype.x = 1\n'
            '[attribution]\n"~/a/**" = { client = "a" }\n')
    lines = key_lines(text)
    assert lines[("tz",)] == 2
    assert lines[("budgets", 0)] == 3 and lines[("budgets", 0, "name")] == 4
    assert ("budgets", 0, "limit") not in lines                   # inside a multi-line string
    assert lines[("budgets", 1)] == 10 and lines[("budgets", 1, "name")] == 11
    assert lines[("budgets", 1, "channels", 1)] == 14
    assert lines[("alerts", "channels", "o.p", "type", "x")] == 17
    assert lines[("attribution", "~/a/**", "client")] == 19
    assert line_of(text, ("budgets", 1, "limit")) == 10           # missing: its table's line
    assert line_of(text, ("quota",)) is None


def test_line_numbers_survive_a_byte_order_mark_and_crlf() -> None:
    from spendtag.toml_lines import line_of

    text = "\ufeff[quota]\r\nplan = \"max\"\r\n\r\ntokens_per_block = 5\r\n"
    assert line_of(text, ("quota", "tokens_per_block")) == 4


def test_config_error_keeps_its_old_shape() -> None:
    err = ConfigError("bad", path="/no/such/config.toml", key=("budgets", 0, "limit"), fix="do this")
    assert str(err) == "/no/such/config.toml: bad (fix: do this)"       # no file to find a line in
    assert re.fullmatch(r"bad", str(ConfigError("bad")))
