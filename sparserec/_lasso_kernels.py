"""Numba kernels of :func:`sparserec.lasso`: coordinate descent over a shared Gram matrix.

For every signal (row ``b``) the kernels minimise ``1/2 ||x_b - Phi h_b||^2 + lam ||h_b||_1``
knowing only ``G = Phi^T Phi`` (shared), ``c_b = Phi^T x_b`` and ``||x_b||^2``: the
correlation of the residual is ``q = Phi^T r = c - G h`` and the residual norm is
``||r||^2 = ||x||^2 - h.c - h.q``, so no kernel ever touches ``Phi`` or ``x``.

The solver of one signal is an outer loop (duality gap, gap-safe screening, working set)
around plain cyclic coordinate descent on a small working set, as in celer and skglm
(Massias et al. 2018, 2020; Bertrand et al. 2022). Signals are independent: the batch
kernel releases the GIL, and :func:`sparserec.lasso` runs chunks of rows in threads. The
kernels are written for float32 or float64 arrays, but :func:`sparserec.lasso` runs them
in float64: float32 was not faster (the time goes to index work and small solves, not
memory traffic), and its round-off sits near the 1e-6 relative gap that the solver must
certify.
"""

import numpy as np
from numba import njit


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


@njit(cache=True)
def _cd_epochs(Gw, cw, qw, hw, xx, lam, positive, max_epochs, tol_gap, tol_violation):
    """Cyclic coordinate descent on one working set, with Anderson acceleration.

    ``Gw`` is the working set's Gram block, ``cw`` its ``Phi^T x``, ``qw`` its residual
    correlation and ``hw`` its codes (both updated). Stops when the duality gap of the
    problem restricted to the working set is ``<= tol_gap`` or its largest KKT violation is
    ``<= tol_violation``, both checked after every epoch at O(w) cost. Returns the epochs run.
    """
    w = hw.size
    thresh = np.empty(w, hw.dtype)
    inverse = np.empty(w, hw.dtype)
    zero = np.zeros(1, hw.dtype)[0]  # a literal 0.0 would promote float32 updates to float64
    for k in range(w):
        inverse[k] = 1.0 / Gw[k, k]
        thresh[k] = lam * inverse[k]
    # Anderson acceleration (as in skglm, Bertrand & Massias 2021): every _ANDERSON epochs,
    # extrapolate the last iterates with the weights that minimise their combined step.
    past = np.empty((_ANDERSON + 1, w))
    n_past = 0
    for epoch in range(max_epochs):
        for k in range(w):
            old = hw[k]
            z = old + qw[k] * inverse[k]  # exact minimiser along coordinate k, then shrink
            if z > thresh[k]:
                new = z - thresh[k]
            elif z < -thresh[k] and not positive:
                new = z + thresh[k]
            else:
                new = zero
            if new != old:
                step = new - old
                row = Gw[k]
                for i in range(w):
                    qw[i] -= step * row[i]
                hw[k] = new
        past[n_past] = hw
        n_past += 1
        if n_past == _ANDERSON + 1:
            n_past = 0
            _extrapolate(Gw, cw, qw, hw, xx, lam, positive, past)
        worst = 0.0
        for k in range(w):
            worst = max(worst, _violation(qw[k], hw[k], lam, positive))
        if worst <= tol_violation or _gap(cw, qw, hw, xx, lam, positive) <= tol_gap:
            return epoch + 1
    return max_epochs


_ANDERSON = 5
_SUPPORT_VIOLATION = 1e-2  # violation / lam at which support steps are tried
_SUPPORT_STEPS = 4  # feature-sign steps in a row


