"""Numba kernels of :func:`sparserec.lasso`: coordinate descent over a shared Gram matrix.

For every signal (row ``b``) the kernels minimise ``1/2 ||x_b - Phi h_b||^2 + lam ||h_b||_1``
knowing only ``G = Phi^T Phi`` (shared), ``c_b = Phi^T x_b`` and ``||x_b||^2``: the
correlation of the residual is ``q = Phi^T r = c - G h`` and the residual norm is
``||r||^2 = ||x||^2 - h.c - h.q``. Only the final check of each signal's gap goes back to
``Phi`` and ``x``, because that norm cancels.

The solver of one signal is an outer loop (duality gap, gap-safe screening, working set)
around cyclic coordinate descent on a small working set with Anderson acceleration, as in
celer and skglm (Massias et al. 2018, 2020; Bertrand et al. 2022). Signals are
independent: the batch kernel releases the GIL, and :func:`sparserec.lasso` runs chunks of
rows in threads. Everything is float64: float32 was not faster (the time goes to index
work and short loops, not memory traffic), and its round-off sits near the 1e-6 relative
gap that the solver must certify.
"""

import numpy as np
from numba import njit

from ._base_kernels import soft


@njit(cache=True)
def _residual_correlation(G, c, h, q):
    """``q = c - G h``, summing only over the non-zeros of ``h`` (G is symmetric)."""
    q[:] = c
    N = c.size
    for j in range(N):
        hj = h[j]
        if hj != 0.0:
            row = G[j]
            for i in range(N):
                q[i] -= hj * row[i]


@njit(cache=True)
def _violation(qk, hk, lam, positive):
    """Distance of the correlation ``q_k`` to ``lam * subdifferential of |h_k|``."""
    if hk > 0.0:
        return abs(qk - lam)
    if hk < 0.0:
        return abs(qk + lam)
    if positive:
        return max(qk - lam, 0.0)
    return max(abs(qk) - lam, 0.0)


_ANDERSON = 3  # epochs between extrapolations


@njit(cache=True)
def _anderson_weights(past):
    """Anderson extrapolation (as in skglm, Bertrand & Massias 2021): the weights, summing
    to 1, of the affine combination of the last iterates ``past[1:]`` with the smallest
    combined step; empty when the steps are degenerate."""
    K, w = past.shape[0] - 1, past.shape[1]
    UU = np.empty((K, K))
    for a in range(K):
        for b in range(a + 1):
            dot = 0.0
            for i in range(w):
                dot += (past[a + 1, i] - past[a, i]) * (past[b + 1, i] - past[b, i])
            UU[a, b] = dot
            UU[b, a] = dot
    trace = 0.0
    for a in range(K):
        trace += UU[a, a]
    if trace == 0.0:
        return np.empty(0)
    for a in range(K):
        UU[a, a] += 1e-10 * trace  # ridge: the steps are often nearly collinear
    z = np.ones(K)
    for j in range(K):  # UU z = 1 by Cholesky (UU is symmetric positive definite)
        for k in range(j):
            UU[j, j] -= UU[j, k] * UU[j, k]
        if UU[j, j] <= 0.0:
            return np.empty(0)
        UU[j, j] = np.sqrt(UU[j, j])
        for i in range(j + 1, K):
            for k in range(j):
                UU[i, j] -= UU[i, k] * UU[j, k]
            UU[i, j] /= UU[j, j]
    for i in range(K):
        for k in range(i):
            z[i] -= UU[i, k] * z[k]
        z[i] /= UU[i, i]
    for i in range(K - 1, -1, -1):
        for k in range(i + 1, K):
            z[i] -= UU[k, i] * z[k]
        z[i] /= UU[i, i]
    total = z.sum()
    if not np.isfinite(total) or total == 0.0:
        return np.empty(0)
    return z / total


@njit(cache=True)
def _combine(weights, past):
    """``sum_a weights[a] past[a + 1]``."""
    out = np.zeros(past.shape[1])
    for a in range(weights.size):
        for i in range(past.shape[1]):
            out[i] += weights[a] * past[a + 1, i]
    return out


