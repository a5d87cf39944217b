"""Reading one report over a range of days, page by page, keeping only what came back whole."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date
from typing import Any

from spendtag.providers_api.http import AdminClient, PagingError, ProviderAPIError, pages
from spendtag.providers_api.model import CostRow, Fetched, UsageRow, complete_days, day_range

BucketDay = Callable[[Mapping[str, Any]], date]
MakeRow = Callable[[date, Mapping[str, Any]], UsageRow | CostRow]


def collect(api: AdminClient, report: str, path: str, params: Sequence[tuple[str, str]], since: date, until: date,
            bucket_day: BucketDay, make_row: MakeRow) -> Fetched:
    """All pages of a report; if one fails for good, the days it (and later pages) held are ``missing``.

    Pages hold whole buckets (the next-page token is where the next bucket starts), so a day
    seen on a page that was read in full is complete.
    """
    rows: list[Any] = []
    seen: list[date] = []
    read, error = 0, ""
    try:
        for page in pages(api, path, params):
            try:
                page_rows, page_days = [], []
                for bucket in page.data["data"]:
                    day = bucket_day(bucket)
                    page_days.append(day)
                    page_rows += [make_row(day, r) for r in bucket.get("results") or ()]
            except (ProviderAPIError, AttributeError, TypeError, ValueError) as exc:
                raise PagingError(page.number, ProviderAPIError(f"{path}: malformed answer: {exc}")) from None
            rows += page_rows
            seen += page_days
            read = page.number
    except PagingError as exc:
        error = str(exc)
    days, missing = complete_days(day_range(since, until), seen, bool(error))
    keep = set(days)
    return Fetched(report, [r for r in rows if r.day in keep], days, missing, read, error)
