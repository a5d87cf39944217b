"""The web dashboard and its JSON API (``/api/v1``): server-rendered pages over the ledger.

Every number a page shows comes from :mod:`.views`, which the API returns as JSON too,
so a page and ``/api/v1/...`` with the same query always agree.
"""