@njit(cache=True)
def _extrapolate(cw, qw, hw, xx, lam, positive, past_h, past_q):
    """Anderson extrapolation of the last iterates, kept if it lowers the objective. ``q``
    is affine in ``h``, so its combination is the same one of the past ``q``: no product
    with the Gram block."""
    weights = _anderson_weights(past_h)
    if weights.size == 0:
        return
    h_new = _combine(weights, past_h)
    q_new = _combine(weights, past_q)
    if _gap(cw, q_new, h_new, xx, lam, positive)[1] < _gap(cw, qw, hw, xx, lam, positive)[1]:
        hw[:] = h_new
        qw[:] = q_new


@njit(cache=True)
def _cd_epochs(Gw, cw, qw, hw, xx, lam, positive, max_epochs, tol_gap, tol_violation,
               check_gap):
    """Cyclic coordinate descent on one working set, with Anderson acceleration.

    ``Gw`` is the working set's Gram block, ``cw`` its ``Phi^T x``, ``qw`` its residual
    correlation and ``hw`` its codes (both updated). Stops when the largest KKT violation
    is ``<= tol_violation`` or, with ``check_gap``, when the duality gap of the problem
    restricted to the working set is ``<= tol_gap``. One O(w) test per epoch: with
    ``check_gap`` the gap's, and the violation's only every eighth epoch (it then only
    guards against round-off). Returns the epochs run.
    """
    w = hw.size
    thresh = np.empty(w)
    inverse = np.empty(w)
    for k in range(w):
        inverse[k] = 1.0 / Gw[k, k]
        thresh[k] = lam * inverse[k]
    past_h = np.empty((_ANDERSON + 1, w))  # the last iterates, for extrapolation
    past_q = np.empty((_ANDERSON + 1, w))
    n_past = 0
    for epoch in range(max_epochs):
        for k in range(w):
            old = hw[k]
            # the exact minimiser along coordinate k, then shrunk
            new = soft(old + qw[k] * inverse[k], thresh[k], positive)
            if new != old:
                step = new - old
                row = Gw[k]
                for i in range(w):
                    qw[i] -= step * row[i]
                hw[k] = new
        if not positive:  # (the clipping at 0 would make q's combination wrong)
            past_h[n_past] = hw
            past_q[n_past] = qw
            n_past += 1
            if n_past == _ANDERSON + 1:
                n_past = 0
                _extrapolate(cw, qw, hw, xx, lam, positive, past_h, past_q)
        if check_gap:
            if _gap(cw, qw, hw, xx, lam, positive)[0] <= tol_gap:
                return epoch + 1
            if epoch % 8 != 7:  # the violation test now and then only: it is the fallback
                continue
        worst = 0.0
        for k in range(w):
            worst = max(worst, _violation(qw[k], hw[k], lam, positive))
        if worst <= tol_violation:
            return epoch + 1
    return max_epochs


@njit(cache=True)
def _gap(c, q, h, xx, lam, positive):
    """Duality gap at ``theta = s r``, ``s = min(1, lam / ||Phi^T r||_inf)``.

    Uses ``||r||^2 = ||x||^2 - h.c - h.q`` and ``x.r = ||x||^2 - h.c``, over the given
    coordinates only (the problem restricted to them, whose dual constraints are fewer).
    Returns the gap, the primal objective, ``||Phi^T r||_inf`` (one-sided if ``positive``)
    and the size of the support, all from one pass.
    """
    hc = 0.0
    hq = 0.0
    l1 = 0.0
    dual_norm = 0.0
    n_support = 0
    for j in range(c.size):
        hj = h[j]
        if hj != 0.0:
            hc += hj * c[j]
            hq += hj * q[j]
            l1 += abs(hj)
            n_support += 1
        dual_norm = max(dual_norm, q[j] if positive else abs(q[j]))
    r2 = max(xx - hc - hq, 0.0)
    s = 1.0 if dual_norm <= lam else lam / dual_norm
    primal = 0.5 * r2 + lam * l1
    return primal - (s * (xx - hc) - 0.5 * s * s * r2), primal, dual_norm, n_support


_NEAR = 0.9  # zeros with |q_j| above this fraction of lam are working-set candidates


