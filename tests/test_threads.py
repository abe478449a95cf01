"""Tests of sparserec._threads: BLAS held to one thread, and our own threads over a batch."""

import numba
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from sparserec._threads import in_threads, one_blas_thread


def blas_threads():
    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]


def test_blas_threads_are_restored_after_overlapping_calls():
    # Each solver call limits BLAS to one thread while it runs; calls that overlap in
    # several threads (a threaded Dask worker, a user's pool) may end in any order, and the
    # last to end must restore the original count.
    with threadpool_limits(limits=2, user_api="blas"):
        before = blas_threads()
        first, second = one_blas_thread(), one_blas_thread()
        first.__enter__()
        second.__enter__()
        assert set(blas_threads()) == {1}
        first.__exit__(None, None, None)  # the first call ends while the second runs
        assert set(blas_threads()) == {1}
        second.__exit__(None, None, None)
        assert blas_threads() == before


def test_blas_threads_are_restored_when_the_block_raises():
    with threadpool_limits(limits=2, user_api="blas"):
        before = blas_threads()
        with pytest.raises(RuntimeError, match="a failing solve"):
            with one_blas_thread():
                assert set(blas_threads()) == {1}
                raise RuntimeError("a failing solve")
        assert blas_threads() == before


@pytest.mark.parametrize("chunks_per_thread", [1, 4])
def test_in_threads_covers_the_rows_in_order(numba_threads, chunks_per_thread):
    numba.set_num_threads(numba_threads)
    chunks = in_threads(lambda start, stop: (start, stop), 7,
                        chunks_per_thread=chunks_per_thread)
    assert len(chunks) == min(7, chunks_per_thread * numba_threads)
    assert [c[0] for c in chunks[1:]] == [c[1] for c in chunks[:-1]]
    assert chunks[0][0] == 0 and chunks[-1][1] == 7
    numba.set_num_threads(1)
    assert in_threads(lambda start, stop: (start, stop), 7) == [(0, 7)]


def test_in_threads_passes_the_arguments_before_the_bounds(numba_threads):
    numba.set_num_threads(numba_threads)
    chunks = in_threads(lambda a, b, start, stop: (a, b, stop - start), 5, "a", "b")
    assert all(chunk[:2] == ("a", "b") for chunk in chunks)
    assert sum(chunk[2] for chunk in chunks) == 5
