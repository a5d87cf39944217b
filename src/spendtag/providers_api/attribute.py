"""A provider's bill spread over its usage rows, so cost can be grouped by key, tier or tag.

The cost reports group by less than the usage reports (Anthropic's by workspace and bill line,
OpenAI's by project and line item: neither by API key). Each bill line of a day is split over
that day's usage rows of the same workspace/project and model, in proportion to their
tokens of the same kind (web-search fees by web-search requests), with integer pico-USD and
largest remainders, so the parts add up to the bill exactly. A line no usage row can take
(no such model in the usage report that day) stays a row of its own, with no API key.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date

from spendtag.providers_api.mapping import Rules
from spendtag.providers_api.model import USAGE_COUNTS, CostRow, UsageRow, model_key

UNMAPPED = "(unmapped)"
NONE = "(none)"
# --by words that are not tag keys.
GROUPS: tuple[str, ...] = ("day", "month", "model", "key", "workspace", "project", "tier", "context")


@dataclass(frozen=True, slots=True)
class Attributed:
    """A usage row with its share of the bill (or a bill line that no usage row took)."""

    usage: UsageRow
    cost: int
    tags: dict[str, str] = field(default_factory=dict)


def split(amount: int, weights: Sequence[int]) -> list[int]:
    """``amount`` in parts proportional to ``weights`` (largest remainders): they sum to ``amount``."""
    total = sum(weights)
    if total <= 0:
        raise ValueError("weights must have a positive sum")
    parts = [amount * w // total for w in weights]
    rest = amount - sum(parts)           # 0 <= rest < len(weights): floor division rounds down
    order = sorted(range(len(weights)), key=lambda i: (-(amount * weights[i] % total), i))
    for i in order[:rest]:
        parts[i] += 1
    return parts


def _weights(rows: Sequence[UsageRow], bucket: str) -> list[int]:
    if bucket in USAGE_COUNTS:
        found = [r.count(bucket) for r in rows]
        if any(found):
            return found
    return [r.tokens + r.web_search_requests for r in rows]


def attribute(usage: Iterable[UsageRow], costs: Iterable[CostRow], rules: Rules | None = None) -> list[Attributed]:
    rows = list(usage)
    cost_of = [0] * len(rows)
    by_model: dict[tuple[date, str, str], list[int]] = defaultdict(list)
    by_scope: dict[tuple[date, str], list[int]] = defaultdict(list)
    for i, r in enumerate(rows):
        by_model[(r.day, r.workspace, model_key(r.model))].append(i)
        by_scope[(r.day, r.workspace)].append(i)
    leftovers: list[Attributed] = []
    for c in costs:
        if c.model:
            idx = by_model.get((c.day, c.workspace, model_key(c.model)), [])
        else:
            idx = by_scope.get((c.day, c.workspace), [])
        weights = _weights([rows[i] for i in idx], c.bucket) if idx else []
        if not any(weights):
            stub = UsageRow(provider=c.provider, day=c.day, model=c.model, workspace=c.workspace,
                            service_tier=c.service_tier, context_window=c.context_window)
            leftovers.append(Attributed(stub, c.amount))
            continue
        for i, part in zip(idx, split(c.amount, weights), strict=True):
            cost_of[i] += part
    out = [Attributed(r, cost) for r, cost in zip(rows, cost_of, strict=True)] + leftovers
    if rules:
        out = [replace(a, tags=rules.tags_for(a.usage.provider, a.usage.api_key_id, a.usage.workspace,
                                              a.usage.model)) for a in out]
    return out


@dataclass(slots=True)
class Group:
    label: str
    tokens: int = 0
    requests: int | None = None
    cost: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(USAGE_COUNTS, 0))

    def add(self, a: Attributed) -> None:
        self.cost += a.cost
        self.tokens += a.usage.tokens
        for name in USAGE_COUNTS:
            self.counts[name] += a.usage.count(name)
        if a.usage.requests is not None:
            self.requests = (self.requests or 0) + a.usage.requests


def labeller(by: str) -> Callable[[Attributed], str]:
    """The label of a row under ``--by``: a grouping word or a tag key (mapped by the rules)."""
    fields: dict[str, Callable[[Attributed], str]] = {
        "day": lambda a: a.usage.day.isoformat(),
        "month": lambda a: a.usage.day.isoformat()[:7],
        "model": lambda a: a.usage.model or NONE,
        "key": lambda a: a.usage.api_key_id or NONE,
        "workspace": lambda a: a.usage.workspace or NONE,
        "project": lambda a: a.usage.workspace or NONE,
        "tier": lambda a: a.usage.service_tier or NONE,
        "context": lambda a: a.usage.context_window or NONE,
    }
    if by in fields:
        return fields[by]
    key = by[4:] if by.startswith("tag:") else by
    return lambda a: a.tags.get(key, UNMAPPED)


def group(rows: Iterable[Attributed], by: str) -> tuple[list[Group], Group]:
    """Groups (time in order, else by cost, largest first; the unmapped and none rows last) and the total."""
    label = labeller(by)
    groups: dict[str, Group] = {}
    total = Group("total")
    for a in rows:
        found = groups.get(lab := label(a))
        if found is None:
            found = groups[lab] = Group(lab)
        found.add(a)
        total.add(a)
    if by in ("day", "month"):
        ordered = sorted(groups.values(), key=lambda g: g.label)
    else:
        ordered = sorted(groups.values(), key=lambda g: (g.label in (UNMAPPED, NONE), -g.cost, g.label))
    return ordered, total

