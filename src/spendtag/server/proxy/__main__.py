"""``python -m spendtag.server.proxy [--db URL] proxy|keys|run ...``: the proxy commands without the main CLI."""

from spendtag.cli.proxy import standalone

standalone()
