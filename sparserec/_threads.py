"""Threads: BLAS held to one thread, and our own thread pool over a batch.

The solvers' and the networks' kernels release the GIL and run on independent rows of a
batch, so plain Python threads run them in parallel (:func:`in_threads`). BLAS is held to
one thread meanwhile (:func:`one_blas_thread`), so that the two kinds of threads do not
fight over the cores.
"""

import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numba
import numpy as np

__all__ = ["one_blas_thread", "in_threads", "over_rows", "summed_over_rows"]

_BLAS = None  # threadpoolctl's controller, created once
_BLAS_LOCK = threading.Lock()
_BLAS_USERS = 0  # the calls now inside one_blas_thread
_BLAS_LIMITER = None  # what the first of them set, to restore when the last ends


@contextmanager
def one_blas_thread():
    """A context in which BLAS runs one thread.

    For two reasons. The network's kernels make thousands of small (B, N) x (N, N)
    products, which multithreaded OpenBLAS runs slower than one thread, and 20-50 times
    slower on a busy machine (benchmarks/bench_training.py). And OpenBLAS's threads spin
    for a while after each product, taking the cores from the threads of
    :func:`in_threads` that follow: the lasso ran 1.4 times slower for it.

    The limit is process-wide, so calls that overlap in several threads share it: the
    first sets it and the last to end restores the original count, in whatever order they
    end.
    """
    global _BLAS, _BLAS_USERS, _BLAS_LIMITER
    with _BLAS_LOCK:
        if _BLAS is None:  # inspecting the loaded libraries takes a millisecond
            from threadpoolctl import ThreadpoolController

            _BLAS = ThreadpoolController()
        if _BLAS_USERS == 0:
            _BLAS_LIMITER = _BLAS.limit(limits=1, user_api="blas")
        _BLAS_USERS += 1
    try:
        yield
    finally:
        with _BLAS_LOCK:
            _BLAS_USERS -= 1
            if _BLAS_USERS == 0:
                _BLAS_LIMITER.restore_original_limits()


def in_threads(kernel, n_rows, *args, chunks_per_thread=4):
    """``[kernel(*args, start, stop)]`` over chunks of ``range(n_rows)``, in threads.

    The kernels release the GIL (numba ``nogil`` kernels, numpy products) and write
    disjoint rows of their outputs. Threads instead of numba's ``prange`` because a
    parallel kernel takes seconds longer to compile, which every user pays on the first
    call. The threads are numba's count (:func:`numba.get_num_threads`). Several chunks
    per thread balance uneven rows; one suits work that keeps accumulators per chunk
    (gradients summed over a batch), keeping them few and the chunks' products large.

    Returns
    -------
    list
        The kernel's results, in the order of the chunks.
    """
    n_threads = min(n_rows, numba.get_num_threads())
    if n_threads <= 1:
        return [kernel(*args, 0, n_rows)]
    bounds = np.linspace(0, n_rows, min(n_rows, chunks_per_thread * n_threads) + 1)
    bounds = bounds.astype(np.int64).tolist()
    errors = np.geterr()  # numpy's error handling is per thread: the caller's holds in all

    def chunk(i):
        with np.errstate(**errors):
            return kernel(*args, bounds[i], bounds[i + 1])

    with ThreadPoolExecutor(n_threads) as pool:
        return list(pool.map(chunk, range(len(bounds) - 1)))


def over_rows(kernel, n_rows, *args):
    """``[kernel(*args, start, stop)]`` over one chunk of the rows per thread, with one BLAS
    thread: how the networks run a batch (threads of our own instead of BLAS's)."""
    with one_blas_thread():
        return in_threads(kernel, n_rows, *args, chunks_per_thread=1)


def summed_over_rows(kernel, n_rows, *args):
    """The results of :func:`over_rows` summed over the chunks: how the networks sum
    losses and gradients over a batch.

    The kernel returns a tuple; each entry is summed in float64 (``None`` stays ``None``).
    """
    chunks = over_rows(kernel, n_rows, *args)
    return tuple(_total(parts) for parts in zip(*chunks, strict=True))


def _total(parts):
    if parts[0] is None:
        return None
    if len(parts) == 1:
        return np.asarray(parts[0], dtype=np.float64)
    total = np.add(parts[0], parts[1], dtype=np.float64)  # converted and summed in one pass
    for part in parts[2:]:
        total += part
    return total
