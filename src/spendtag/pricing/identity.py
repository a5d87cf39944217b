"""One name per model: the id a reported model id resolves to in genai-prices.

Providers report a model under several ids: dated ones (``claude-sonnet-4-5-20250929``),
dotted aliases (``claude-sonnet-4.5``), Vertex's ``claude-sonnet-4-5@20250929``. genai-prices
matches each to one model entry, and that entry's id is the model's name here, the same one
the Pricer prices it as. Overrides, report filters and report groups use it, so
``claude-sonnet-4-5`` covers every id of that model; a dated id still names that id alone.
A model the data does not know keeps the id it was reported with.

Loading genai-prices' data takes a few tenths of a second, more than a whole report, so the
names found are kept in a small file in the user's cache folder, one per installed
genai-prices data: a later report by model reads that file instead. The file is only a cache; when it
cannot be read or written, names are resolved from the data.
"""

from __future__ import annotations

import json
import os
import threading
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from spendtag.pricing.rates import ListPrices

_SCHEMA = 1          # raise when the resolution itself changes (provider aliases...), to start a new file
_list: ListPrices | None = None
_names: dict[str, str] | None = None
_lock = threading.Lock()


@lru_cache(maxsize=65536)
def model_name(provider: str | None, model: str) -> str:
    """The name ``model`` (as ``provider`` reported it) has in the price data, or ``model`` itself."""
    if not model:
        return model
    key = f"{provider or ''}\n{model}"
    with _lock:
        names = _known()
        name = names.get(key)
        if name is None:
            name = names[key] = _resolve(provider, model)
            _save(names)
    return name


def _resolve(provider: str | None, model: str) -> str:
    global _list
    if _list is None:
        from spendtag.pricing.rates import ListPrices

        _list = ListPrices()
    found = _list.find(provider or None, model)
    return found.model.id if found is not None else model


def _cache_file() -> Path:
    """The cache for the installed genai-prices data, told apart by its data module's size and time
    (cheaper than asking the package's version, which is as slow as a report)."""
    from importlib.util import find_spec

    import platformdirs

    spec = find_spec("genai_prices")
    origin = spec.origin if spec is not None else None
    data = os.stat(Path(origin).with_name("data.py")) if origin else None
    stamp = f"{data.st_size}-{data.st_mtime_ns}" if data else "none"
    folder = Path(platformdirs.user_cache_dir("spendtag", appauthor=False))
    return folder / f"model-names-{_SCHEMA}-{stamp}.json"


def _known() -> dict[str, str]:
    global _names
    if _names is None:
        try:
            loaded = json.loads(_cache_file().read_text(encoding="utf-8"))
        except (OSError, ValueError):
            loaded = None
        ok = isinstance(loaded, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in loaded.items())
        _names = dict(loaded) if ok else {}
    return _names


def _save(names: dict[str, str]) -> None:
    try:
        path = _cache_file()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(names, sort_keys=True), encoding="utf-8")
        tmp.replace(path)
    except OSError:
        pass
