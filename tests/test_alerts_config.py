"""channel_from_config: channels from [alerts.channels.NAME] tables; errors name the channel, the key and the fix."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest

from spendtag.errors import ConfigError
from spendtag.guard.alerts import ConsoleChannel, EmailChannel, SlackChannel, WebhookChannel, channel_from_config

PATH = "/home/me/.config/spendtag/config.toml"


def channels(text: str) -> dict[str, Any]:
    tables: dict[str, Any] = tomllib.loads(text)["alerts"]["channels"]
    return tables


def config_error(name: str, table: dict[str, Any]) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        channel_from_config(name, table, path=PATH)
    assert info.value.path == PATH
    assert str(info.value).startswith(f"{PATH}: alert channel {name!r}: [alerts.channels.{name}] ")
    return info.value


def test_channels_from_a_toml_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPENDTAG_WEBHOOK_SECRET", "whsec-1")
    monkeypatch.setenv("SPENDTAG_SLACK_URL", "https://hooks.slack.com/services/T1/B2/tok")
    monkeypatch.setenv("SPENDTAG_SMTP_PASSWORD", "smtp-pw-xyz")
    tables = channels("""
        [alerts.channels.ops]
        type = "webhook"
        url = "https://ops.example.com/hooks/spendtag"
        secret_env = "SPENDTAG_WEBHOOK_SECRET"
        timeout = 3.5

        [alerts.channels.team]
        type = "slack"
        url_env = "SPENDTAG_SLACK_URL"

        [alerts.channels.mail]
        type = "email"
        host = "smtp.example.com"
        port = 2525
        from = "spendtag@agency.example"
        to = ["ops@agency.example", "boss@agency.example"]
        username = "spendtag@agency.example"
        password_env = "SPENDTAG_SMTP_PASSWORD"
        starttls = true

        [alerts.channels.screen]
        type = "console"
    """)
    ops = channel_from_config("ops", tables["ops"], path=PATH)
    assert isinstance(ops, WebhookChannel)
    assert (ops.name, ops.url, ops.timeout, ops.signed) == ("ops", "https://ops.example.com/hooks/spendtag", 3.5, True)
    team = channel_from_config("team", tables["team"])
    assert isinstance(team, SlackChannel)
    assert team.url == "https://hooks.slack.com/services/T1/B2/tok"
    assert repr(team) == "SlackChannel(name='team', url='https://hooks.slack.com/…')"
    mail = channel_from_config("mail", tables["mail"])
    assert isinstance(mail, EmailChannel)
    assert (mail.host, mail.port, mail.to, mail.starttls, mail.ssl, mail.username) == (
        "smtp.example.com", 2525, ("ops@agency.example", "boss@agency.example"), True, False,
        "spendtag@agency.example")
    assert "smtp-pw-xyz" not in repr(mail)
    screen = channel_from_config("screen", tables["screen"])
    assert isinstance(screen, ConsoleChannel) and screen.name == "screen"


def test_a_secret_written_in_the_file_is_refused() -> None:
    error = config_error("ops", {"type": "webhook", "url": "https://ops.example.com/h", "secret": "whsec-in-file"})
    assert str(error) == (
        f"{PATH}: alert channel 'ops': [alerts.channels.ops] secret: secrets are read from the environment, "
        'never from the config file (fix: delete secret and write secret_env = "SPENDTAG_OPS_SECRET", '
        "then export that variable)")
    assert "whsec-in-file" not in str(error)


def test_a_password_written_in_the_file_is_refused() -> None:
    error = config_error("mail", {"type": "email", "host": "smtp.example.com", "from": "a@b.example",
                                  "to": "c@d.example", "username": "a@b.example", "password": "hunter2"})
    assert "[alerts.channels.mail] password: secrets are read from the environment" in str(error)
    assert 'password_env = "SPENDTAG_MAIL_PASSWORD"' in str(error)
    assert "hunter2" not in str(error)


def test_a_secret_pasted_into_an_env_key_is_not_echoed() -> None:
    error = config_error("ops", {"type": "webhook", "url": "https://x.example/h", "secret_env": "whsec/abc+123="})
    assert "secret_env: must name an environment variable" in str(error)
    assert "whsec/abc+123=" not in str(error)


@pytest.mark.parametrize(("name", "table", "expected"), [
    ("ops", {"type": "webhook", "url": "https://x.example/h"},
     'secret_env: missing: a webhook signs its body with a secret (fix: write secret_env = '
     '"SPENDTAG_WEBHOOK_SECRET" and export it, or allow_unsigned = true to send unsigned bodies)'),
    ("ops", {"type": "webhook", "url": "https://x.example/h", "secret_env": "SPENDTAG_NOT_SET"},
     "secret_env: environment variable SPENDTAG_NOT_SET is not set "
     "(fix: export SPENDTAG_NOT_SET=... in the environment spendtag runs in)"),
    ("ops", {"type": "webhok", "url": "https://x.example/h"},
     "type: unknown channel type 'webhok' (fix: did you mean 'webhook'? use one of: console, webhook, slack, email)"),
    ("ops", {"url": "https://x.example/h"}, 'type: missing (fix: add type = "webhook")'),
    ("ops", {"type": "webhook", "url": "https://x.example/h", "allow_unsigned": True, "secert_env": "X"},
     "secert_env: not a setting of a webhook channel (fix: did you mean 'secret_env'? use one of: allow_unsigned, "
     "secret_env, timeout, type, "
     "url, url_env)"),
    ("ops", {"type": "webhook", "url": "ftp://x.example/secret-path", "allow_unsigned": True},
     "url: not an http(s) URL: ftp://x.example/… (fix: use a URL starting with https://)"),
    ("ops", {"type": "webhook", "url": "https://x.example/h", "allow_unsigned": "yes"},
     "allow_unsigned: must be true or false (fix: write allow_unsigned = true (no quotes))"),
    ("team", {"type": "slack", "url": "https://hooks.slack.com/a", "url_env": "SLACK_URL"},
     "url: both url and url_env are set (fix: keep one of them)"),
    ("team", {"type": "slack"}, 'url: missing (fix: add url = "https://example.com/hooks/spendtag")'),
    ("team", {"type": "slack", "url": "https://hooks.slack.com/a", "timeout": 0},
     "timeout: must be a number of seconds above 0 and at most 300 (fix: write timeout = 10)"),
    ("mail", {"type": "email", "from": "a@b.example", "to": "c@d.example"},
     'host: missing (fix: add host = "smtp.example.com")'),
    ("mail", {"type": "email", "host": "smtp.example.com", "from": "a@b.example", "to": []},
     'to: must be an email address or a non-empty list of them (fix: write to = ["ops@example.com"])'),
    ("mail", {"type": "email", "host": "smtp.example.com", "from": "spendtag", "to": "c@d.example"},
     "from: not an email address: 'spendtag' (fix: write from = \"spendtag@example.com\")"),
    ("mail", {"type": "email", "host": "smtp.example.com", "from": "a@b.example", "to": "c@d.example",
              "port": "587"}, "port: must be a whole number from 1 to 65535 (fix: write port = 587)"),
    ("mail", {"type": "email", "host": "smtp.example.com", "from": "a@b.example", "to": "c@d.example",
              "starttls": True, "ssl": True},
     "ssl: starttls and ssl are both true (fix: use starttls = true for port 587, or ssl = true for port 465)"),
    ("mail", {"type": "email", "host": "smtp.example.com", "from": "a@b.example", "to": "c@d.example",
              "username": "a@b.example", "starttls": True},
     'password_env: missing: username is set but no password (fix: write password_env = "SPENDTAG_SMTP_PASSWORD" '
     "and export it)"),
    ("mail", {"type": "email", "host": "smtp.example.com", "from": "a@b.example", "to": "c@d.example",
              "username": "a@b.example", "password_env": "SMTP_PW"},
     "username: the password would cross the network to smtp.example.com unencrypted "
     "(fix: set starttls = true (port 587) or ssl = true (port 465))"),
    ("screen", {"type": "console", "stream": "stdlog"},
     "stream: unknown stream 'stdlog' (fix: write stream = \"stderr\" or \"stdout\")"),
])
def test_config_errors_name_channel_key_and_fix(name: str, table: dict[str, Any], expected: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMTP_PW", "pw")
    error = config_error(name, table)
    assert str(error) == f"{PATH}: alert channel {name!r}: [alerts.channels.{name}] {expected}"


def test_url_env_errors_never_show_the_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPENDTAG_SLACK_URL", "hooks.slack.com/services/T1/B2/XOXTOKEN")
    error = config_error("team", {"type": "slack", "url_env": "SPENDTAG_SLACK_URL"})
    assert "url_env: not an http(s) URL" in str(error)
    assert "XOXTOKEN" not in str(error)


def test_unsigned_webhook_when_explicitly_allowed() -> None:
    channel = channel_from_config("ops", {"type": "webhook", "url": "https://x.example/h", "allow_unsigned": True})
    assert isinstance(channel, WebhookChannel) and channel.signed is False


def test_plaintext_auth_to_loopback_is_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMTP_PW", "pw")
    channel = channel_from_config("mail", {"type": "email", "host": "127.0.0.1", "from": "a@b.example",
                                           "to": "c@d.example", "username": "a", "password_env": "SMTP_PW"})
    assert isinstance(channel, EmailChannel) and channel.port == 25 and channel.username == "a"
