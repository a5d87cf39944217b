"""The intake server (layer L5): OTLP/HTTP for GenAI spans and coding-agent telemetry, and ``/v1/events``.

Modules: ``otlp`` (payloads into events), ``events`` (HttpSink batches), ``app`` (the ASGI
app, its ledger writer, and running it).
"""