@njit(cache=True)
def _mark_largest(scores, index, n, k, low, high, marks):
    """Set ``marks[index[a]]`` for about the ``k`` largest of ``scores[:n]``, all in
    ``[low, high]``: those above the histogram bin (of 64) where the count from the top
    reaches ``k``, then that bin's first ones. Two branch-light passes, no sort."""
    counts = np.zeros(65, np.int64)
    width = max(high - low, 1e-300) / 64.0
    for a in range(n):
        counts[min(int((scores[a] - low) / width), 64)] += 1
    cut = 64
    above = counts[64]
    while cut > 0 and above + counts[cut - 1] <= k:
        cut -= 1
        above += counts[cut]
    room = k - above  # taken from bin cut - 1, in index order
    for a in range(n):
        bin = min(int((scores[a] - low) / width), 64)
        if bin >= cut:
            marks[index[a]] = True
        elif bin == cut - 1 and room > 0:
            marks[index[a]] = True
            room -= 1


@njit(cache=True)
def _working_set(scores, candidates, n_candidates, grow, lam, worst, in_ws):
    """The working set: the coordinates already marked in ``in_ws`` (the support) and the
    ``grow`` best of the candidates (scores ``|q_j|`` between ``_NEAR lam`` and
    ``worst + lam``), as sorted indices."""
    if n_candidates > grow:
        _mark_largest(scores, candidates, n_candidates, grow, _NEAR * lam, worst + lam, in_ws)
    else:
        for a in range(n_candidates):
            in_ws[candidates[a]] = True
    return np.flatnonzero(in_ws)


@njit(cache=True)
def lasso_gram_one(G, norms, c, xx, lam, h, tol, max_epochs, positive, grow, work):
    """Solve one lasso problem from ``G``, ``c = Phi^T x`` and ``xx = ||x||^2``.

    Parameters
    ----------
    G : (N, N) array, ``Phi^T Phi`` (symmetric).
    norms : (N,) array, the column norms ``sqrt(G_jj)``.
    c : (N,) array, ``Phi^T x``.
    xx : float, ``||x||^2``.
    lam : float, the l1 weight.
    h : (N,) array, the starting codes; overwritten by the solution.
    tol : float, absolute duality gap to reach.
    max_epochs : int, limit on the coordinate-descent epochs (passes over a working set).
    positive : bool, constrain the codes to be non-negative.
    grow : int, how many candidates join the support in the working set.
    work : 1-D array, room for the working set's Gram block (reused from signal to signal,
        replaced by a larger one when too small).

    Returns
    -------
    epochs : int, epochs run.
    gap : float, the last duality gap (from G and c).
    q : (N,) array, ``c - G h`` at the returned ``h``.
    work : the work array (the given one, or its larger replacement).
    """
    N = c.size
    q = np.empty(N)
    _residual_correlation(G, c, h, q)
    kept = np.ones(N, np.bool_)  # not (yet) screened out
    for j in range(N):
        if norms[j] <= 0.0:  # an all-zero column: its code is 0, its constraint void
            kept[j] = False
            h[j] = 0.0
    candidates = np.empty(N, np.int64)
    scores = np.empty(N)
    in_ws = np.empty(N, np.bool_)
    epochs = 0
    last_objective = np.inf
    # A violation floor at round-off, so that a tol of 0 cannot loop forever.
    floor = 16.0 * np.finfo(np.float64).eps * max(np.abs(c).max(), lam)
    while True:
        # The gap of the whole problem (screened coordinates included: their constraints
        # hold at the optimum, but the dual point must be feasible for all of them now).
        gap, objective, dual_norm, n_support = _gap(c, q, h, xx, lam, positive)
        s = 1.0 if dual_norm <= lam else lam / dual_norm
        if gap <= tol or epochs >= max_epochs or not objective < last_objective:
            return epochs, gap, q, work  # (a round that did not decrease it: round-off level)
        last_objective = objective

        # Gap-safe screening (Fercoq et al. 2015): the dual is 1-strongly concave, so
        # ||theta - theta*|| <= sqrt(2 gap); |Phi_j^T theta*| < lam proves h*_j = 0.
        radius = np.sqrt(2.0 * max(gap, 0.0))
        worst = 0.0
        n_violators = 0
        n_candidates = 0
        for j in range(N):
            in_ws[j] = False
            if not kept[j]:
                continue
            if h[j] != 0.0:
                in_ws[j] = True
                worst = max(worst, _violation(q[j], h[j], lam, positive))
                continue
            qj = q[j] if positive else abs(q[j])
            if s * qj + radius * norms[j] < lam:
                kept[j] = False
                continue
            if qj > lam:
                worst = max(worst, qj - lam)
                n_violators += 1
            # Candidates: the violators, and the zeros close to violating, which would
            # otherwise often start violating after this round and cost one more.
            if qj > _NEAR * lam:
                candidates[n_candidates] = j
                scores[n_candidates] = qj
                n_candidates += 1
        # Working set: the support and the `grow` best candidates. Growing by a fixed
        # number, not by doubling as celer does, keeps the Gram block small: measured
        # faster on every problem tried, from 64 x 256 to 400 x 800.
        complete = n_violators <= grow  # then every violator is in the working set
        ws = _working_set(scores, candidates, n_candidates, grow, lam, worst, in_ws)
        w = ws.size
        if w * w > work.size:
            work = np.empty(max(w * w, 2 * work.size))
        Gw = work[:w * w].reshape((w, w))
        cw = np.empty(w)
        qw = np.empty(w)
        hw = np.empty(w)
        for a in range(w):
            ja = ws[a]
            cw[a] = c[ja]
            qw[a] = q[ja]
            hw[a] = h[ja]
            for b in range(w):
                Gw[a, b] = G[ja, ws[b]]
        # Once the working set holds every violator it is solved to the final gap;
        # before, to 0.3 times the worst violation (skglm's rule), since it will grow.
        epochs += _cd_epochs(Gw, cw, qw, hw, xx, lam, positive, max_epochs - epochs, tol,
                             floor if complete else max(0.3 * worst, floor), complete)
        for a in range(w):
            h[ws[a]] = hw[a]
        # Recomputed, not updated: no drift of q over the outer iterations.
        _residual_correlation(G, c, h, q)


