"""Selections that match nothing are said, with the nearest names, never shown as $0.

A filter, a grouping or a budget scope can match no call for two reasons, told apart here:

* It names a tag key or value (or a model, agent, project, session...) that no call in the
  ledger carries: most likely a typo. :func:`problems` finds each such name with the close
  matches among what the ledger holds (``no tag key 'clinet'; did you mean 'client'?``);
  :func:`check` raises the first. Every reader refuses it.
* Everything it names exists, but no call has it in the chosen period (or none has it all
  together). :func:`explain_empty` says so, and when the nearest call was
  (``no calls for client=acme in 2026-03 (last call 2026-02-27)``). A report shows that
  message; an invoice or an export, where a script would bill $0.00, refuses.

The CLI and the web API use these same functions, so the words are the same everywhere.
An empty ledger has nothing to compare with: there only the second kind is told.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from spendtag.ledger.query import Filters, QueryError
from spendtag.ledger.store import Store, Vocabulary
from spendtag.periods import TIME_GROUPS, Range
from spendtag.tags import Selector

Kind = Literal["unknown", "empty"]
LISTED = 8          # names listed when none is close to the one asked for
CLOSE = 3           # close matches offered at most

# What a grouping may name besides tag keys (breakdown.BY_CHOICES, without importing breakdown).
_DIMENSION_WORDS = ("provider", "model", "project", "agent", "key", "user", "source", "status", "session")
_PLURAL = {"provider": "providers", "model": "models", "project": "projects", "agent": "agents", "key": "keys",
           "user": "users", "source": "sources", "status": "statuses"}


class NoMatch(QueryError):
    """A selection that matches no call: what it names, the close matches, and the nearest call in time."""

    def __init__(self, message: str, *, kind: Kind = "unknown", suggestions: Sequence[str] = (),
                 last_call: str | None = None, first_call: str | None = None) -> None:
        super().__init__(message)
        self.kind: Kind = kind
        self.suggestions = tuple(suggestions)
        self.last_call = last_call
        self.first_call = first_call

    def as_dict(self) -> dict[str, Any]:
        """The JSON body the web API answers with (``detail`` as for every other error)."""
        return {"detail": str(self), "error": "no_such_value" if self.kind == "unknown" else "no_calls",
                "suggestions": list(self.suggestions), "last_call": self.last_call, "first_call": self.first_call}


def close_matches(word: str, choices: Iterable[str], n: int = CLOSE) -> list[str]:
    """The names in ``choices`` nearest to ``word`` (difflib), a different case first."""
    pool = sorted(set(choices))
    folded: dict[str, str] = {}
    for name in pool:
        folded.setdefault(name.casefold(), name)
    found = [name for name in pool if name != word and name.casefold() == word.casefold()]
    found += difflib.get_close_matches(word, pool, n=n)
    found += [folded[f] for f in difflib.get_close_matches(word.casefold(), list(folded), n=n)]
    return list(dict.fromkeys(f for f in found if f != word))[:n]


def _or(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def _quoted(names: Sequence[str]) -> str:
    return _or([f"'{n}'" for n in names])


def _hint(word: str, choices: Iterable[str], listed: str,
          show: Callable[[str], str] = lambda n: f"'{n}'") -> tuple[str, list[str]]:
    """'; did you mean ...?' with the close matches, or the names there are when none is close."""
    pool = sorted(set(choices))
    near = close_matches(word, pool)
    if near:
        return f"; did you mean {_or([show(n) for n in near])}?", near
    if not pool:
        return "", []
    more = f" and {len(pool) - LISTED} more" if len(pool) > LISTED else ""
    return f" ({listed}: {', '.join(pool[:LISTED])}{more})", []


def unknown_tag_key(key: str, vocab: Vocabulary) -> NoMatch:
    hint, near = _hint(key, vocab.tags, "tag keys in the ledger")
    if not vocab.tags:
        hint = ": no call in the ledger has tags"
    return NoMatch(f"no tag key '{key}'{hint}", suggestions=near)


def unknown_group_key(key: str, vocab: Vocabulary, known_keys: Sequence[str] = ()) -> NoMatch:
    """A ``--by`` word that is neither a tag key in the ledger (or ``known_keys``) nor a dimension or time group."""
    words = [*vocab.tags, *known_keys, *_DIMENSION_WORDS, *TIME_GROUPS]
    near = close_matches(key, words)
    if near:
        return NoMatch(f"no tag key '{key}'; did you mean {_quoted(near)}?", suggestions=near)
    keys = sorted({*vocab.tags, *known_keys})
    known = f"tag keys in the ledger: {', '.join(keys[:LISTED])}{' …' if len(keys) > LISTED else ''}; " if keys else ""
    return NoMatch(f"no tag key '{key}' ({known}or group by {', '.join((*_DIMENSION_WORDS, *TIME_GROUPS))})")


def problems(store: Store, filters: Filters, *, by: Sequence[str] = (), known_keys: Sequence[str] = (),
             vocab: Vocabulary | None = None) -> list[NoMatch]:
    """Every name in ``filters`` (and ``by``, store group keys) that no call in the ledger carries.

    ``known_keys`` are tag keys always fit to group by (the client key: a ledger without
    client tags yet reports its calls as untagged), though not to filter on.
    """
    by = [key for key in by if key.startswith("tag:") and key[4:] not in known_keys]
    if not filtered(filters) and not by:
        return []   # nothing named: no need to read the vocabulary
    vocab = store.vocabulary() if vocab is None else vocab
    if vocab.empty:
        return []
    found: list[NoMatch] = []
    for key in by:
        if key[4:] not in vocab.tags:
            found.append(unknown_group_key(key[4:], vocab, known_keys))
    for s in filters.tags:
        found += _selector_problems(s, vocab)
    for name, values in filters.dims.items():
        for value in values:
            if not value:
                continue
            if name == "session":
                found += _session_problems(store, value)
            elif value not in vocab.dims.get(name, ()) and not (name == "model" and _names_a_model(value, vocab)):
                hint, near = _hint(value, vocab.dims.get(name, ()), f"{_PLURAL.get(name, name)} in the ledger")
                found.append(NoMatch(f"no calls with {name} '{value}'{hint or _none(name)}", suggestions=near))
    paths = vocab.dims.get("project", frozenset())
    for root in filters.project:
        base = root.rstrip("/")
        if not any(p in (root, base) or p.startswith(base + "/") for p in paths):
            hint, near = _hint(root, paths, "projects in the ledger")
            found.append(NoMatch(f"no calls under project '{root}'{hint or _none('project')}", suggestions=near))
    return found


def _names_a_model(value: str, vocab: Vocabulary) -> bool:
    """True when ``value`` is the name some recorded model id resolves to in the price data
    (``claude-sonnet-4-5`` for calls recorded as ``claude-sonnet-4-5-20250929``), as the model filter takes it."""
    from spendtag.pricing.identity import model_name  # loads the price data: only for a model not found as written

    return any(model_name(None, m) == value for m in vocab.dims.get("model", ()))


def _none(name: str) -> str:
    return f": no call in the ledger has {'an' if name[0] in 'aeiou' else 'a'} {name}"


def _selector_problems(s: Selector, vocab: Vocabulary) -> list[NoMatch]:
    if s.key not in vocab.tags:
        return [unknown_tag_key(s.key, vocab)]
    if s.op in ("eq", "ne") and s.value is not None and s.value not in vocab.tags[s.key]:
        op = "=" if s.op == "eq" else "!="
        hint, near = _hint(s.value, vocab.tags[s.key], f"{s.key} values in the ledger", lambda v: f"{s.key}{op}{v}")
        excludes = f", so {s} excludes nothing" if s.op == "ne" else ""
        return [NoMatch(f"no calls tagged {s.key}={s.value}{excludes}{hint}", suggestions=near)]
    return []


def _session_problems(store: Store, session: str) -> list[NoMatch]:
    begun = store.session_ids(session, limit=CLOSE + 1)
    if session in begun:
        return []
    near = [s for s in begun if s != session][:CLOSE]
    hint = f"; did you mean {_quoted(near)}?" if near else "; see `spendtag sessions`"
    return [NoMatch(f"no calls recorded for session '{session}'{hint}", suggestions=near)]


def check(store: Store, filters: Filters, *, by: Sequence[str] = (), known_keys: Sequence[str] = (),
          vocab: Vocabulary | None = None) -> None:
    """Raise :class:`NoMatch` for the first name no call carries (a typo, most likely)."""
    found = problems(store, filters, by=by, known_keys=known_keys, vocab=vocab)
    if found:
        raise found[0]


# -- nothing in the period ---------------------------------------------------------------------

def filtered(filters: Filters) -> bool:
    """Whether ``filters`` narrow the calls by anything but time."""
    return bool(filters.tags or filters.project or any(filters.dims.values()))


def describe(filters: Filters) -> str:
    """The non-time conditions of ``filters`` in words: ``client=acme, model=gpt-4o``."""
    parts = []
    for s in filters.tags:
        parts.append(f"any {s.key}" if s.op == "present" else f"no {s.key}" if s.op == "absent" else str(s))
    parts += [f"{name}={','.join(values)}" for name, values in filters.dims.items() if values]
    parts += [f"project={p}" for p in filters.project]
    return ", ".join(parts)


def period_words(rng: Range, tz: ZoneInfo) -> str:
    """``in 2026-03``, ``in 2026-03-14``, ``in 2026-W11``, ``in 2026``, or the range's own ends."""
    since = rng.since.astimezone(tz) if rng.since else None
    until = rng.until.astimezone(tz) if rng.until else None
    if since is None and until is None:
        return "ever"
    if since is None:
        return f"before {_when(until)}"
    if until is None:
        return f"since {_when(since)}"
    if _midnight(since) and _midnight(until):
        first, end = since.date(), until.date()
        if end == first + timedelta(days=1):
            return f"in {first.isoformat()}"
        if first.day == 1 and end.day == 1 and (end.year * 12 + end.month) - (first.year * 12 + first.month) == 1:
            return f"in {first:%Y-%m}"
        if (first.month, first.day, end.month, end.day) == (1, 1, 1, 1) and end.year == first.year + 1:
            return f"in {first.year}"
        if first.weekday() == 0 and end == first + timedelta(days=7):
            iso = first.isocalendar()
            return f"in {iso.year}-W{iso.week:02d}"
        return f"from {first.isoformat()} to {(end - timedelta(days=1)).isoformat()}"
    return f"from {_when(since)} to {_when(until)}"


