"""The config loader as the commands use it, and a mutation corpus of config files built from
``fixtures/config/full.toml`` (a file that sets every key of every section).

A mutation is ``(name, bytes, line)``: what was done, the file, and the 1-based line it
changed (None when it is not one line: truncation, a BOM, CRLF...).
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from pathlib import Path

from spendtag import settings

FULL = Path(__file__).resolve().parent / "fixtures" / "config" / "full.toml"

# Values of every TOML type, and the strings and numbers each section's parser must refuse or take.
VALUES = (
    "5", "-1", "0", "99999999999999999999", "1e400", "-1e400", "nan", "inf", "-inf", "0.1",
    "true", "false", '"false"', '"yes"', '""', '"   "', '"many"', '"1e400"', '"1e999999999"', '"NaN"', '"-5"',
    '"$1,000,000.01"', '"12.50"', '"ftp://example.com"', '"https://"', '"https://h:99999/v1"', '"http://a b/"',
    '"a==b"', '"=acme"', '"client="', '"\\u0000"', '"\\ud7ff\\t"', '"' + "x" * 5000 + '"', '"..\\\\..\\\\etc"',
    "[]", '["nowhere"]', "[1, 2]", '["a", 1]', "[[1]]", "{}", "{ a = 1 }", '{ client = 5 }', "2026-12-01",
    "1979-05-27T07:32:00Z", "07:32:00", '"2026-13-45"', "[" * 40 + "]" * 40,
)
_KEY = re.compile(r'^(\s*)("[^"]*"|[A-Za-z0-9_.-]+)(\s*=\s*)(.*)$')


def load_every_section() -> settings.Settings:
    """Read the config at $SPENDTAG_CONFIG and every section of it, as the commands that use each do."""
    from spendtag.attribution import Rules
    from spendtag.bill import profile
    from spendtag.bill.config import BillingConfig
    from spendtag.bill.rates import from_sections as rates_from_sections
    from spendtag.guard import budgets
    from spendtag.guard.alerting import channels_from_config
    from spendtag.pricing.book import PriceBook
    from spendtag.providers_api.mapping import Rules as PullRules
    from spendtag.report.sessions import Quota
    from spendtag.server.proxy.config import load as proxy_config

    loaded = settings.load()
    path, sections = str(loaded.config_path), loaded.sections
    if sections.get("prices"):
        PriceBook.from_config(sections["prices"], path=path)
    if sections.get("budgets"):
        budgets.from_config(sections["budgets"], path=path, channels=loaded.alert_channels)
    channels_from_config(sections.get("alerts"), path=path)
    Rules.from_config(sections.get("attribution"), path=path)
    PullRules.from_config(sections.get("pull"), path=path)
    Quota.from_config(sections.get("quota"), path=path)
    BillingConfig.from_sections(sections, client_key=loaded["client_key"], path=path)
    profile.from_sections(sections, path=path)
    rates_from_sections(sections, path=path)
    proxy_config(sections.get("proxy"), path=path)
    return loaded


def sections() -> list[list[str]]:
    """full.toml cut into files of one section each (budgets with the alert channels they name):
    a mutation of one section is read with what that section needs, and each read stays small."""
    parts: dict[str, list[str]] = {}
    name = ""
    for line in FULL.read_text(encoding="utf-8").splitlines():
        if line.startswith("["):
            name = line.strip("[]").split(".")[0]
        parts.setdefault(name, []).append(line)
    parts["budgets"] = [*parts.pop("budgets"), "", *parts["alerts"]]
    return list(parts.values())


def mutations(seed: int = 19, per_key: int = 16) -> Iterator[tuple[str, bytes, int | None]]:
    """Each key given ``per_key`` of the values (a seeded choice; every value is given to many keys);
    unknown, deleted and repeated keys and broken headers; then damage to the whole file's bytes."""
    rng = random.Random(seed)

    def joined(new: list[str]) -> bytes:
        return ("\n".join(new) + "\n").encode("utf-8")

    for lines in sections():
        for i, line in enumerate(lines):
            m = _KEY.match(line)
            if line.startswith("["):
                yield f"{line}: header deleted", joined([*lines[:i], *lines[i + 1:]]), None
                yield f"{line}: header unclosed", joined([*lines[:i], line.rstrip("]"), *lines[i + 1:]]), i + 1
                yield f"{line}: a value instead", joined([*lines[:i], line.strip("[]") + " = 5", *lines[i + 1:]]), \
                    i + 1
            if not m:
                continue
            indent, key, eq, value = m.groups()
            for bad in rng.sample(VALUES, per_key):
                yield f"{key} = {bad[:20]}", joined([*lines[:i], f"{indent}{key}{eq}{bad}", *lines[i + 1:]]), i + 1
            bare = key.strip('"')
            typo = bare[:-1] if len(bare) > 2 else bare + "x"
            yield f"{key}: typo {typo}", joined([*lines[:i], f'{indent}"{typo}"{eq}{value}', *lines[i + 1:]]), i + 1
            yield f"{key}: deleted", joined([*lines[:i], *lines[i + 1:]]), None
            yield f"{key}: twice", joined([*lines[:i + 1], line, *lines[i + 1:]]), i + 2
    raw = FULL.read_bytes()
    yield "BOM", b"\xef\xbb\xbf" + raw, None
    yield "CRLF", raw.replace(b"\n", b"\r\n"), None
    yield "BOM and CRLF", b"\xef\xbb\xbf" + raw.replace(b"\n", b"\r\n"), None
    yield "empty", b"", None
    yield "only a BOM", b"\xef\xbb\xbf", None
    yield "NUL bytes", raw.replace(b"\n", b"\n\x00", 1), None
    yield "a very long line", raw + b"# " + b"x" * 200_000 + b"\n", None
    yield "deep nesting", raw + b"deep = " + b"[" * 2000 + b"]" * 2000 + b"\n", None
    yield "deep inline tables", raw + b"deep = " + b"{a=" * 2000 + b"1" + b"}" * 2000 + b"\n", None
    for _ in range(40):
        cut = rng.randrange(len(raw))
        yield f"truncated at {cut}", raw[:cut], None
        at = rng.randrange(len(raw))
        flipped = bytes([raw[at] ^ (1 << rng.randrange(8))])
        yield f"byte {at} flipped", raw[:at] + flipped + raw[at + 1:], None
        at = rng.randrange(len(raw))
        bad = rng.choice([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xe2\x82", b"\x80"])
        yield f"invalid UTF-8 at {at}", raw[:at] + bad + raw[at:], None