@njit(cache=True)
def _explicit_gap(PhiT, x, h, q, lam, positive):
    """Duality gap and primal objective with ``||r||^2`` and ``x.r`` from the explicit
    residual ``r = x - Phi h`` (over the non-zeros of ``h``: no cancellation, unlike the
    Gram form), and the dual scaling from ``q = Phi^T r``."""
    r = x.copy()
    l1 = 0.0
    for j in range(h.size):
        hj = h[j]
        if hj != 0.0:
            l1 += abs(hj)
            row = PhiT[j]
            for m in range(r.size):
                r[m] -= hj * row[m]
    r2 = 0.0
    xr = 0.0
    for m in range(r.size):
        r2 += r[m] * r[m]
        xr += x[m] * r[m]
    dual_norm = 0.0
    for j in range(q.size):
        dual_norm = max(dual_norm, q[j] if positive else abs(q[j]))
    s = 1.0 if dual_norm <= lam else lam / dual_norm
    primal = 0.5 * r2 + lam * l1
    return primal - (s * xr - 0.5 * s * s * r2), primal


@njit(cache=True, nogil=True)
def lasso_gram_rows(G, PhiT, X, C, lam, H, rtol, max_epochs, positive, grow, single,
                    epochs_out, gap_out, objective_out, start, stop):
    """Solve the lasso for rows ``start:stop`` of ``X`` (B, M), in float64.

    ``G`` is ``Phi^T Phi`` (N, N), ``PhiT`` is ``Phi^T`` (N, M) and ``C`` is ``X Phi``
    (B, N). ``H`` (B, N) holds the warm starts and is overwritten by the codes, rounded to
    float32 if ``single``. Each signal runs :func:`lasso_gram_one` to the relative gap
    ``rtol`` (of ``1/2 ||x||^2``), then its gap is recomputed from the explicit residual;
    if cancellation in the Gram form hid a larger gap, it runs once more to a hundredth of
    the tolerance with a fresh budget of ``max_epochs`` epochs. Writes ``epochs_out``, the
    relative gaps ``gap_out`` and the objectives ``objective_out`` (B,). It releases the
    GIL, so that threads can share the rows (a ``prange`` version took longer to compile
    than the whole solver).
    """
    N = C.shape[1]
    norms = np.empty(N)
    for j in range(N):
        norms[j] = np.sqrt(max(G[j, j], 0.0))
    work = np.empty(min(N, 128) ** 2)
    for b in range(start, stop):
        x, h = X[b], H[b]
        xx = 0.0
        for m in range(x.size):
            xx += x[m] * x[m]
        if xx == 0.0:
            h[:] = 0.0  # the solution for x = 0, whatever the warm start
        scale = max(0.5 * xx, 1e-300)
        tol = rtol * scale
        epochs = 0
        for _ in range(2):
            n, _, q, work = lasso_gram_one(G, norms, C[b], xx, lam, h, tol, max_epochs,
                                           positive, grow, work)
            epochs += n
            if single:
                for j in range(N):
                    h[j] = np.float32(h[j])
                _residual_correlation(G, C[b], h, q)
            gap, objective = _explicit_gap(PhiT, x, h, q, lam, positive)
            if gap <= rtol * scale:
                break
            tol *= 0.01
        epochs_out[b] = epochs
        gap_out[b] = gap / scale
        objective_out[b] = objective