def _midnight(ts: datetime) -> bool:
    return (ts.hour, ts.minute, ts.second, ts.microsecond) == (0, 0, 0, 0)


def _when(ts: datetime | None) -> str:
    assert ts is not None
    return ts.date().isoformat() if _midnight(ts) else f"{ts:%Y-%m-%d %H:%M}"


def _days(store: Store, filters: Filters, tz: ZoneInfo) -> list[str]:
    return sorted(a.key[0] for a in store.aggregate(filters, ["day"], tz) if a.key[0] and a.totals.requests)


def explain_empty(store: Store, filters: Filters, rng: Range, tz: ZoneInfo, *, private: bool = False) -> NoMatch:
    """Why a selection whose every name exists has no calls: the period (and its nearest call), or never together.

    ``private`` (a client's link) never says that the other names exist in the ledger.
    """
    what = describe(filters)
    subject = f"no calls for {what}" if what else "no calls"
    if store.vocabulary().empty:
        return NoMatch("no calls recorded yet" + (f" (asked for {what})" if what else ""), kind="empty")
    before = _days(store, replace(filters, since=None, until=filters.since), tz) if filters.since else []
    after = _days(store, replace(filters, since=filters.until, until=None), tz) if filters.until else []
    if not before and not after:
        if not what:
            return NoMatch(f"no calls {period_words(rng, tz)}", kind="empty")
        together = ": each exists in the ledger, but no call has them all" if "," in what and not private else ""
        return NoMatch(f"no calls match {what}{together}", kind="empty")
    last = before[-1] if before else None
    first = after[0] if after else None
    nearest = f"last call {last}" if last else f"first call {first}"
    return NoMatch(f"{subject} {period_words(rng, tz)} ({nearest})", kind="empty", last_call=last, first_call=first)


def require_calls(store: Store, filters: Filters, rng: Range, tz: ZoneInfo, *, by: Sequence[str] = ()) -> None:
    """For what would bill from the selection (exports): refuse a typo, and a selection with no calls."""
    check(store, filters, by=by)
    if not any(a.totals.requests for a in store.aggregate(filters)):
        raise explain_empty(store, filters, rng, tz)


def check_scope(store: Store, filters: Filters, *, allow_new: bool, fix: str) -> list[str]:
    """For a scope that may name what has no calls yet (a budget or a link for a new client).

    A name no call carries that is close to one that does is most likely a typo: refused,
    unless ``allow_new`` (``fix`` says how to pass it). Any other unknown name comes back
    as a note to show.
    """
    notes = []
    for p in problems(store, filters):
        if p.suggestions and not allow_new:
            raise NoMatch(f"{p} ({fix})", suggestions=p.suggestions)
        notes.append(str(p))
    return notes
