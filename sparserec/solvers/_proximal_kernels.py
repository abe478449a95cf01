"""Numba kernels of ISTA and FISTA (:mod:`sparserec.solvers.proximal`).

Signals are rows (``h`` has shape ``(B, N)``), so a matrix acting on every code of a batch
is a matrix-matrix product; callers pass the transposes they need, contiguous.
"""

import numpy as np
from numba import njit

from ._base_kernels import soft


@njit(cache=True)
def proximal_gradient_steps(Phi, PhiT, x, h, z, t, step, thresh, n_steps, accelerated,
                            positive):
    """Run ``n_steps`` ISTA or FISTA iterations on a batch of lasso problems, in place.

    Minimises ``1/2 ||x_b - Phi h_b||^2 + lam ||h_b||_1`` for every row ``b``, with
    ``step = 1 / alpha`` and ``thresh = lam / alpha``.

    Parameters
    ----------
    Phi, PhiT : (M, N) and (N, M) arrays, the effective matrix ``A D`` and its transpose.
    x : (B, M) array, the measurements.
    h : (B, N) array, the current iterates (updated).
    z : (B, N) array, FISTA's extrapolated points (updated; equal to ``h`` for ISTA).
    t : (B,) array, FISTA's momentum sequences (updated).
    accelerated : bool, FISTA when True, ISTA when False.
    positive : bool, constrain the codes to be non-negative (the prox is ``max(v - thresh, 0)``).
    """
    B, N = h.shape
    h_old = np.empty(N, h.dtype)
    for _ in range(n_steps):
        residual = x - np.dot(z, PhiT)  # (B, M): x - Phi z per row
        grad = np.dot(residual, Phi)  # (B, N): Phi^T (x - Phi z) = -gradient
        for b in range(B):
            h_old[:] = h[b]
            for j in range(N):
                h[b, j] = soft(z[b, j] + step * grad[b, j], thresh, positive)
            if not accelerated:
                z[b] = h[b]
                continue
            # Gradient-based adaptive restart (O'Donoghue & Candes 2015): drop the momentum
            # when it points uphill, which keeps FISTA monotone in practice and much faster
            # on badly conditioned problems.
            uphill = 0.0
            for j in range(N):
                uphill += (z[b, j] - h[b, j]) * (h[b, j] - h_old[j])
            if uphill > 0.0:
                t[b] = 1.0
            t_next = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * t[b] * t[b]))
            beta = (t[b] - 1.0) / t_next
            t[b] = t_next
            for j in range(N):
                z[b, j] = h[b, j] + beta * (h[b, j] - h_old[j])