# ----------------------------------------------------------------------------------------
# Coordinate descent on the residual: one large problem, no Gram matrix
#
# For few signals and many features the Gram matrix (N^2 M for one signal) costs more
# than the whole solve. These kernels keep the residual r = x - Phi h instead (skglm's and
# celer's design): a coordinate step reads one column of Phi, and each outer round one
# product Phi^T r. Phi is given by its columns: the rows of a C-contiguous ``PhiT`` (dense),
# or the CSC arrays ``data, indices, indptr`` (sparse); ``dense`` chooses.


@njit(cache=True, fastmath={"reassoc", "contract"})
def _column_dot(dense, PhiT, data, indices, indptr, j, r):
    """``Phi_j . r``, summed in any order (reassociation lets the loop vectorise)."""
    total = 0.0
    if dense:
        column = PhiT[j]
        for i in range(r.size):
            total += column[i] * r[i]
    else:
        for k in range(indptr[j], indptr[j + 1]):
            total += data[k] * r[indices[k]]
    return total


@njit(cache=True)
def _column_axpy(dense, PhiT, data, indices, indptr, j, a, r):
    """``r += a Phi_j``."""
    if dense:
        column = PhiT[j]
        for i in range(r.size):
            r[i] += a * column[i]
    else:
        for k in range(indptr[j], indptr[j + 1]):
            r[indices[k]] += a * data[k]


@njit(cache=True)
def _residual_gap(x, r, m, shift, h, q, lam, positive):
    """Duality gap and primal objective at the residual ``r + m shift`` and its
    correlations ``q``, and the dual scaling."""
    r2 = 0.0
    xr = 0.0
    for i in range(r.size):
        ri = r[i] + m * shift[i]
        r2 += ri * ri
        xr += x[i] * ri
    l1 = 0.0
    dual_norm = 0.0
    for j in range(h.size):
        l1 += abs(h[j])
        dual_norm = max(dual_norm, q[j] if positive else abs(q[j]))
    s = 1.0 if dual_norm <= lam else lam / dual_norm
    primal = 0.5 * r2 + lam * l1
    return primal - (s * xr - 0.5 * s * s * r2), primal, s


