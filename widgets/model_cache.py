"""Loaded models, kept between runs so a widget builds the (slow) e3nn modules only once.

Models are loaded with :func:`deepaw_nb.load_model` — with no path for the bundled default
(which honours ``$DEEPAW_NB_MODEL``), or with the user's checkpoint paths.  A cached model is
reused while its files are unchanged (same resolved path, size and modification time).
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

__all__ = ["clear_model_cache", "get_model"]

_MAX_MODELS = 2
_CACHE: OrderedDict[tuple, Any] = OrderedDict()
_LOCK = threading.Lock()


def _file_key(path: str | os.PathLike[str] | None) -> tuple:
    if path is None:
        return (None,)
    p = Path(path).expanduser()
    try:
        stat = p.stat()
        return (str(p.resolve()), stat.st_size, stat.st_mtime_ns)
    except OSError:
        return (str(p), None, None)


def get_model(f_nonlocal: str | os.PathLike[str] | None = None, f_local: str | os.PathLike[str] | None = None) -> tuple[Any, float]:
    """``(model, seconds spent loading)``; seconds is 0.0 when the model came from the cache.

    ``f_nonlocal=None`` means the default model (``deepaw_nb.load_model()``).  Errors are the
    library's :class:`~deepaw_nb.errors.DeepawError` subclasses, raised unchanged.
    """
    from deepaw_nb import load_model
    from deepaw_nb.model import default_model_path

    if f_nonlocal is None:
        key: tuple = ("default", _file_key(default_model_path()))
    else:
        key = ("files", _file_key(f_nonlocal), _file_key(f_local))
    with _LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key], 0.0
        start = time.perf_counter()
        model = load_model() if f_nonlocal is None else load_model(f_nonlocal, f_local)
        seconds = time.perf_counter() - start
        _CACHE[key] = model
        while len(_CACHE) > _MAX_MODELS:
            _CACHE.popitem(last=False)
        return model, seconds


def clear_model_cache() -> None:
    """Forget every cached model (the next run loads from disk again)."""
    with _LOCK:
        _CACHE.clear()
