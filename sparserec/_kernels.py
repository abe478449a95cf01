"""Numba kernels of the classical solvers.

Each kernel does one job on plain, trusted, C-contiguous arrays of one floating dtype
(float32 or float64): no validation, no Python objects, no I/O. Signals are rows
(``h`` has shape ``(B, N)``), so a matrix ``S`` acting on every code of a batch is the
matrix-matrix product ``h @ S.T``; callers pass the transposes they need, contiguous.
"""

import numpy as np
from numba import njit


@njit(cache=True)
def soft_threshold_inplace(z, tau):
    """Replace every entry of the flat array ``z`` by ``sign(z) * max(|z| - tau, 0)``."""
    for i in range(z.size):
        v = z[i]
        if v > tau:
            z[i] = v - tau
        elif v < -tau:
            z[i] = v + tau
        else:
            z[i] = 0.0


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
                v = z[b, j] + step * grad[b, j]
                if v > thresh:
                    v -= thresh
                elif v < -thresh and not positive:
                    v += thresh
                else:
                    v = 0.0
                h[b, j] = v
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


@njit(cache=True)
def sista_recursion(Vx, ST, PT, h0, lam2_over_alpha, thresh, n_iter, tol, fixed,
                    h_out, iters_out, converged_out):
    """SISTA over a batch of sequences: frame after frame, warm-started from ``P h_{t-1}``.

    Implements section 2 of ``sista.md``::

        h_t^(0) = P h_{t-1}
        h_t^(k) = soft_{lam1/alpha}(S h_t^(k-1) + V x_t + (lam2/alpha) P h_{t-1})

    Parameters
    ----------
    Vx : (B, T, N) array, ``V x_t`` for every sequence and frame.
    ST, PT : (N, N) arrays, the transposes of ``S`` and ``P = D^T F D``.
    h0 : (B, N) array, the code before the first frame.
    lam2_over_alpha, thresh : floats, ``lam2 / alpha`` and ``lam1 / alpha``.
    n_iter : int, iterations per frame (exactly, when ``fixed``; at most, otherwise).
    tol : float, per-frame stop on ``||h^(k) - h^(k-1)|| <= tol ||h^(k)||`` (unless ``fixed``).
    fixed : bool, run exactly ``n_iter`` iterations per frame (the unfolded network).
    h_out : (B, T, N) array, the codes (written).
    iters_out : (B, T) int64 array, iterations used per frame (written).
    converged_out : (B, T) bool array, whether the last iteration of each frame met
        ``tol`` (written).
    """
    B, T, N = Vx.shape
    h_prev = h0.copy()
    for t in range(T):
        Ph = np.dot(h_prev, PT)
        c = Vx[:, t, :] + lam2_over_alpha * Ph
        h = Ph
        active = np.arange(B)
        for k in range(n_iter):
            n_active = active.size
            h_act = h if n_active == B else h[active]
            z = np.dot(h_act, ST)
            still = np.empty(n_active, np.int64)
            n_still = 0
            for a in range(n_active):
                b = active[a]
                change = 0.0
                norm = 0.0
                for j in range(N):
                    v = z[a, j] + c[b, j]
                    if v > thresh:
                        v -= thresh
                    elif v < -thresh:
                        v += thresh
                    else:
                        v = 0.0
                    d = v - h[b, j]
                    change += d * d
                    norm += v * v
                    h[b, j] = v
                iters_out[b, t] = k + 1
                done = change <= tol * tol * norm
                converged_out[b, t] = done
                if fixed or not done:
                    still[n_still] = b
                    n_still += 1
            active = still[:n_still]
            if n_still == 0:
                break
        h_out[:, t, :] = h
        h_prev = h