@njit(cache=True)
def lasso_residual_one(dense, PhiT, data, indices, indptr, norms2, means, shift, x, lam, h,
                       tol, max_epochs, positive, q, q_valid):
    """Solve ``min_h 1/2 ||x - Phi_c h||^2 + lam ||h||_1`` by coordinate descent on the
    residual, with working sets, gap-safe screening and Anderson extrapolation.

    ``Phi_c = Phi - shift means^T`` is ``Phi`` with its columns centred, implicitly: a
    sparse ``Phi`` stays sparse. ``shift`` is ones, or the square roots of the weights of
    the measurements when ``Phi`` and ``x`` are their rows scaled by them. The residual
    is kept as ``r + m shift``, ``r = x - Phi h`` updated over a column's non-zeros and
    ``m = means . h``; with ``x`` centred (``shift . x = 0``) and
    ``means`` the weighted means, ``Phi_c_j . (r + m shift) = Phi_j . r + m W means_j``,
    ``W = shift . shift``. ``means`` is zero for no centring.

    Parameters
    ----------
    dense : bool, ``Phi`` is ``PhiT`` (N, M) C-contiguous; else CSC ``data, indices, indptr``.
    norms2 : (N,) array, the squared column norms of ``Phi_c``.
    means : (N,) array, the column means that ``Phi_c`` subtracts (zeros for ``Phi``).
    shift : (M,) array, the direction of the centring (ones, or square roots of weights).
    x : (M,) array, the signal (centred if ``means`` is not zero).
    lam : float, the l1 weight.
    h : (N,) array, the warm start; overwritten by the solution.
    tol : float, the absolute duality gap to reach.
    max_epochs : int, limit on the coordinate-descent epochs over working sets.
    positive : bool, constrain the codes to be non-negative.
    q : (N,) array, the correlations ``Phi_c^T (x - Phi_c h)`` (written, and read if
        ``q_valid``: a path hands them from one penalty to the next, saving a product).
    q_valid : bool, ``q`` holds the correlations of the given ``h``.

    Returns
    -------
    epochs : int
    gap, objective : floats, the final duality gap and primal objective.
    """
    N, M = h.size, x.size
    W = 0.0  # shift . shift: M, or the sum of the weights
    for i in range(M):
        W += shift[i] * shift[i]
    r = x.copy()
    m = 0.0
    for j in range(N):
        if h[j] != 0.0:
            _column_axpy(dense, PhiT, data, indices, indptr, j, -h[j], r)
            m += means[j] * h[j]
    active = np.empty(N, np.bool_)  # not screened out
    for j in range(N):
        active[j] = norms2[j] > 0.0
        if not active[j]:
            h[j] = 0.0
    scores = np.empty(N)
    candidates = np.empty(N, np.int64)
    in_ws = np.empty(N, np.bool_)
    past_h = np.empty((_ANDERSON + 1, 1))
    past_r = np.empty((_ANDERSON + 1, M + 1))  # r and m
    epochs = 0
    while True:
        # The correlations of every column: the dual point must be feasible for the
        # screened ones too (their constraints hold at the optimum, not yet here).
        if not q_valid:
            for j in range(N):
                q[j] = (_column_dot(dense, PhiT, data, indices, indptr, j, r)
                        + m * W * means[j])
        q_valid = False
        gap, objective, s = _residual_gap(x, r, m, shift, h, q, lam, positive)
        # (a gap at the round-off of the objective cannot fall further: a tol of 0 ends)
        roundoff = 64.0 * np.finfo(np.float64).eps * objective
        if gap <= max(tol, roundoff) or epochs >= max_epochs:
            return epochs, gap, objective
        # Gap-safe screening (Fercoq et al. 2015), then the working set: the support and
        # as many of the zeros that (nearly) violate, the worst first (at least 16): the
        # working set doubles the support, as in skglm, without a sort.
        radius = np.sqrt(2.0 * max(gap, 0.0))
        n_support = 0
        n_candidates = 0
        worst = 0.0  # the largest KKT violation among the coordinates not screened out
        for j in range(N):
            in_ws[j] = False
            if not active[j]:
                continue
            if h[j] != 0.0:
                in_ws[j] = True
                n_support += 1
                worst = max(worst, _violation(q[j], h[j], lam, positive))
                continue
            qj = q[j] if positive else abs(q[j])
            if s * qj + radius * np.sqrt(norms2[j]) < lam:
                active[j] = False
                continue
            worst = max(worst, qj - lam)
            if qj > _NEAR * lam:
                candidates[n_candidates] = j
                scores[n_candidates] = qj
                n_candidates += 1
        ws = _working_set(scores, candidates, n_candidates, max(n_support, 16), lam, worst,
                          in_ws)
        w = ws.size
        if past_h.shape[1] != w:
            past_h = np.empty((_ANDERSON + 1, w))
        # Solve on the working set to a fraction of the outer violation (skglm's rule),
        # but not below round-off, so that a tol of 0 cannot loop forever.
        inner_tol = max(0.3 * worst, 16.0 * np.finfo(np.float64).eps * lam)
        n_past = 0
        for _ in range(max_epochs - epochs):
            epochs += 1
            inner = 0.0  # the largest violation seen in the epoch, each before its step
            for a in range(w):
                j = ws[a]
                old = h[j]
                qj = _column_dot(dense, PhiT, data, indices, indptr, j, r) + m * W * means[j]
                inner = max(inner, _violation(qj, old, lam, positive))
                new = soft(old + qj / norms2[j], lam / norms2[j], positive)
                if new != old:
                    _column_axpy(dense, PhiT, data, indices, indptr, j, old - new, r)
                    m += means[j] * (new - old)
                    h[j] = new
            if not positive:  # (the clipping at 0 would make the combination wrong)
                for a in range(w):
                    past_h[n_past, a] = h[ws[a]]
                past_r[n_past, :M] = r
                past_r[n_past, M] = m
                n_past += 1
                if n_past == _ANDERSON + 1:
                    n_past = 0
                    weights = _anderson_weights(past_h)
                    if weights.size:
                        h_new = _combine(weights, past_h)
                        r_new = _combine(weights, past_r)  # r and m are affine in h
                        if (_ws_objective(r_new[:M], r_new[M], shift, h_new, lam)
                                < _ws_objective(r, m, shift, h[ws], lam)):
                            r[:] = r_new[:M]
                            m = r_new[M]
                            for a in range(w):
                                h[ws[a]] = h_new[a]
            if inner <= inner_tol:
                break