@njit(cache=True)
def _extrapolate(Gw, cw, qw, hw, xx, lam, positive, past):
    """Replace ``hw`` (and ``qw``) by the Anderson extrapolation of ``past`` if it is better."""
    K, w = past.shape[0] - 1, past.shape[1]
    # Plain loops, not BLAS: this runs inside a worker thread.
    UU = np.zeros((K, K))
    for a in range(K):
        for b in range(a + 1):
            dot = 0.0
            for i in range(w):
                dot += (past[a + 1, i] - past[a, i]) * (past[b + 1, i] - past[b, i])
            UU[a, b] = dot
            UU[b, a] = dot
    scale = 0.0
    for a in range(K):
        scale += UU[a, a]
    if scale == 0.0:
        return
    for a in range(K):
        UU[a, a] += 1e-10 * scale  # ridge: the steps are often nearly collinear
    z = np.linalg.solve(UU, np.ones(K))
    total = z.sum()
    if not np.isfinite(total) or total == 0.0:
        return
    z /= total
    h_new = np.zeros(w)
    for a in range(K):
        h_new += z[a] * past[a + 1]
    if positive:
        h_new = np.maximum(h_new, 0.0)
    # q for the extrapolated point, and the two objectives (1/2 ||r||^2 + lam ||h||_1)
    q_new = cw.copy()
    for k in range(w):
        hk = h_new[k]
        if hk != 0.0:
            row = Gw[k]
            for i in range(w):
                q_new[i] -= hk * row[i]
    if _objective(cw, q_new, h_new, xx, lam) < _objective(cw, qw, hw, xx, lam):
        hw[:] = h_new
        qw[:] = q_new


@njit(cache=True)
def _objective(c, q, h, xx, lam):
    """``1/2 ||r||^2 + lam ||h||_1`` from ``||r||^2 = ||x||^2 - h.c - h.q``."""
    hc = 0.0
    hq = 0.0
    l1 = 0.0
    for j in range(c.size):
        hj = np.float64(h[j])
        hc += hj * c[j]
        hq += hj * q[j]
        l1 += abs(hj)
    return 0.5 * (xx - hc - hq) + lam * l1


@njit(cache=True)
def _gap(c, q, h, xx, lam, positive):
    """Duality gap at ``theta = s r``, ``s = min(1, lam / ||Phi^T r||_inf)``, in float64.

    Uses ``||r||^2 = ||x||^2 - h.c - h.q`` and ``x.r = ||x||^2 - h.c``, over the given
    coordinates only (the problem restricted to them, whose dual constraints are fewer).
    """
    hc = 0.0
    hq = 0.0
    l1 = 0.0
    dual_norm = 0.0
    for j in range(c.size):
        hj = np.float64(h[j])
        if hj != 0.0:
            hc += hj * c[j]
            hq += hj * q[j]
            l1 += abs(hj)
        dual_norm = max(dual_norm, q[j] if positive else abs(q[j]))
    r2 = max(xx - hc - hq, 0.0)
    s = 1.0 if dual_norm <= lam else lam / dual_norm
    return 0.5 * r2 + lam * l1 - (s * (xx - hc) - 0.5 * s * s * r2)


@njit(cache=True)
def _objective_gram(G, c, h, xx, lam):
    """``1/2 ||x||^2 - h.c + 1/2 h^T G h + lam ||h||_1``, over the support of ``h`` only."""
    S = np.flatnonzero(h)
    value = 0.5 * xx
    for a in range(S.size):
        ha = np.float64(h[S[a]])
        row = G[S[a]]
        quadratic = 0.0
        for b in range(S.size):
            quadratic += row[S[b]] * h[S[b]]
        value += ha * (0.5 * quadratic - c[S[a]]) + lam * abs(ha)
    return value


@njit(cache=True, fastmath={"reassoc", "contract"})  # vectorised dot products, no NaN tricks
def _support_step(G, c, h, lam):
    """A feature-sign step (Lee et al. 2007) on the support of ``h``.

    With the support S and signs z of ``h`` fixed the lasso is a quadratic, minimised by
    ``G_SS v = c_S - lam z`` (one float64 Cholesky solve). If the signs of ``v`` agree
    with z, ``v`` is returned; otherwise the point where the segment from ``h`` to ``v``
    first crosses zero, with that coordinate set to 0 (the objective decreases along the
    segment, which stays in the orthant). Returns ``(point, final)``, ``final`` when the
    signs agreed; an empty point when ``G_SS`` is not positive definite.
    """
    N = c.size
    S = np.flatnonzero(h)
    s = S.size
    L = np.empty((s, s))
    for a in range(s):
        for b in range(a + 1):
            L[a, b] = G[S[a], S[b]]
    for j in range(s):  # Cholesky G_SS = L L^T, in the lower triangle
        d = L[j, j]
        for k in range(j):
            d -= L[j, k] * L[j, k]
        if d <= 1e-12 * max(abs(L[j, j]), 1e-300):
            return np.empty(0, h.dtype), False
        d = np.sqrt(d)
        L[j, j] = d
        for i in range(j + 1, s):
            v = L[i, j]
            for k in range(j):
                v -= L[i, k] * L[j, k]
            L[i, j] = v / d
    v = np.empty(s)
    for a in range(s):
        v[a] = c[S[a]] - (lam if h[S[a]] > 0.0 else -lam)
    for i in range(s):  # L y = v
        for k in range(i):
            v[i] -= L[i, k] * v[k]
        v[i] /= L[i, i]
    for i in range(s - 1, -1, -1):  # L^T x = y
        for k in range(i + 1, s):
            v[i] -= L[k, i] * v[k]
        v[i] /= L[i, i]
    t = 1.0
    crossing = -1
    for a in range(s):
        old = np.float64(h[S[a]])
        if v[a] * old <= 0.0:
            ta = old / (old - v[a])
            if ta < t:
                t, crossing = ta, a
    out = np.zeros(N, h.dtype)
    for a in range(s):
        old = np.float64(h[S[a]])
        out[S[a]] = old + t * (v[a] - old)
    if crossing >= 0:
        out[S[crossing]] = 0.0
    return out, crossing < 0


