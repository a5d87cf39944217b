"""Servers (layer L5): the metering proxy, the intake and the dashboard. Need the ``server`` extra."""

from __future__ import annotations

from spendtag.errors import SpendtagError


def require_server_extra(*, dashboard: bool = False) -> None:
    """A one-line error naming the extra when the servers' dependencies are missing."""
    modules = ["uvicorn", "httptools", "prometheus_client", *(["fastapi", "jinja2"] if dashboard else [])]
    missing = []
    for module in modules:
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        raise SpendtagError(f"this needs {', '.join(missing)}: pip install 'spendtag[server]'")
