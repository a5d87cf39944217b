"""Where each key of a TOML document is: key paths to line numbers, for config errors.

``tomllib`` gives values without positions, and a section's parser runs long after the
file was read (often in another layer), so an error there knows its key path, such as
``("budgets", 1, "limit")`` (the second ``[[budgets]]`` table), and this module finds the
line. It reads a document ``tomllib`` has already accepted, so it can be small: it knows
tables, arrays of tables, dotted and quoted keys, inline tables, arrays spanning lines and
multi-line strings, and stops quietly (keeping what it found) at anything else.

:func:`line_of` answers with the key's own line or, for a key the file does not write on a
line of its own (inside an inline table, or a key that is missing), its nearest enclosing
table or key that it does.
"""

from __future__ import annotations

import re
import tomllib
from bisect import bisect_right
from collections.abc import Sequence
from contextlib import suppress

KeyPath = tuple[str | int, ...]

_BARE = re.compile(r"[A-Za-z0-9_-]+")
_SPACE = re.compile(r"[ \t]*")
_BLANK = re.compile(r"(?:[ \t\r\n]+|#[^\n]*)*")
_SCALAR = re.compile(r"[^,\]}\n#]*")


def line_of(text: str, key: Sequence[str | int]) -> int | None:
    """The 1-based line of ``key`` (or of its nearest enclosing key the text has); None if none is found."""
    lines = key_lines(text)
    path = tuple(key)
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return None


def key_lines(text: str) -> dict[KeyPath, int]:
    """Every key path the document defines, with the line it is defined on (the first, for tables)."""
    scanner = _Scanner(text.removeprefix("\ufeff"))
    # Not the TOML this scanner knows: what it found so far still helps.
    with suppress(IndexError, ValueError, RecursionError, tomllib.TOMLDecodeError):
        scanner.document()
    return scanner.found


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.found: dict[KeyPath, int] = {}
        self.arrays: dict[KeyPath, int] = {}     # array-of-tables path -> tables so far
        self._newlines = [m.start() for m in re.finditer("\n", text)]

    # -- positions ----------------------------------------------------------------------------

    def line(self) -> int:
        return bisect_right(self._newlines, self.pos - 1) + 1

    def note(self, path: KeyPath, line: int) -> None:
        for n in range(1, len(path) + 1):
            self.found.setdefault(path[:n], line)

    def peek(self) -> str:
        return self.text[self.pos:self.pos + 1]

    def skip_space(self) -> None:
        self.pos = _SPACE.match(self.text, self.pos).end()   # type: ignore[union-attr]

    def skip_blank(self) -> None:
        """Spaces, newlines and comments (between statements and inside arrays)."""
        self.pos = _BLANK.match(self.text, self.pos).end()   # type: ignore[union-attr]

    def expect(self, token: str) -> None:
        if not self.text.startswith(token, self.pos):
            raise ValueError(f"expected {token!r} at {self.pos}")
        self.pos += len(token)

    # -- statements ---------------------------------------------------------------------------

    def document(self) -> None:
        table: KeyPath = ()
        while True:
            self.skip_blank()
            if self.pos >= len(self.text):
                return
            line = self.line()
            if self.text.startswith("[[", self.pos):
                self.pos += 2
                parts = self.header_key()
                self.expect("]]")
                table = self.resolve(parts[:-1]) + (parts[-1],)
                index = self.arrays.get(table, 0)
                self.arrays[table] = index + 1
                table = (*table, index)
                self.note(table, line)
            elif self.peek() == "[":
                self.pos += 1
                table = self.resolve(self.header_key())
                self.expect("]")
                self.note(table, line)
            else:
                self.key_value(table)

    def header_key(self) -> KeyPath:
        self.skip_space()
        parts = self.key()
        self.skip_space()
        return parts

    def resolve(self, parts: KeyPath) -> KeyPath:
        """A header's key with the current index of every array of tables it passes through."""
        out: KeyPath = ()
        for part in parts:
            out = (*out, part)
            if out in self.arrays:
                out = (*out, self.arrays[out] - 1)
        return out

    def key_value(self, table: KeyPath) -> None:
        line = self.line()
        path = table + self.key()
        self.skip_space()
        self.expect("=")
        self.note(path, line)
        self.skip_space()
        self.value(path)

    # -- keys and values ----------------------------------------------------------------------

    def key(self) -> KeyPath:
        parts: list[str | int] = []
        while True:
            self.skip_space()
            parts.append(self.simple_key())
            self.skip_space()
            if self.peek() != ".":
                return tuple(parts)
            self.pos += 1

    def simple_key(self) -> str:
        c = self.peek()
        if c in ('"', "'"):
            start = self.pos
            self.string()
            return str(tomllib.loads("k = " + self.text[start:self.pos])["k"])
        m = _BARE.match(self.text, self.pos)
        if not m:
            raise ValueError(f"no key at {self.pos}")
        self.pos = m.end()
        return m.group()

    def string(self) -> None:
        quote = self.peek()
        triple = quote * 3
        if self.text.startswith(triple, self.pos):
            end = self.pos + 3
            while True:
                end = self.text.index(triple, end)
                if quote == '"' and _escaped(self.text, end):
                    end += 1
                    continue
                break
            end += 3
            while self.text.startswith(quote, end):   # up to two quotes may end the content
                end += 1
            self.pos = end
            return
        end = self.pos + 1
        while True:
            end = self.text.index(quote, end)
            if quote == '"' and _escaped(self.text, end):
                end += 1
                continue
            break
        self.pos = end + 1

    def value(self, path: KeyPath) -> None:
        c = self.peek()
        if c in ('"', "'"):
            self.string()
        elif c == "[":
            self.pos += 1
            index = 0
            while True:
                self.skip_blank()
                if self.peek() == "]":
                    self.pos += 1
                    return
                item = (*path, index)
                self.note(item, self.line())
                self.value(item)
                self.skip_blank()
                if self.peek() == ",":
                    self.pos += 1
                index += 1
        elif c == "{":
            self.pos += 1
            while True:
                self.skip_space()
                if self.peek() == "}":
                    self.pos += 1
                    return
                self.key_value(path)
                self.skip_space()
                if self.peek() == ",":
                    self.pos += 1
        else:
            m = _SCALAR.match(self.text, self.pos)
            assert m is not None
            if not m.group().strip():
                raise ValueError(f"no value at {self.pos}")
            self.pos = m.end()


def _escaped(text: str, at: int) -> bool:
    """Whether the character at ``at`` follows an odd number of backslashes."""
    n = 0
    while at - n - 1 >= 0 and text[at - n - 1] == "\\":
        n += 1
    return n % 2 == 1
