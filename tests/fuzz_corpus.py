"""Mutated input for the readers, built from the repository's own fixtures and generated trees.

Two kinds of mutation:

* ``ANY_MUTATIONS`` break a line in any way a hostile or messy world would (byte flips,
  truncation, deleted and duplicated keys, wrong types, huge and negative numbers,
  NaN/Infinity, lone surrogates, invalid UTF-8, deep nesting, a byte-order mark, CRLF, very
  long lines). What they give may still be readable: a reader must only never fail on it.
* ``bad_usage_line`` and friends break a line so that it **must** be refused (a count out of
  bounds, a time outside 2000-2100, JSON cut short after its type, nesting ~1000 deep):
  the tests mix such lines among valid ones and compare with the valid ones read alone.

Everything is driven by a seeded ``random.Random``: a failure names its seed and replays.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures"
FORMATS = FIXTURES / "formats"


# -- JSON text with the shapes json.dumps will not write ---------------------------------------


class Raw:
    """A JSON token written as is: ``NaN``, ``1e400``, ``"\\ud800"``, 1000 nested brackets."""

    def __init__(self, text: str) -> None:
        self.text = text


class Pairs(list[tuple[str, Any]]):
    """An object written from its pairs, so a key may appear twice."""


def dump(value: Any) -> str:
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, Pairs):
        return "{" + ",".join(f"{json.dumps(k)}:{dump(v)}" for k, v in value) + "}"
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{dump(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(dump(v) for v in value) + "]"
    return json.dumps(value)


def nested(depth: int) -> Raw:
    return Raw("[" * depth + "]" * depth)


HUGE_NUMBERS = (Raw("1e30"), 10**30, Raw("1e400"), Raw("-1e400"), 2**63, 10**12 + 1, -14691, -1)
NOT_NUMBERS = (Raw("NaN"), Raw("Infinity"), Raw("-Infinity"), 1.5, "x", "", True, [], {})
BAD_TIMES = ("2026-13-45T10:00:00.000Z", "2026-02-30T10:00:00Z", "1999-12-31T23:59:59.000Z",
             "2100-01-01T00:00:00.000Z", "9999-12-31T23:59:59Z", "", "yesterday", Raw("1e30"), Raw("NaN"),
             -1, Raw("Infinity"), None, [], {})
WEIRD_TEXT = (Raw('"\\ud800"'), Raw('"\\udfff\\ud800x"'), "\u0000", "x" * 5000, "é\u2028\u2029")
WRONG_TYPES = (None, True, 0, -1, "text", [], {}, [1, 2], {"a": 1})


# -- walking a decoded line --------------------------------------------------------------------


def _leaves(obj: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _leaves(v, (*path, k))
        if not obj:
            yield path, obj
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _leaves(v, (*path, i))
        if not obj:
            yield path, obj
    else:
        yield path, obj


def _containers(obj: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], dict[str, Any]]]:
    if isinstance(obj, dict):
        yield path, obj
        for k, v in obj.items():
            yield from _containers(v, (*path, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _containers(v, (*path, i))


def set_path(obj: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    parent = obj
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    return obj


def get_path(obj: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        obj = obj[key]
    return obj


# -- mutations that may or may not leave a readable line --------------------------------------

Mutation = Callable[[random.Random, bytes], bytes]


def _decoded(line: bytes) -> Any:
    try:
        obj = json.loads(line)
        dump(obj)   # (nested deeper than this module can write back: taken as unreadable)
        return obj
    except (ValueError, RecursionError):
        return None


def byte_flip(rng: random.Random, line: bytes) -> bytes:
    if not line:
        return b"\xff"
    data = bytearray(line)
    for _ in range(rng.randint(1, 3)):
        data[rng.randrange(len(data))] = rng.randrange(256)
    return bytes(data)


def truncate(rng: random.Random, line: bytes) -> bytes:
    return line[: rng.randrange(max(1, len(line)))]


def _with_leaf(rng: random.Random, line: bytes, choices: tuple[Any, ...], numeric: bool = False) -> bytes:
    obj = _decoded(line)
    if obj is None:
        return byte_flip(rng, line)
    leaves = [(p, v) for p, v in _leaves(obj)
              if not numeric or (isinstance(v, int | float) and not isinstance(v, bool))]
    if not leaves:
        leaves = list(_leaves(obj))
    path, _ = rng.choice(leaves)
    return dump(set_path(obj, path, rng.choice(choices))).encode()


def wrong_type(rng: random.Random, line: bytes) -> bytes:
    return _with_leaf(rng, line, WRONG_TYPES)


def huge_or_negative(rng: random.Random, line: bytes) -> bytes:
    return _with_leaf(rng, line, HUGE_NUMBERS, numeric=True)


def not_a_number(rng: random.Random, line: bytes) -> bytes:
    return _with_leaf(rng, line, NOT_NUMBERS, numeric=True)


def weird_text(rng: random.Random, line: bytes) -> bytes:
    return _with_leaf(rng, line, WEIRD_TEXT)


def deep_nesting(rng: random.Random, line: bytes) -> bytes:
    return _with_leaf(rng, line, (nested(rng.randint(900, 3000)),))


def delete_key(rng: random.Random, line: bytes) -> bytes:
    obj = _decoded(line)
    objects = [(p, o) for p, o in _containers(obj) if o] if obj is not None else []
    if not objects:
        return truncate(rng, line)
    _, target = rng.choice(objects)
    del target[rng.choice(list(target))]
    return dump(obj).encode()


def duplicate_key(rng: random.Random, line: bytes) -> bytes:
    """A key written twice, the second time with another value (json keeps the last)."""
    obj = _decoded(line)
    objects = [(p, o) for p, o in _containers(obj) if o] if obj is not None else []
    if not objects:
        return line + line
    path, target = rng.choice(objects)
    key = rng.choice(list(target))
    pairs = Pairs(target.items())
    pairs.append((key, rng.choice((*WRONG_TYPES, *HUGE_NUMBERS, *NOT_NUMBERS))))
    return dump(set_path(obj, path, pairs)).encode()


def invalid_utf8(rng: random.Random, line: bytes) -> bytes:
    at = rng.randrange(len(line) + 1)
    return line[:at] + rng.choice((b"\xff", b"\xfe\xfe", b"\xc0\xaf", b"\xed\xa0\x80", b"\x80")) + line[at:]


def bom(rng: random.Random, line: bytes) -> bytes:
    return b"\xef\xbb\xbf" + line


def crlf(rng: random.Random, line: bytes) -> bytes:
    return line + b"\r"


def very_long(rng: random.Random, line: bytes) -> bytes:
    obj = _decoded(line)
    if isinstance(obj, dict):
        obj["padding"] = "y" * rng.randint(100_000, 300_000)
        return dump(obj).encode()
    return line + b" " * 200_000


ANY_MUTATIONS: tuple[Mutation, ...] = (byte_flip, truncate, delete_key, duplicate_key, wrong_type, huge_or_negative,
                                       not_a_number, weird_text, invalid_utf8, deep_nesting, bom, crlf, very_long)


def mutate(rng: random.Random, line: bytes) -> bytes:
    """One to three mutations of ``line``; never a newline inside (the result stays one line)."""
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        line = rng.choice(ANY_MUTATIONS)(rng, line)
    return line.replace(b"\n", b" ")


# -- mutations a reader must refuse ------------------------------------------------------------

# Values no token count may take (numeric strings and whole floats such as 12.0 are counts).
BAD_COUNTS: tuple[Any, ...] = (-5, -14691, 10**12 + 1, 10**30, Raw("1e30"), Raw("1e400"), Raw("NaN"), Raw("Infinity"),
                               Raw("-Infinity"), 1.5, "x", True, [], {"n": 1})


def cut_after(rng: random.Random, line: bytes, marker: bytes) -> bytes:
    """``line`` cut short somewhere after ``marker``: never JSON, and still picked out by it."""
    start = line.rindex(marker) + len(marker)
    return line[: rng.randrange(start, len(line))]


def bad_claude_line(rng: random.Random, line: bytes) -> bytes:
    """A Claude Code assistant line of a real call, broken so that the reader must refuse it."""
    rec = json.loads(line)
    inner = rec["data"]["message"] if rec.get("type") == "progress" else rec
    kind = rng.randrange(4)
    if kind == 0:
        return cut_after(rng, line, b'"assistant"')
    if kind == 1:
        inner["timestamp"] = rng.choice(BAD_TIMES)
        if rec is not inner:
            rec["timestamp"] = inner["timestamp"]
    elif kind == 2:
        usage = inner["message"]["usage"]
        names = [n for n in ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")
                 if n in usage]
        split = usage.get("cache_creation")
        if isinstance(split, dict) and rng.random() < 0.3:
            split[rng.choice(list(split) or ["ephemeral_5m_input_tokens"])] = rng.choice(BAD_COUNTS)
        else:
            usage[rng.choice(names)] = rng.choice(BAD_COUNTS)
    else:
        inner["message"]["usage"] = nested(rng.randint(900, 3000))
    return dump(rec).encode()


def bad_codex_line(rng: random.Random, line: bytes) -> bytes:
    """A Codex token_count line with usage, broken so that the reader must refuse it."""
    rec = json.loads(line)
    info = rec["payload"]["info"]
    kind = rng.randrange(5)
    if kind == 0:
        return cut_after(rng, line, b'"token_count"')
    if kind == 1:
        rec["timestamp"] = rng.choice(BAD_TIMES)
    elif kind == 2:   # the running total corrupted: no longer input + output, or not a count
        total = info["total_token_usage"]
        total["total_tokens"] = rng.choice((-total["total_tokens"], total["total_tokens"] + rng.randint(1, 999),
                                            *BAD_COUNTS))
    elif kind == 3:
        which = rng.choice(("total_token_usage", "last_token_usage"))
        info[which][rng.choice(("input_tokens", "output_tokens", "cached_input_tokens"))] = rng.choice(BAD_COUNTS)
    else:
        info["last_token_usage"] = nested(rng.randint(900, 3000))
    return dump(rec).encode()


def bad_event_line(rng: random.Random, line: bytes) -> bytes:
    """A normalised ``ingest`` line broken so that it must be refused."""
    rec = json.loads(line)
    kind = rng.randrange(5)
    if kind == 0:
        return line[: rng.randrange(1, len(line))]
    if kind == 1:
        rec["ts"] = rng.choice([t for t in BAD_TIMES if t is not None and t != ""])
    elif kind == 2:
        rec["usage"][rng.choice(list(rec["usage"]))] = rng.choice(BAD_COUNTS)
    elif kind == 3:
        rec["usage"] = nested(rng.randint(900, 3000))
    else:
        return line[:5] + b"\xff" + line[5:]   # a byte that is not UTF-8, outside any string
    return dump(rec).encode()


# -- the fixtures, as lines --------------------------------------------------------------------


def fixture_lines() -> list[bytes]:
    """Every JSON fixture as one line each (JSONL files line by line): the seeds of the corpus."""
    out: list[bytes] = []
    for path in sorted(FORMATS.rglob("*")):
        if path.suffix == ".jsonl":
            out.extend(line for line in path.read_bytes().splitlines() if line.strip())
        elif path.suffix == ".json":
            out.append(json.dumps(json.loads(path.read_bytes()), separators=(",", ":")).encode())
    return out


def normalised_lines(n: int, rng: random.Random) -> list[bytes]:
    """Valid ``spendtag ingest`` lines in the normalised format."""
    lines = []
    for i in range(n):
        lines.append(dump({
            "provider": "anthropic", "model": rng.choice(("claude-sonnet-4-5", "claude-haiku-4-5")),
            "ts": f"2026-03-{1 + i % 28:02d}T10:{i % 60:02d}:00Z", "event_id": f"fuzz-{i}",
            "usage": {"input_tokens": rng.randint(0, 5000), "output_tokens": rng.randint(0, 900),
                      "cache_read_input_tokens": rng.randint(0, 20000)},
            "tags": {"client": rng.choice(("acme", "globex"))}, "project": rng.choice(("/a", "/b", "é/ü")),
        }).encode())
    return lines
