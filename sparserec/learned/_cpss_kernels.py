"""Numba kernels of LISTA-CPSS and ALISTA (:mod:`sparserec.learned.lista_cpss`,
:mod:`sparserec.learned.alista`): the element-wise work of one layer.

Forward, :func:`ss_layer` forms ``z = h + c P`` (``P = (x - h A^T) W``, BLAS's product) and
applies the support-selecting threshold, row by row; it records which entries passed, were
shrunk or were zeroed, so that the backward (:func:`ss_layer_backward`) holds the selection
constant without recomputing it. Arrays are C-contiguous, of one float dtype; rows are
signals.
"""

import math

import numpy as np
from numba import njit

from ..solvers._base_kernels import soft

#: The codes of the mask :func:`ss_layer` writes: the entry was zeroed (0), shrunk by the
#: soft threshold (its sign, +1 or -1), or passed unchanged by the support selection.
ZEROED, PASSED = 0, 2


@njit(cache=True, nogil=True)
def _sift_down(heap, i, n):
    """Restore the min-heap ``heap[:n]`` below position ``i``."""
    v = heap[i]
    while True:
        child = 2 * i + 1
        if child >= n:
            break
        if child + 1 < n and heap[child + 1] < heap[child]:
            child += 1
        if heap[child] >= v:
            break
        heap[i] = heap[child]
        i = child
    heap[i] = v


@njit(cache=True, nogil=True)
def nth_largest_abs(z, n, floor, heap):
    """The ``n``-th largest ``|z_j|`` among those above ``floor``, of the 1-d ``z`` (at least
    ``n >= 1`` of them are).

    A min-heap of the ``n`` largest so far, in ``heap`` (at least ``n`` long): O(N log n)
    at worst. :func:`nth_largest`'s fallback.
    """
    size = 0
    start = 0
    while size < n:  # the first n candidates
        a = abs(z[start])
        if a > floor:
            heap[size] = a
            size += 1
        start += 1
    for i in range(n // 2 - 1, -1, -1):
        _sift_down(heap, i, n)
    for j in range(start, z.shape[0]):
        a = abs(z[j])
        if a > heap[0]:
            heap[0] = a
            _sift_down(heap, 0, n)
    return heap[0]


@njit(cache=True, nogil=True)
def nth_largest(buf, size, n, heap):
    """The ``n``-th largest of ``buf[:size]`` (``1 <= n <= size``), reordering it.

    Quickselect with branch-free partitions (4-5 times faster than the heap here, whose
    sifts mispredict), three-way so that ties cannot stall it; after ``2 log2(size)``
    rounds it hands the rest to :func:`nth_largest_abs`'s heap (``heap`` at least ``n``
    long), so that it stays O(size log size) at worst.
    """
    lo, hi = 0, size
    t = n - 1  # the wanted position in decreasing order
    rounds = 2 * (int(math.log2(size)) + 1)
    while hi - lo > 32 and rounds > 0:
        rounds -= 1
        mid = (lo + hi) // 2
        a, b, c = buf[lo], buf[mid], buf[hi - 1]
        if a > b:
            a, b = b, a
        if b > c:
            b = c
        pivot = max(a, b)  # the median of the three
        i = lo
        for j in range(lo, hi):  # [lo, i) > pivot
            v = buf[j]
            buf[j] = buf[i]
            buf[i] = v
            i += v > pivot
        if t < i:
            hi = i
            continue
        e = i
        for j in range(i, hi):  # [i, e) == pivot, at least one
            v = buf[j]
            buf[j] = buf[e]
            buf[e] = v
            e += v == pivot
        if t < e:
            return pivot
        lo = e
    return nth_largest_abs(buf[lo:hi], t - lo + 1, -1.0, heap)


@njit(cache=True, nogil=True)
def ss_layer(Hprev, P, first, c, theta, n_sel, H, mask):
    """One layer: ``z = Hprev + c P`` (``c P`` when ``first``: ``h_0 = 0``), then per row
    ``H = z`` on the selected entries and ``soft(z, theta)`` elsewhere.

    The selected entries are those among the ``n_sel`` largest ``|z|`` of their row (ties
    to the lower index) with ``|z| > theta``; ``theta >= 0`` (the caller's ``max(theta_k,
    0)``). ``H`` may be ``Hprev`` (updated in place). Writes ``mask`` (int8): PASSED,
    ZEROED, or the sign of a shrunk nonzero entry.
    """
    B, N = P.shape
    buf = np.empty(N, H.dtype)
    heap = np.empty(max(min(n_sel, N), 1), H.dtype)
    for b in range(B):
        row = H[b]
        size = 0  # only the entries above theta can pass: they alone are ranked, in buf
        for j in range(N):
            z = c * P[b, j] if first else Hprev[b, j] + c * P[b, j]
            row[j] = z
            a = abs(z)
            buf[size] = a
            size += a > theta
        # An entry passes when |z| > cut (>= theta), or equals the cut among the first
        # `ties` such; when at most n_sel entries are above theta, they all pass.
        cut = np.inf if n_sel <= 0 else theta
        ties = 0
        if 0 < n_sel < size:
            cut = nth_largest(buf, size, n_sel, heap)  # > theta
            above = 0
            for j in range(N):
                above += abs(row[j]) > cut
            ties = n_sel - above
        for j in range(N):  # (branch-free but for the rare ties)
            z = row[j]
            a = abs(z)
            passed = a > cut
            if ties > 0 and a == cut:
                passed = True
                ties -= 1
            v = soft(z, theta, False)
            row[j] = z if passed else v
            mask[b, j] = PASSED if passed else (v > 0) - (v < 0)


@njit(cache=True, nogil=True)
def ss_layer_backward(G, mask, DZ):
    """Backward of :func:`ss_layer` with its selection held constant, given ``G = dL/dh``.

    Writes ``DZ = dL/dz = G`` where the entry passed or was shrunk, 0 where it was zeroed,
    and returns ``-sum G sign(z)`` over the shrunk entries: ``dL/dtheta`` for a positive
    threshold.
    """
    B, N = G.shape
    gt = 0.0
    for b in range(B):
        for j in range(N):
            m = mask[b, j]
            g = G[b, j]
            if m == ZEROED:
                DZ[b, j] = g - g
            else:
                DZ[b, j] = g
                if m == 1:
                    gt -= g
                elif m == -1:
                    gt += g
    return gt


@njit(cache=True, nogil=True)
def inner_and_scale(R, P, c):
    """``sum R * P`` (in float64), then ``P *= c``: for a layer of weight ``c W``,
    ``dL/dc = <x - h A^T, dL/dz W^T>`` and ``dL/d(x - h A^T) = c dL/dz W^T``."""
    B, M = R.shape
    acc = 0.0
    for b in range(B):
        for m in range(M):
            acc += float(R[b, m]) * float(P[b, m])
            P[b, m] *= c
    return acc
