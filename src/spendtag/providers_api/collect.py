"""Reading one report over a range of days, page by page, keeping only what came back whole."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date
from typing import Any

from spendtag.capture._fields import DECODE_FAILURES
from spendtag.providers_api.http import AdminClient, PagingError, ProviderAPIError, pages
from spendtag.providers_api.model import CostRow, Fetched, UsageRow, complete_days, day_range

BucketDay = Callable[[Mapping[str, Any]], date]
MakeRow = Callable[[date, Mapping[str, Any]], UsageRow | CostRow]
_ROW_FAILURES: tuple[type[Exception], ...] = (ProviderAPIError, *DECODE_FAILURES)


def collect(api: AdminClient, report: str, path: str, params: Sequence[tuple[str, str]], since: date, until: date,
            bucket_day: BucketDay, make_row: MakeRow) -> Fetched:
    """All pages of a report; if one fails for good, the days it (and later pages) held are ``missing``.

    Pages hold whole buckets (the next-page token is where the next bucket starts), so a day
    seen on a page that was read in full is complete.
    """
    rows: list[Any] = []
    seen: list[date] = []
    bad_days: set[date] = set()      # days with a row that could not be read: not complete
    problems: list[str] = []
    bad_rows = 0
    read, error = 0, ""
    try:
        for page in pages(api, path, params):
            try:
                page_rows, page_days = [], []
                for bucket in page.data["data"]:
                    day = bucket_day(bucket)
                    page_days.append(day)
                    results = bucket.get("results") or []
                    if not isinstance(results, list):
                        raise ValueError(f"the results of {day} are not a list")
                    for n, r in enumerate(results):
                        # A row that cannot be read is skipped and counted, and its day is not
                        # taken as complete (the stored day keeps what an earlier pull read).
                        try:
                            page_rows.append(make_row(day, r))
                        except _ROW_FAILURES as exc:
                            bad_rows += 1
                            bad_days.add(day)
                            if len(problems) < 3:
                                problems.append(f"page {page.number}, {day} row {n + 1}: {str(exc)[:160]}")
            except _ROW_FAILURES as exc:
                raise PagingError(page.number, ProviderAPIError(f"{path}: malformed answer: {exc}")) from None
            rows += page_rows
            seen += page_days
            read = page.number
    except PagingError as exc:
        error = str(exc)
    days, missing = complete_days(day_range(since, until), seen, bool(error))
    if bad_days:
        missing = sorted({*missing, *(d for d in days if d in bad_days)})
        days = [d for d in days if d not in bad_days]
        note = f"{path}: {bad_rows} malformed row{'s' if bad_rows != 1 else ''} skipped ({'; '.join(problems)})"
        error = f"{error}; {note}" if error else note
    keep = set(days)
    return Fetched(report, [r for r in rows if r.day in keep], days, missing, read, error)
