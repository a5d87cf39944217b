"""What every capture parser returns, and the provider ids it uses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from spendtag.providers import normalise
from spendtag.usage import Status, Usage


@dataclass(frozen=True, slots=True)
class Parsed:
    """One call as read from a response body, a stream or a batch line."""

    provider: str               # normalised provider id: "openai", "anthropic", "google", ...
    model: str | None           # as the RESPONSE reports it
    usage: Usage | None         # None when the body carries no usage (error bodies, expired batch rows)
    response_id: str | None
    status: Status


def normalise_provider(provider: str) -> str:
    return normalise(provider)


class StreamState(Protocol):
    """Per-API stream state behind :class:`~spendtag.capture.stream.StreamReader`."""

    def on_event(self, event: str | None, data: bytes) -> None: ...

    def finish(self, provider: str) -> Parsed: ...
