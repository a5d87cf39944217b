"""Building and running the proxy: recovery of earlier journals, the writer, caps, uvicorn."""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from spendtag.ledger.store import Store, VirtualKey
from spendtag.server.proxy.app import Proxy, ProxyApp
from spendtag.server.proxy.caps import Caps, OutputEstimate, SharedReservations
from spendtag.server.proxy.config import ProxyConfig
from spendtag.server.proxy.config import load as load_config
from spendtag.server.proxy.keys import KeyCache
from spendtag.server.proxy.metrics import Metrics
from spendtag.server.proxy.watch import LedgerWatch
from spendtag.server.proxy.writer import Journal, LedgerWriter, journal_dir, recover

if TYPE_CHECKING:
    from spendtag.cli.app import App
    from spendtag.guard.budgets import Budget

HOLDS_EVERY = 1.0          # seconds between publishing this proxy's reservations
HOLDS_STALE = timedelta(seconds=10)
WRITER_CACHE_MB = 8
EXTEND_EVERY = 5.0         # at most this many seconds between extending this proxy's ledger reservations


def config_for(app: App, base_urls: Mapping[str, str | None] | None = None) -> ProxyConfig:
    return load_config(app.settings.sections.get("proxy"), path=str(app.settings.config_path), overrides=base_urls)


def build(app: App, config: ProxyConfig, *, access_log: bool | None = None) -> ProxyApp:
    """The ASGI app over ``app``'s ledger; earlier proxies' journals are recorded first."""
    from spendtag.guard import alerting
    from spendtag.ledger import open_store

    store = app.store
    url = store.url
    recovered = recover(journal_dir(url), store, app.pricer)
    if recovered:
        print(f"spendtag proxy: recorded {recovered} call(s) from an earlier run's journal", file=sys.stderr)
    caps = Caps(store, _budgets_of(app), app.tz, app.pricer, unpriced_policy=app.settings["unpriced_policy"],
                output_estimate=OutputEstimate(config.default_max_output_tokens, config.output_estimates))
    keys = KeyCache(store, config.key_cache_seconds)
    watch = LedgerWatch(caps, keys)
    holder = f"proxy-{os.getpid()}-{os.urandom(3).hex()}"
    if config.shared_budgets == "on" or (config.shared_budgets == "auto" and not url.startswith("sqlite:")):
        caps.shared = SharedReservations(lambda: open_store(url), holder, app.tz,
                                         ttl=timedelta(seconds=config.reservation_ttl))
    last = [0.0]
    ticks = {"extend": 0.0, "recover": time.monotonic()}
    lock = threading.Lock()

    def on_tick(wstore: Store) -> None:
        """See what other processes changed; keep this proxy's reservations alive; record what a replica
        that died on this machine left."""
        shared = caps.shared
        found = 0
        now = time.monotonic()
        if shared is not None and now - ticks["extend"] >= min(EXTEND_EVERY, config.reservation_ttl / 3):
            ticks["extend"] = now
            shared.extend(wstore, datetime.now(UTC))
        if shared is not None and now - ticks["recover"] >= config.recover_every:
            ticks["recover"] = now
            found = recover(journal_dir(url), wstore, app.pricer)
            if found:
                print(f"spendtag proxy: recorded {found} call(s) left by a proxy that stopped", file=sys.stderr)
        watch.tick(wstore, force=found > 0)   # recorded on this connection: no change counter moves

    def after_write(wstore: Store) -> None:
        if caps.alerts_due and caps.budgets:
            caps.alerts_due = False
            alerting.run(wstore, caps.budgets, app.channels, tz=app.tz)
        now = time.monotonic()
        if caps.budgets and caps.shared is None and now - last[0] >= HOLDS_EVERY:
            last[0] = now
            with lock:
                at = datetime.now(UTC)
                wstore.save_holds(holder, caps.outstanding, at)
                caps.external = wstore.holds(at - HOLDS_STALE, exclude=holder)

    # The writer only appends: a small page cache keeps the proxy's memory flat as the ledger grows.
    writer = LedgerWriter(lambda: open_store(url, cache_mb=WRITER_CACHE_MB),
                          access_log=config.access_log if access_log is None else access_log,
                          after_write=after_write, on_tick=on_tick, on_commit=caps.mark_committed)
    journal = Journal(journal_dir(url))
    metrics = Metrics(config.metric_tags, caps)

    def on_key(vk: VirtualKey) -> None:
        if vk.budget is not None and vk.budget not in caps.names:
            caps.reload()   # a key made while the proxy runs brings its budget

    proxy = Proxy(config, app.pricer, caps, keys, journal, writer, metrics, on_key)
    asgi = ProxyApp(proxy)
    asgi.watch = watch

    def stop() -> None:
        writer.close()
        journal.close(remove=True)
        if caps.shared is not None:
            caps.shared.close()
        if caps.budgets:
            with contextlib.suppress(Exception):   # best effort: stale holds expire anyway
                store.save_holds(holder, {}, datetime.now(UTC))

    asgi.on_shutdown(stop)
    return asgi


def _budgets_of(app: App) -> Callable[[Store], list[Budget]]:
    """Every budget as a store has them: the config file's and the ledger's."""
    from spendtag.guard import budgets

    entries, path = app.settings.sections.get("budgets"), str(app.settings.config_path)
    channels = app.settings.alert_channels
    return lambda store: list(budgets.load(store, entries, config_path=path, channels=channels))


def serve(asgi: ProxyApp, host: str, port: int) -> None:
    """Run on uvicorn (uvloop + httptools when installed) until SIGINT/SIGTERM; flushes the ledger on the way out."""
    import uvicorn

    from spendtag.server.protocol import http_protocol

    asgi.sites = asgi.sites.also(host)
    loop = "uvloop" if _has("uvloop") else "asyncio"
    config = uvicorn.Config(asgi, host=host, port=port, loop=loop, http=http_protocol(), lifespan="on",
                            access_log=False, log_level="warning", server_header=False, proxy_headers=False,
                            timeout_keep_alive=30, backlog=4096)
    server = uvicorn.Server(config)
    print(f"spendtag proxy listening on http://{host}:{port} (routes: "
          f"{', '.join('/' + n + '/' for n in asgi.upstreams)}; /metrics, /healthz)", file=sys.stderr, flush=True)
    server.run()


def _has(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True
