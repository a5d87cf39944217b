"""Servers (layer L5): the metering proxy. Needs the ``server`` extra (``pip install 'spendtag[server]'``)."""

from __future__ import annotations

from spendtag.errors import SpendtagError


def require_server_extra() -> None:
    """A one-line error naming the extra when the proxy's dependencies are missing."""
    missing = []
    for module in ("uvicorn", "aiohttp", "prometheus_client"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        raise SpendtagError(f"the proxy needs {', '.join(missing)}: pip install 'spendtag[server]'")
