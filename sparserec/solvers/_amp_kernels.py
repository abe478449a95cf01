"""Numba kernel of approximate message passing (:mod:`sparserec.solvers.amp`)."""

import numpy as np
from numba import njit

from ._base_kernels import soft


@njit(cache=True)
def amp_steps(Phi, PhiT, x, h, z, tau, damping, n_steps, tol, limit, iters, status, theta,
               onsager):
    """Run up to ``n_steps`` AMP iterations on a batch, in place; stopped rows stay frozen.

    Parameters
    ----------
    Phi, PhiT : (M, N) and (N, M) arrays, the rescaled ``A D`` and its transpose.
    x : (B, M) array, the measurements.
    h, z : (B, N) and (B, M) arrays, the codes and the corrected residuals (updated).
    tau, damping, tol : floats, as in :func:`amp`.
    limit : (B,) array, the squared residual norm beyond which a row has diverged.
    iters : (B,) int64 array, iterations done (updated).
    status : (B,) int8 array, 0 running, 1 converged, 2 diverged (updated).
    theta, onsager : (B,) float64 arrays, the last threshold and ``||h||_0 / M`` (written).
    """
    B, N = h.shape
    M = x.shape[1]
    keep = 1.0 - damping
    running = np.empty(B, np.bool_)
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
            threshold = tau * np.sqrt(energy / M)
            nonzero = 0
            change = 0.0
            norm = 0.0
            for j in range(N):
                v = soft(pseudo[b, j], threshold, False)
                nonzero += v != 0.0
                v = keep * v + damping * h[b, j]
                d = v - h[b, j]
                change += d * d
                norm += v * v
                h[b, j] = v
            theta[b] = threshold
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
            for i in range(M):
                v = keep * (x[b, i] - fit[b, i] + onsager[b] * z[b, i]) + damping * z[b, i]
                z[b, i] = v
                energy += v * v
            if not energy <= limit[b]:  # also catches NaN
                status[b] = 2
