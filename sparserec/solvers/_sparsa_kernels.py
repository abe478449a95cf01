"""Numba kernel of SpaRSA (:mod:`sparserec.solvers.sparsa`).

Every problem, a signal of a batch or a frame of a sequence, is a lasso

    min_h  1/2 ||c - Phi h||^2 + lam1 ||h||_1

with its own target ``c``: for SISTA's frame problem ``Phi`` stacks ``A D`` over
``sqrt(lam2) D`` and ``c`` stacks ``x_t`` over ``sqrt(lam2) F D h_{t-1}``. Each problem has
its own step, backtracking and stop; callers pass ``Phi`` transposed, contiguous, so that a
column of ``Phi`` is a row.
"""

import numpy as np
from numba import njit

from ._base_kernels import soft


@njit(cache=True, nogil=True)
def sparsa_sequences(X, PhiT, CT, PT, h0, predict, lam1, alpha_min, alpha_max, sigma, eta,
                     memory, max_iter, tol, gap_stop, fixed, h_out, iters_out, converged_out,
                     objective_out, backtracks_out, start, stop):
    """SpaRSA on the frames of sequences ``start:stop``, frame after frame.

    Parameters
    ----------
    X : (B, T, M) array, the measurements (T = 1 for a batch of lasso signals).
    PhiT : (N, K) array, the transposed (stacked) matrix; ``K > M`` adds the temporal rows.
    CT : (N, K - M) array, the transpose of ``sqrt(lam2) F D``: the temporal rows' target is
        ``sqrt(lam2) F D h_{t-1}`` (unused when ``K == M``).
    PT : (N, N) array, the transpose of ``P = D^T F D``: frame ``t`` starts from
        ``P h_{t-1}`` when ``predict``, else from ``h_{t-1}`` (the lasso's warm start).
    h0 : (B, N) array, the code before the first frame (the lasso's initial code).
    lam1 : float, the l1 weight.
    alpha_min, alpha_max, sigma, eta : floats, the safeguards of the step (see ``sparsa``).
    memory : int, the acceptance test compares with the largest of the last ``memory``
        objectives.
    max_iter : int, iterations per frame (exactly, when ``fixed``).
    tol : float, stop a frame (unless ``fixed``) when its duality gap is at most
        ``tol 1/2 ||c||^2`` (``gap_stop``), or when ``|f_k - f_{k-1}| <= tol f_{k-1}``.
    gap_stop : bool, the stopping test: the relative duality gap, or the relative change
        of the objective.
    h_out : (B, T, N) array, the codes (written).
    iters_out, backtracks_out : (B, T) int64 arrays, iterations and rejected trial steps
        per frame (written).
    converged_out : (B, T) bool array (written).
    objective_out : (B, T) float64 array, the final objective per frame (written).
    start, stop : ints, the sequences to run.
    """
    B, T, M = X.shape
    N, K = PhiT.shape
    dtype = h0.dtype
    h = np.empty(N, dtype)
    trial = np.empty(N, dtype)
    step = np.empty(N, dtype)  # h_k - h_{k-1}
    old_grad = np.empty(N)
    grad = np.empty(N)
    prev = np.empty(N, dtype)
    # The vectors of length K and the gradient in float64, whatever the codes' dtype: the
    # gradient and the duality gap near the solution are differences of nearly equal
    # numbers, which float32 could not resolve to a gap of 1e-6.
    target = np.empty(K)
    residual = np.empty(K)  # Phi h - c
    moved = np.empty(K)  # Phi trial - c
    last = np.empty(max(memory, 1))  # the last objectives, a ring
    for b in range(start, stop):
        prev[:] = h0[b]
        for t in range(T):
            for m in range(M):
                target[m] = X[b, t, m]
            for i in range(M, K):
                target[i] = 0.0
            if predict:
                h[:] = 0.0
            else:
                h[:] = prev
            for j in range(N):  # over the non-zeros of h_{t-1}
                pj = np.float64(prev[j])
                if pj != 0.0:
                    for i in range(M, K):
                        target[i] += pj * CT[j, i - M]
                    if predict:
                        for i in range(N):
                            h[i] += prev[j] * PT[j, i]
            # residual and objective at the starting point
            for i in range(K):
                residual[i] = -target[i]
            l1 = 0.0
            for j in range(N):
                hj = np.float64(h[j])
                if hj != 0.0:
                    l1 += abs(hj)
                    for i in range(K):
                        residual[i] += hj * PhiT[j, i]
            f = 0.5 * _squares(residual) + lam1 * l1
            last[:] = f
            scale = 0.5 * _squares(target)
            alpha = 0.0  # chosen at the first iteration
            sd = 0.0  # the last step's s^T s, for Barzilai-Borwein
            iters = 0
            backtracks = 0
            done = False
            while True:
                for j in range(N):
                    grad[j] = _dot(PhiT[j], residual)
                if gap_stop:
                    done = _duality_gap(f, grad, residual, target, lam1) <= tol * scale
                if iters >= max_iter or (done and not fixed):
                    break
                if iters == 0:
                    # The first step: the curvature along the gradient (no previous step for
                    # Barzilai-Borwein), scale-free, unlike a fixed alpha = 1.
                    gg = _squares(grad)
                    moved[:] = 0.0
                    for j in range(N):
                        gj = grad[j]
                        if gj != 0.0:
                            for i in range(K):
                                moved[i] += gj * PhiT[j, i]
                    alpha = _clamp(_squares(moved) / gg if gg > 0.0 else 1.0,
                                   alpha_min, alpha_max)
                elif sd > 0.0:
                    # Barzilai-Borwein: s^T (g_k - g_{k-1}) / s^T s, which is
                    # ||Phi s||^2 / ||s||^2 with s = h_k - h_{k-1} (the previous step)
                    sy = 0.0
                    for j in range(N):
                        sy += np.float64(step[j]) * (grad[j] - old_grad[j])
                    if sy > 0.0:  # (not so only by rounding: keep the last alpha)
                        alpha = _clamp(sy / sd, alpha_min, alpha_max)
                reference = last.max()
                while True:
                    inverse = 1.0 / alpha
                    thresh = lam1 * inverse
                    dd = 0.0
                    l1 = 0.0
                    for j in range(N):
                        trial[j] = soft(h[j] - inverse * grad[j], thresh, False)
                        s = np.float64(trial[j])  # (rounded to the codes' dtype)
                        dd += (s - h[j]) ** 2
                        l1 += abs(s)
                    # The trial's residual from scratch (over its non-zeros), not updated
                    # step by step: no rounding drift over thousands of float32 steps.
                    for i in range(K):
                        moved[i] = -target[i]
                    for j in range(N):
                        sj = np.float64(trial[j])
                        if sj != 0.0:
                            for i in range(K):
                                moved[i] += sj * PhiT[j, i]
                    f_trial = 0.5 * _squares(moved) + lam1 * l1
                    # Non-monotone acceptance: below the largest recent objective, by a
                    # margin. A step that vanished in rounding (dd = 0) or an alpha at its
                    # cap ends the search: nothing smaller can be tried.
                    if (f_trial <= reference - 0.5 * sigma * alpha * dd or dd == 0.0
                            or alpha >= alpha_max):
                        break
                    alpha = min(eta * alpha, alpha_max)
                    backtracks += 1
                for j in range(N):
                    step[j] = trial[j] - h[j]
                    old_grad[j] = grad[j]
                sd = dd
                h[:] = trial
                residual[:] = moved
                last[iters % last.size] = f_trial
                iters += 1
                if not gap_stop:
                    done = abs(f_trial - f) <= tol * f
                f = f_trial
            h_out[b, t] = h
            iters_out[b, t] = iters
            converged_out[b, t] = done
            objective_out[b, t] = f
            backtracks_out[b, t] = backtracks
            prev[:] = h


@njit(cache=True)
def _duality_gap(f, grad, residual, target, lam1):
    """The lasso's duality gap at a code of objective ``f``, gradient ``grad = Phi^T r`` and
    residual ``r = Phi h - c``: the dual point is ``-r`` scaled into the dual feasible set,
    as in :func:`sparserec.solvers.lasso_duality_gap`."""
    peak = 0.0
    for j in range(grad.size):
        peak = max(peak, abs(np.float64(grad[j])))
    shrink = min(1.0, lam1 / max(peak, 1e-300))
    rr = 0.0
    cr = 0.0
    for i in range(residual.size):
        r = np.float64(residual[i])
        rr += r * r
        cr += np.float64(target[i]) * r
    return f - (-shrink * cr - 0.5 * shrink * shrink * rr)


@njit(cache=True)
def _squares(v):
    total = 0.0
    for i in range(v.size):
        total += np.float64(v[i]) ** 2
    return total


@njit(cache=True)
def _dot(u, v):
    total = 0.0
    for i in range(u.size):
        total += u[i] * v[i]
    return total


@njit(cache=True)
def _clamp(value, low, high):
    return min(max(value, low), high)
