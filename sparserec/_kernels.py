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


@njit(cache=True, nogil=True)
def sista_recursion(Vx, ST, PT, h0, lam2_over_alpha, thresh, n_iter, tol, fixed,
                    h_out, iters_out, converged_out, start, stop):
    """SISTA over a batch of sequences: frame after frame, warm-started from ``P h_{t-1}``.

    Implements section 2 of ``sista.md``::

        h_t^(0) = P h_{t-1}
        h_t^(k) = soft_{lam1/alpha}(S h_t^(k-1) + V x_t + (lam2/alpha) P h_{t-1})

    Sequences are independent: the kernel runs sequences ``start:stop`` without the GIL,
    so that threads share the batch (:func:`sparserec.solvers.in_threads`) with no
    synchronisation per frame, and the products ``S h`` and ``P h`` skip the zeros of the
    sparse code ``h`` (a row of ``ST`` per non-zero), which a dense BLAS call cannot.

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
    start, stop : ints, the sequences to run.
    """
    B, T, N = Vx.shape
    zero = np.zeros(1, Vx.dtype)[0]  # a literal 0.0 would promote float32 to float64
    for b in range(start, stop):
        h = h0[b].copy()
        Ph = np.empty_like(h)
        c = np.empty_like(h)
        z = np.empty_like(h)
        for t in range(T):
            _sparse_times(h, PT, Ph)  # P h_{t-1}
            for i in range(N):
                c[i] = Vx[b, t, i] + lam2_over_alpha * Ph[i]
            h[:] = Ph
            for k in range(n_iter):
                _sparse_times(h, ST, z)
                # The stopping test's sums (a serial dependency) only where they are used;
                # the threshold branch-free, max(v - tau, 0) + min(v + tau, 0), so that the
                # loop vectorises (the same values as the branches, bit for bit).
                change = 0.0
                norm = 0.0
                if not fixed or k == n_iter - 1:
                    for j in range(N):
                        v = z[j] + c[j]
                        z[j] = max(v - thresh, zero) + min(v + thresh, zero)
                        change += (z[j] - h[j]) ** 2
                        norm += z[j] * z[j]
                    h[:] = z
                else:
                    for j in range(N):
                        v = z[j] + c[j]
                        h[j] = max(v - thresh, zero) + min(v + thresh, zero)
                iters_out[b, t] = k + 1
                done = change <= tol * tol * norm
                converged_out[b, t] = done
                if done and not fixed:
                    break
            h_out[b, t] = h


@njit(cache=True)
def _sparse_times(h, MT, out):
    """``out = h @ MT`` (that is ``M h``), adding one row of ``MT`` per non-zero of ``h``."""
    out[:] = 0.0
    for j in range(h.size):
        hj = h[j]
        if hj != 0.0:
            row = MT[j]
            for i in range(out.size):
                out[i] += hj * row[i]


@njit(cache=True, nogil=True)
def sista_outputs(X, DT, ADT, FT, h, y0, lam1, lam2, identity_F, y_out, objective_out,
                  start, stop):
    """The reconstructions ``y_t = D h_t`` and SISTA's objective of every frame, in one pass.

    ``objective[b, t] = 1/2 ||x_t - A D h_t||^2 + lam1 ||h_t||_1
    + lam2/2 ||y_t - F y_{t-1}||^2`` (float64, with ``y_{-1} = y0[b]``), where ``DT``,
    ``ADT`` and ``FT`` are ``D^T`` (N, N), ``(A D)^T`` (N, M) and ``F^T`` (ignored when
    ``identity_F``). The products skip the zeros of the sparse codes, and nothing of size
    (B, T, N) is allocated: dense products and temporaries cost more than SISTA itself.
    ``y_out`` (B, T, N, the codes' dtype) and ``objective_out`` (B, T) are written for the
    sequences ``start:stop``.
    """
    B, T, M = X.shape
    N = h.shape[2]
    for b in range(start, stop):
        fit = np.empty(M)
        y = np.empty(N)
        previous = y0[b].copy()
        moved = np.empty(N)
        for t in range(T):
            for m in range(M):
                fit[m] = X[b, t, m]
            y[:] = 0.0
            l1 = 0.0
            for j in range(N):
                hj = np.float64(h[b, t, j])
                if hj != 0.0:  # one row of D^T and of (A D)^T per non-zero
                    l1 += abs(hj)
                    for i in range(N):
                        y[i] += hj * DT[j, i]
                    for m in range(M):
                        fit[m] -= hj * ADT[j, m]
            if identity_F:
                moved[:] = previous
            else:
                moved[:] = 0.0
                for j in range(N):
                    for i in range(N):
                        moved[i] += previous[j] * FT[j, i]
            squares = 0.0
            for m in range(M):
                squares += fit[m] * fit[m]
            drift = 0.0
            for i in range(N):
                d = y[i] - moved[i]
                drift += d * d
                y_out[b, t, i] = y[i]
            objective_out[b, t] = 0.5 * squares + lam1 * l1 + 0.5 * lam2 * drift
            previous[:] = y
