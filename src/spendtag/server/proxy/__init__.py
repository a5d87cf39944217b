"""The metering proxy: provider-native APIs in, tagged and priced events out (issue 5).

Modules: ``config`` (upstreams and knobs), ``routes`` (path -> upstream, request body
facts), ``app`` (the raw ASGI app), ``streaming`` (SSE pass-through helpers), ``keys``
(virtual keys), ``caps`` (reservations against blocking budgets), ``writer`` (journal and
batched ledger writer), ``metrics`` (/metrics, /healthz), ``serve`` (build and run).
"""