@njit(cache=True)
def _ws_objective(r, m, shift, hw, lam):
    """The primal objective with residual ``r + m shift`` and the working set's codes
    ``hw`` (the other codes do not change within a working set)."""
    total = 0.0
    for i in range(r.size):
        ri = r[i] + m * shift[i]
        total += ri * ri
    l1 = 0.0
    for a in range(hw.size):
        l1 += abs(hw[a])
    return 0.5 * total + lam * l1


@njit(cache=True, nogil=True)
def lasso_residual_rows(dense, PhiT, data, indices, indptr, norms2, means, shift, X, lam, H,
                        rtol, max_epochs, positive, epochs_out, gap_out, objective_out, start,
                        stop):
    """:func:`lasso_residual_one` for rows ``start:stop`` of ``X`` (B, M), to the relative
    gap ``rtol`` of ``1/2 ||x||^2``; writes ``H`` (the codes), the epochs, the relative
    gaps and the objectives. Releases the GIL, for threads over the rows."""
    q = np.empty(norms2.size)
    for b in range(start, stop):
        x = X[b]
        xx = 0.0
        for i in range(x.size):
            xx += x[i] * x[i]
        scale = max(0.5 * xx, 1e-300)
        if xx == 0.0:
            H[b] = 0.0
        epochs, gap, objective = lasso_residual_one(dense, PhiT, data, indices, indptr, norms2,
                                                    means, shift, x, lam, H[b], rtol * scale,
                                                    max_epochs, positive, q, False)
        epochs_out[b] = epochs
        gap_out[b] = gap / scale
        objective_out[b] = objective


@njit(cache=True, nogil=True)
def lasso_residual_path(dense, PhiT, data, indices, indptr, norms2, means, shift, x, lams, h,
                        tol, max_epochs, positive, coefs_out, gaps_out, epochs_out):
    """:func:`lasso_residual_one` for every penalty of ``lams`` in turn, each warm-started
    from the previous solution ``h`` (updated), to the absolute gap ``tol``; writes the
    codes (N, n_lams), the gaps and the epochs of each. The correlations of one solution
    start the next solve (the residual is the same, only the penalty changes)."""
    q = np.empty(h.size)
    for i in range(lams.size):
        epochs, gap, _ = lasso_residual_one(dense, PhiT, data, indices, indptr, norms2, means,
                                            shift, x, lams[i], h, tol, max_epochs, positive, q,
                                            i > 0)
        coefs_out[:, i] = h
        gaps_out[i] = gap
        epochs_out[i] = epochs
