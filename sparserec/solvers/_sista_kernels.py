"""Numba kernel of SISTA (:mod:`sparserec.solvers.sista`).

Sequences are rows of a batch; callers pass the transposes of the matrices they need,
contiguous, so that a product with a code runs along a row.
"""

import numpy as np
from numba import njit

from ._base_kernels import soft


@njit(cache=True, nogil=True)
def sista_recursion(X, VT, ST, PT, SPT, DT, ADT, FDT, h0, lam1, lam2, lam2_over_alpha, thresh,
                    n_iter, tol, fixed, identity_F, h_out, y_out, iters_out, converged_out,
                    objective_out, start, stop):
    """SISTA over a batch of sequences, with its outputs, frame after frame in one pass.

    Implements the SISTA iteration of the theory page (docs/theory.rst)::

        h_t^(0) = P h_{t-1}
        h_t^(k) = soft_{lam1/alpha}(S h_t^(k-1) + V x_t + (lam2/alpha) P h_{t-1})

    and, while ``h_t`` is in cache, ``y_t = D h_t`` and the objective (float64)
    ``1/2 ||x_t - A D h_t||^2 + lam1 ||h_t||_1 + lam2/2 ||y_t - F y_{t-1}||^2`` with
    ``y_{-1} = D h_0``.

    Sequences are independent: the kernel runs sequences ``start:stop`` without the GIL,
    so that threads share the batch (:func:`sparserec._threads.in_threads`) with no
    synchronisation per frame. Every product but ``V x_t`` skips the zeros of a sparse
    code (a row of a transposed matrix per non-zero), which a dense BLAS call cannot:
    ``S h_t^(0) = (S P) h_{t-1}`` and ``F y_{t-1} = (F D) h_{t-1}``, because ``P h_{t-1}``
    and ``y_{t-1}`` are dense. Nothing of size (B, T, N) is read, only the outputs written.

    Parameters
    ----------
    X : (B, T, M) array, the measurements.
    VT, ST, PT, SPT : (M, N), (N, N), (N, N), (N, N) arrays, the transposes of
        ``V = D^T A^T / alpha``, ``S``, ``P = D^T F D`` and ``S P``, in the codes' dtype.
    DT, ADT, FDT : (N, N), (N, M), (N, N) float64 arrays, the transposes of ``D``,
        ``A D`` and ``F D`` (``FDT`` is ignored when ``identity_F``).
    h0 : (B, N) array, the code before the first frame.
    lam1, lam2 : floats, the weights of the objective.
    lam2_over_alpha, thresh : the codes' dtype, ``lam2 / alpha`` and ``lam1 / alpha``.
    n_iter : int, iterations per frame (exactly, when ``fixed``; at most, otherwise).
    tol : float, per-frame stop on ``||h^(k) - h^(k-1)|| <= tol ||h^(k)||`` (unless ``fixed``).
    fixed : bool, run exactly ``n_iter`` iterations per frame (the unfolded network).
    identity_F : bool, ``F`` is the identity, so ``F y_{t-1} = y_{t-1}``.
    h_out, y_out : (B, T, N) arrays, the codes and ``D h_t`` (written).
    iters_out : (B, T) int64 array, iterations used per frame (written).
    converged_out : (B, T) bool array, whether the last iteration of each frame met
        ``tol`` (written; False when ``n_iter`` is 0).
    objective_out : (B, T) float64 array, the objective of every frame (written).
    start, stop : ints, the sequences to run.
    """
    B, T, M = X.shape
    N = h0.shape[1]
    dtype = h0.dtype
    h = np.empty(N, dtype)
    Ph = np.empty(N, dtype)
    SPh = np.empty(N, dtype)
    c = np.empty(N, dtype)
    nz = np.empty(N, np.int64)
    y = np.empty(N)
    moved = np.empty(N)  # F y_{t-1}
    moved_next = np.empty(N)
    fit = np.empty(M)
    for b in range(start, stop):
        h[:] = h0[b]
        n = 0
        for j in range(N):
            nz[n] = j
            n += h[j] != 0.0
        # P h_{-1}, S P h_{-1} and F y_{-1} = F D h_0, over the non-zeros of h_0
        Ph[:] = 0.0
        SPh[:] = 0.0
        moved[:] = 0.0
        for q in range(n):
            j = nz[q]
            hj = h[j]
            hj64 = np.float64(hj)
            for i in range(N):
                Ph[i] += hj * PT[j, i]
                SPh[i] += hj * SPT[j, i]
            if identity_F:
                for i in range(N):
                    moved[i] += hj64 * DT[j, i]
            else:
                for i in range(N):
                    moved[i] += hj64 * FDT[j, i]
        for t in range(T):
            # V x_t (dense, M x N), then the constant part of every iteration's argument
            c[:] = 0.0
            for m in range(M):
                xm = X[b, t, m]
                for i in range(N):
                    c[i] += xm * VT[m, i]
            for i in range(N):
                c[i] += lam2_over_alpha * Ph[i]
            h[:] = Ph
            iters_out[b, t] = 0
            converged_out[b, t] = False
            for k in range(n_iter):
                if k == 0:
                    for i in range(N):
                        SPh[i] += c[i]  # S h^(0) + c; SPh is rebuilt after the frame
                    z = SPh
                else:
                    z = Ph  # free until the end of the frame: reuse it for S h^(k) + c
                    z[:] = c
                    for q in range(n):
                        j = nz[q]
                        hj = h[j]
                        for i in range(N):
                            z[i] += hj * ST[j, i]
                # The stopping test's sums (a serial dependency) only where they are used,
                # so that the other loop vectorises.
                change = 0.0
                norm = 0.0
                if not fixed or k == n_iter - 1:
                    for j in range(N):
                        s = soft(z[j], thresh, False)
                        change += (s - h[j]) ** 2
                        norm += s * s
                        h[j] = s
                else:
                    for j in range(N):
                        h[j] = soft(z[j], thresh, False)
                n = 0  # the non-zeros of h, branch-free
                for j in range(N):
                    nz[n] = j
                    n += h[j] != 0.0
                iters_out[b, t] = k + 1
                done = change <= tol * tol * norm
                converged_out[b, t] = done
                if done and not fixed:
                    break
            if n_iter == 0:
                n = 0
                for j in range(N):
                    nz[n] = j
                    n += h[j] != 0.0
            # Over the non-zeros of h_t: y_t, the fit, and what frame t + 1 needs
            for m in range(M):
                fit[m] = X[b, t, m]
            y[:] = 0.0
            Ph[:] = 0.0
            SPh[:] = 0.0
            if not identity_F:
                moved_next[:] = 0.0
            l1 = 0.0
            for q in range(n):
                j = nz[q]
                hj = h[j]
                hj64 = np.float64(hj)
                l1 += abs(hj64)
                for i in range(N):
                    y[i] += hj64 * DT[j, i]
                for m in range(M):
                    fit[m] -= hj64 * ADT[j, m]
                for i in range(N):
                    Ph[i] += hj * PT[j, i]
                for i in range(N):
                    SPh[i] += hj * SPT[j, i]
                if not identity_F:
                    for i in range(N):
                        moved_next[i] += hj64 * FDT[j, i]
            squares = 0.0
            for m in range(M):
                squares += fit[m] * fit[m]
            drift = 0.0
            for i in range(N):
                d = y[i] - moved[i]
                drift += d * d
                y_out[b, t, i] = y[i]
                h_out[b, t, i] = h[i]
            objective_out[b, t] = 0.5 * squares + lam1 * l1 + 0.5 * lam2 * drift
            if identity_F:
                moved[:] = y
            else:
                moved[:] = moved_next