@njit(cache=True)
def lasso_gram_one(G, norms, c, xx, lam, h, tol, max_epochs, positive, ws_min, eps,
                   work):
    """Solve one lasso problem from ``G``, ``c = Phi^T x`` and ``xx = ||x||^2``.

    Parameters
    ----------
    G : (N, N) array, ``Phi^T Phi`` (symmetric).
    norms : (N,) float64 array, the column norms ``sqrt(G_jj)``.
    c : (N,) array, ``Phi^T x``.
    xx : float, ``||x||^2``.
    lam : float, the l1 weight.
    h : (N,) array, the starting codes; overwritten by the solution.
    tol : float, absolute duality gap to reach.
    max_epochs : int, limit on the coordinate-descent epochs (passes over a working set).
    positive : bool, constrain the codes to be non-negative.
    ws_min : int, smallest working set.
    eps : float, the machine epsilon of the arrays' dtype.
    work : 1-D array of the arrays' dtype, room for the working set's Gram block (reused
        from signal to signal, replaced by a larger one when too small).

    Returns
    -------
    epochs : int, epochs run.
    gap : float, the last duality gap (float64, from G and c).
    work : the work array (the given one, or its larger replacement).
    """
    N = c.size
    dtype = h.dtype
    q = np.empty(N, dtype)
    _residual_correlation(G, c, h, q)
    kept = np.ones(N, np.bool_)  # not (yet) screened out
    for j in range(N):
        if norms[j] <= 0.0:  # an all-zero column: its code is 0, its constraint void
            kept[j] = False
            h[j] = 0.0
    score = np.empty(N)
    candidates = np.empty(N, np.int64)
    in_ws = np.zeros(N, np.bool_)
    epochs = 0
    last_objective = np.inf
    while True:
        # The gap of the whole problem (screened coordinates included: their constraints
        # hold at the optimum, but the dual point must be feasible for all of them now).
        gap = _gap(c, q, h, xx, lam, positive)
        s = 1.0
        dual_norm = 0.0
        n_support = 0
        for j in range(N):
            dual_norm = max(dual_norm, q[j] if positive else abs(q[j]))
            n_support += h[j] != 0.0
        if dual_norm > lam:
            s = lam / dual_norm
        objective = _objective(c, q, h, xx, lam)
        if gap <= tol or epochs >= max_epochs or not objective < last_objective:
            return epochs, gap, work  # (a round that did not decrease it: round-off level)
        last_objective = objective

        # Gap-safe screening (Fercoq et al. 2015): the dual is 1-strongly concave, so
        # ||theta - theta*|| <= sqrt(2 gap); |Phi_j^T theta*| < lam proves h*_j = 0.
        radius = np.sqrt(2.0 * max(gap, 0.0))
        n_kept = 0
        worst = 0.0
        for j in range(N):
            if not kept[j]:
                continue
            qj = q[j] if positive else abs(q[j])
            if h[j] == 0.0 and s * qj + radius * norms[j] < lam:
                kept[j] = False
                continue
            n_kept += 1
            violation = _violation(q[j], h[j], lam, positive)
            worst = max(worst, violation)
            # The support first, then the coordinates that violate the optimality most.
            score[j] = np.inf if h[j] != 0.0 else violation - lam
        # Working set: the support and the worst violators, at most as many as the support
        # (celer's doubling); coordinates that do not violate stay out, which keeps the
        # Gram block small near the end.
        size = max(ws_min, 2 * n_support)
        n_candidates = 0
        for j in range(N):
            if kept[j] and score[j] > -lam:
                candidates[n_candidates] = j
                n_candidates += 1
        ws = candidates[:n_candidates].copy()
        if size < n_candidates:  # the `size` best scores: a partition, not a sort
            cut = -np.partition(-score[ws], size - 1)[size - 1]
            k = 0
            for j in ws:  # above the cut, then ties
                if score[j] > cut:
                    candidates[k] = j
                    k += 1
            for j in ws:
                if k < size and score[j] == cut:
                    candidates[k] = j
                    k += 1
            ws = np.sort(candidates[:k])
        w = ws.size
        if w * w > work.size:
            work = np.empty(max(w * w, 2 * work.size), dtype)
        Gw = work[:w * w].reshape((w, w))
        cw = np.empty(w, dtype)
        qw = np.empty(w, dtype)
        hw = np.empty(w, dtype)
        in_ws[:] = False
        for a in range(w):
            ja = ws[a]
            in_ws[ja] = True
            cw[a] = c[ja]
            qw[a] = q[ja]
            hw[a] = h[ja]
            for b in range(w):
                Gw[a, b] = G[ja, ws[b]]
        # Once the working set holds every violator it is solved to the final gap;
        # before, to 0.3 times the worst violation (skglm's rule), since it will grow.
        # The floor is the dtype's resolution, so that float32 cannot loop forever.
        floor = 16.0 * eps * max(np.abs(c).max(), lam)
        complete = True
        for j in range(N):
            if kept[j] and score[j] > -lam and not in_ws[j]:
                complete = False
                break
        if complete and n_support > 0:
            # Near the end: find the support by CD to a loose violation, then try the
            # exact solve on it; if it is right the gap drops to round-off at once.
            epochs += _cd_epochs(Gw, cw, qw, hw, xx, lam, positive, max_epochs - epochs, tol,
                                 max(_SUPPORT_VIOLATION * lam, floor))
            for a in range(w):
                h[ws[a]] = hw[a]
            improved = False
            current = _objective_gram(G, c, h, xx, lam)
            for _ in range(_SUPPORT_STEPS):
                point, final = _support_step(G, c, h, lam)
                if point.size == 0:
                    break
                # Kept when better, even if the support misses coordinates: the next
                # round's working set adds them.
                candidate = _objective_gram(G, c, point, xx, lam)
                if not candidate < current:
                    break
                h[:] = point
                current = candidate
                improved = True
                if final:
                    break
            if improved:
                _residual_correlation(G, c, h, q)
                continue
        epochs += _cd_epochs(Gw, cw, qw, hw, xx, lam, positive, max_epochs - epochs, tol,
                             floor if complete else max(0.3 * worst, floor))
        for a in range(w):
            h[ws[a]] = hw[a]
        # Recomputed, not updated: no drift of q over the outer iterations.
        _residual_correlation(G, c, h, q)


@njit(cache=True, nogil=True)
def lasso_gram_rows(G, C, xx, lam, H, tol, max_epochs, positive, ws_min, eps, epochs_out,
                    gap_out, start, stop):
    """:func:`lasso_gram_one` for rows ``start:stop`` of ``C`` (B, N) and ``H`` (B, N).

    ``xx`` (B,) holds ``||x_b||^2``; ``tol`` (B,) the absolute gap of each signal and
    ``max_epochs`` (B,) its epoch budget. ``H`` is updated in place; ``epochs_out`` and
    ``gap_out`` (B,) are written. It releases the GIL, so that threads can share the rows
    (a ``prange`` version took longer to compile than the whole solver).
    """
    N = C.shape[1]
    norms = np.empty(N)
    for j in range(N):
        norms[j] = np.sqrt(max(np.float64(G[j, j]), 0.0))
    work = np.empty(min(N, 8 * ws_min) ** 2, G.dtype)
    for b in range(start, stop):
        epochs, gap, work = lasso_gram_one(G, norms, C[b], xx[b], lam, H[b], tol[b],
                                           max_epochs[b], positive, ws_min, eps, work)
        epochs_out[b] = epochs
        gap_out[b] = gap
