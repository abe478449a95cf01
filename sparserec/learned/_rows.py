"""The element-wise kernels of the unfolded networks, run on the rows of a batch in threads.

The kernels release the GIL and work on independent rows, so Python threads run them in
parallel; a pool of numba's thread count is kept, since a layer makes a few calls of a
millisecond each and starting threads every time would cost a fair part of that.
"""

import threading
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

__all__ = ["by_rows"]

_POOL = None
_POOL_SIZE = 0
_LOCK = threading.Lock()

#: Rows below which one thread does the whole batch.
MIN_ROWS = 64


def _pool(n):
    global _POOL, _POOL_SIZE
    with _LOCK:
        if _POOL is None or _POOL_SIZE != n:
            if _POOL is not None:
                _POOL.shutdown(wait=False)
            _POOL, _POOL_SIZE = ThreadPoolExecutor(n), n
        return _POOL


def by_rows(kernel, n_rows, rows, *args):
    """``kernel(*args)`` with the arguments flagged in ``rows`` split by rows in chunks, one
    per thread; returns the chunks' results summed (numbers or tuples of numbers).
    """
    n = min(numba.get_num_threads(), n_rows // MIN_ROWS)
    if n <= 1:
        return kernel(*args)
    bounds = np.linspace(0, n_rows, n + 1).astype(np.int64).tolist()

    def chunk(i):
        lo, hi = bounds[i], bounds[i + 1]
        return kernel(*(a[lo:hi] if row else a for a, row in zip(args, rows, strict=True)))

    parts = list(_pool(n).map(chunk, range(n)))
    if parts[0] is None:
        return None
    if isinstance(parts[0], tuple):
        return tuple(sum(values) for values in zip(*parts, strict=True))
    return sum(parts)
