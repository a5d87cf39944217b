"""Tags for the calls made in a block, a function or a task, carried by contextvars.

``with spendtag.tags(client="acme"):`` and ``@spendtag.tagged(agent="support-bot")`` set
what every instrumented call made inside records. Nesting merges (the inner value wins);
asyncio tasks inherit the context they were created in, and so do threads started with
``contextvars.copy_context().run``. Four names are not tags but the event's dimensions:
``session``, ``agent``, ``project`` and ``user``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, TypeVar, cast

from spendtag.tags import check_tags, merge

DIMENSIONS: tuple[str, ...] = ("session", "agent", "project", "user")

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True, slots=True)
class Context:
    """What the current code path adds to each call: tags and dimensions."""

    tags: Mapping[str, str] = field(default_factory=dict)
    session: str | None = None
    agent: str | None = None
    project: str | None = None
    user: str | None = None

    def merged(self, inner: Context) -> Context:
        """``inner`` on top of this one: its tags and set dimensions win."""
        return Context(
            merge(self.tags, inner.tags) if inner.tags else self.tags,
            inner.session or self.session,
            inner.agent or self.agent,
            inner.project or self.project,
            inner.user or self.user,
        )


EMPTY = Context()
_current: ContextVar[Context] = ContextVar("spendtag_context", default=EMPTY)


def current() -> Context:
    return _current.get()


def split(kv: Mapping[str, Any]) -> Context:
    """Keyword arguments as a Context: the four dimension names apart, the rest checked as tags."""
    dims = {k: (None if v is None else str(v)) for k, v in kv.items() if k in DIMENSIONS}
    return Context(check_tags({k: v for k, v in kv.items() if k not in DIMENSIONS}), **dims)


class tags:  # noqa: N801 - used as spendtag.tags(...), like a function
    """``with spendtag.tags(client="acme", session="s-1"):`` for every instrumented call inside."""

    __slots__ = ("_add", "_tokens")

    def __init__(self, **kv: str) -> None:
        self._add = split(kv)
        self._tokens: list[Token[Context]] = []

    def __enter__(self) -> Context:
        ctx = _current.get().merged(self._add)
        self._tokens.append(_current.set(ctx))
        return ctx

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        _current.reset(self._tokens.pop())


def tagged(**kv: str) -> Callable[[F], F]:
    """Decorator: the function's instrumented calls carry these tags (sync and async functions)."""
    add = split(kv)

    def decorate(fn: F) -> F:
        import inspect  # here, not at the top: it costs milliseconds of `import spendtag`

        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                token = _current.set(_current.get().merged(add))
                try:
                    return await fn(*args, **kwargs)
                finally:
                    _current.reset(token)

            return cast(F, async_wrapper)

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            token = _current.set(_current.get().merged(add))
            try:
                return fn(*args, **kwargs)
            finally:
                _current.reset(token)

        return cast(F, wrapper)

    return decorate
