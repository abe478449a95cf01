"""Numba kernel of approximate message passing (:mod:`sparserec.solvers.amp`)."""

import numpy as np
from numba import njit

from ._base_kernels import soft

#: Damping of a signal under the SURE rule once its residual has grown: the iterates of
#: soft-threshold AMP with many nonzeros are close to oscillating at moderate N.
SURE_DAMPING = 0.2

#: Bins of :func:`sure_threshold`: their number, and their width in noise deviations.
SURE_BINS = 128
SURE_BIN_WIDTH = 0.05


@njit(cache=True)
def amp_steps(Phi, PhiT, x, h, z, tau, damping, n_steps, tol, limit, iters, status, theta,
              onsager, sure):
    """Run up to ``n_steps`` AMP iterations on a batch, in place; stopped rows stay frozen.

    Parameters
    ----------
    Phi, PhiT : (M, N) and (N, M) arrays, the rescaled ``A D`` and its transpose.
    x : (B, M) array, the measurements.
    h, z : (B, N) and (B, M) arrays, the codes and the corrected residuals (updated).
    tau : float, the threshold in units of the noise estimate ``||z|| / sqrt(M)``; 0 or
        less: the mean over the iterations so far of the minimisers of SURE
        (:func:`sure_threshold`) in those units, per row, and a row's damping is raised to
        ``SURE_DAMPING`` once its residual grows.
    damping, tol : floats, as in :func:`amp`.
    limit : (B,) array, the squared residual norm beyond which a row has diverged.
    iters : (B,) int64 array, iterations done (updated).
    status : (B,) int8 array, 0 running, 1 converged, 2 diverged (updated).
    theta, onsager : (B,) float64 arrays, the last threshold and ``||h||_0 / M`` (written).
    sure : (B, 3) float64 array, per row the mean SURE threshold, the last ``||z||^2`` and
        the damping (read and updated if tau <= 0).
    """
    B, N = h.shape
    M = x.shape[1]
    running = np.empty(B, np.bool_)
    work = np.empty(N, h.dtype)
    for _ in range(n_steps):
        pseudo = h + np.dot(z, Phi)  # h + Phi^T z: the signal plus Gaussian-like noise
        n_running = 0
        for b in range(B):
            running[b] = status[b] == 0
            if not running[b]:
                continue
            n_running += 1
            energy = 0.0
            for i in range(M):
                energy += z[b, i] * z[b, i]
            sigma = np.sqrt(energy / M)
            d = damping
            if tau > 0:
                threshold = tau * sigma
            else:  # SURE: its minimiser is noisy at moderate N, so average it over iterations
                best = sure_threshold(pseudo[b], energy / M, work) / sigma if sigma > 0 else 0.0
                sure[b, 0] += (best - sure[b, 0]) / (iters[b] + 1)
                threshold = sure[b, 0] * sigma
                if iters[b] > 0 and energy > sure[b, 1]:
                    sure[b, 2] = max(sure[b, 2], SURE_DAMPING)
                sure[b, 1] = energy
                d = sure[b, 2]
            nonzero = 0
            change = 0.0
            norm = 0.0
            for j in range(N):
                v = soft(pseudo[b, j], threshold, False)
                nonzero += v != 0.0
                v = (1.0 - d) * v + d * h[b, j]
                step = v - h[b, j]
                change += step * step
                norm += v * v
                h[b, j] = v
            theta[b] = threshold
            sure[b, 2] = d
            onsager[b] = nonzero / M  # the mean derivative of soft(.) times N / M
            iters[b] += 1
            if change <= tol * tol * norm:
                status[b] = 1
        if n_running == 0:
            return
        fit = np.dot(h, PhiT)
        for b in range(B):
            if not running[b]:
                continue
            energy = 0.0
            d = sure[b, 2]
            for i in range(M):
                v = (1.0 - d) * (x[b, i] - fit[b, i] + onsager[b] * z[b, i]) + d * z[b, i]
                z[b, i] = v
                energy += v * v
            if not energy <= limit[b]:  # also catches NaN
                status[b] = 2


@njit(cache=True, error_model="numpy")
def sure_threshold(r, variance, work):
    """The threshold ``theta >= 0`` that minimises Stein's unbiased risk estimate of
    ``soft(r; theta)`` for ``r`` = signal + Gaussian noise of the given variance.

    ``SURE(theta) = N var - 2 var #{|r_i| <= theta} + sum_i min(r_i^2, theta^2)`` grows
    between the sorted ``|r_i|`` and drops at each, so its minimum is at 0 or at one of them
    (the smallest on ties of the risk). Instead of sorting all ``|r_i|``, they are counted
    in bins of ``SURE_BIN_WIDTH`` noise deviations: SURE at the bins' edges bounds the
    minimum from above, counts and sums bound SURE within each bin from below, and only the
    bins whose lower bound does not exceed the upper one are sorted and scanned (usually a
    few of ``SURE_BINS``): the same minimiser as a scan of all, several times faster.
    ``work`` is scratch of ``r``'s size and dtype.
    """
    n = r.size
    if not variance > 0:
        return 0.0  # SURE(0) = 0 is the least: nothing to denoise
    width = SURE_BIN_WIDTH * np.sqrt(variance)
    last = SURE_BINS - 1  # the last bin also holds everything beyond (and NaN)
    counts = np.zeros(SURE_BINS + 1, np.int64)  # then the counts before each bin
    sums = np.zeros(SURE_BINS + 1)  # of r_i^2; then the sums before each bin
    for i in range(n):
        a = abs(float(r[i]))
        work[i] = a
        k = int(a / width) if a / width < last else last
        counts[k + 1] += 1
        sums[k + 1] += a * a
    for k in range(SURE_BINS):
        counts[k + 1] += counts[k]
        sums[k + 1] += sums[k]
    nv = n * variance
    # SURE at each bin's lower edge, with the entries on the edge counted above it (which
    # can only raise it): at least the minimum
    upper = nv
    for k in range(SURE_BINS):
        edge = k * width
        upper = min(upper, nv - 2.0 * variance * counts[k] + sums[k]
                    + (n - counts[k]) * edge * edge)
    # the bins where SURE may go below that: all their entries counted below, the threshold
    # at the lower edge
    keep = np.zeros(SURE_BINS, np.bool_)
    for k in range(SURE_BINS):
        edge = k * width
        keep[k] = counts[k + 1] > counts[k] and (nv - 2.0 * variance * counts[k + 1] + sums[k]
                                                 + (n - counts[k + 1]) * edge * edge <= upper)
    m = 0
    values = np.empty(n)
    for i in range(n):
        a = work[i]
        if keep[int(a / width) if a / width < last else last]:
            values[m] = a
            m += 1
    values = np.sort(values[:m])  # ascending, so bin by bin
    # the scan of all sorted |r_i|, over the kept ones
    threshold, least = 0.0, nv
    k, count, s = -1, 0, 0.0
    for j in range(m):
        a = values[j]
        b = int(a / width) if a / width < last else last
        if b != k:  # the first of a bin: what lies before it
            k, count, s = b, counts[b], sums[b]
        count += 1
        s += a * a
        risk = nv - 2.0 * variance * count + s + (n - count) * a * a
        if risk < least:
            least, threshold = risk, a
    return threshold
