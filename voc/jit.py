"""Numba compilation of voc's few hot loops, cached on disk, with a plain fallback.

numba is a dependency, but a broken install (or a platform without a wheel) should still
cluster, only slower; and a read-only cache directory (a container's /app) should still
compile, only on every start. Kernels are compiled with the GIL released, so threads run
them side by side.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


def compile_kernel(kernel: Callable[..., Any], what: str) -> Callable[..., Any] | None:
    """`kernel` compiled by numba (nogil, cached on disk), or None where numba cannot be
    imported (callers then run their pure-Python or numpy path)."""
    try:
        import numba
    except ImportError as exc:
        log.warning("numba unavailable (%s): %s runs without it, several times slower", exc, what)
        return None
    try:
        return numba.njit(cache=True, nogil=True)(kernel)
    except RuntimeError as exc:  # no writable cache directory: compile in memory each time
        log.warning("numba cannot cache %s (%s); set NUMBA_CACHE_DIR", what, exc)
        return numba.njit(nogil=True)(kernel)
