"""Read-only pulls from the providers' admin usage and cost reports (Anthropic, OpenAI).

:mod:`.model` holds the normalised rows, :mod:`.http` the client (retries, rate limits,
paging), :mod:`.anthropic` and :mod:`.openai` each provider's endpoints, :mod:`.pull` a whole
pull, :mod:`.mapping` the ``[pull.mapping]`` rules that turn provider groupings into tags
and :mod:`.attribute` the split of a day's bill over the usage rows.
"""

from __future__ import annotations

from spendtag.providers_api.model import PROVIDERS, CostRow, DayStatus, Fetched, PullLog, PullResult, UsageRow

# (The HTTP client, spendtag.providers_api.http, is imported by those who pull: the ledger
# imports the row types above on every start, and the client pulls in urllib.)
__all__ = ["PROVIDERS", "CostRow", "DayStatus", "Fetched", "PullLog", "PullResult", "UsageRow"]
