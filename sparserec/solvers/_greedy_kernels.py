"""Numba kernels of the greedy solvers (:mod:`sparserec.solvers.greedy`).

Every kernel solves rows ``start:stop`` of a batch, in float64, and releases the GIL so
that threads share the rows (:func:`sparserec._threads.in_threads`). The matrix enters
either as its Gram matrix ``G = A^T A`` (N, N), when it fits, or through ``AT = A^T``
(N, M) alone (``G`` then has shape (0, 0)). Each kernel starts with the correlations of
its rows with the atoms, ``C = X A``, one product per thread. Atoms that depend linearly
on those already chosen (duplicate or zero columns) get a zero coefficient: no NaN, and
every loop is bounded.
"""

import numpy as np
from numba import njit

# NIHT shrinks its step at most this many times in an iteration (by 1.98 each time: far
# below any step that matters).
_MAX_SHRINKS = 200

# A new atom whose part outside the span of the chosen ones has less than this fraction of
# its squared norm is taken as dependent on them.
_DEPENDENT = 1e-10


@njit(cache=True, nogil=True)
def _gram(G, AT, i, j):
    """``<a_i, a_j>``: from G, or from the columns themselves."""
    if G.shape[0]:
        return G[i, j]
    total = 0.0
    for m in range(AT.shape[1]):
        total += AT[i, m] * AT[j, m]
    return total


@njit(cache=True, nogil=True)
def _correlations(G, AT, c, x, support, coef, k, out, r):
    """``out = A^T (x - A_S coef)`` for the first ``k`` atoms of ``support``."""
    if G.shape[0]:
        out[:] = c
        blocks = k - k % 4
        for i in range(0, blocks, 4):  # four rows per pass over out: fewer loads, stores
            g0, g1, g2, g3 = coef[i], coef[i + 1], coef[i + 2], coef[i + 3]
            r0, r1, r2, r3 = G[support[i]], G[support[i + 1]], G[support[i + 2]], \
                G[support[i + 3]]
            for j in range(out.size):
                out[j] -= g0 * r0[j] + g1 * r1[j] + g2 * r2[j] + g3 * r3[j]
        for i in range(blocks, k):
            g, row = coef[i], G[support[i]]
            for j in range(out.size):
                out[j] -= g * row[j]
        return
    r[:] = x
    for i in range(k):
        g, column = coef[i], AT[support[i]]
        for m in range(r.size):
            r[m] -= g * column[m]
    for j in range(out.size):
        total, column = 0.0, AT[j]
        for m in range(r.size):
            total += column[m] * r[m]
        out[j] = total


@njit(cache=True, nogil=True)
def _energy(G, AT, idx, values, n, r):
    """``||A_idx values||^2`` for the first ``n`` entries."""
    total = 0.0
    if G.shape[0]:
        for a in range(n):
            row = G[idx[a]]
            partial = 0.0
            for b in range(n):
                partial += row[idx[b]] * values[b]
            total += values[a] * partial
        return total
    r[:] = 0.0
    for a in range(n):
        column, v = AT[idx[a]], values[a]
        for m in range(r.size):
            r[m] += v * column[m]
    for m in range(r.size):
        total += r[m] * r[m]
    return total


@njit(cache=True, nogil=True)
def _least_squares(G, AT, c, T, t, L, y, z):
    """``z[:t]``, the least-squares coefficients of ``x`` on the atoms ``T[:t]`` (the
    normal equations ``G_TT z = c_T`` by Cholesky); dependent atoms get 0."""
    for a in range(t):
        for b in range(a + 1):
            L[a, b] = _gram(G, AT, T[a], T[b])
    for a in range(t):
        norm = L[a, a]
        d = norm
        for p in range(a):
            d -= L[a, p] * L[a, p]
        if norm <= 0.0 or d <= _DEPENDENT * norm:  # dependent: a zero column of L
            L[a, a] = 0.0
            for b in range(a + 1, t):
                L[b, a] = 0.0
            continue
        L[a, a] = np.sqrt(d)
        for b in range(a + 1, t):
            s = L[b, a]
            for p in range(a):
                s -= L[b, p] * L[a, p]
            L[b, a] = s / L[a, a]
    for a in range(t):  # L y = c_T
        s = c[T[a]]
        for p in range(a):
            s -= L[a, p] * y[p]
        y[a] = s / L[a, a] if L[a, a] > 0.0 else 0.0
    for a in range(t - 1, -1, -1):  # L^T z = y
        s = y[a]
        for p in range(a + 1, t):
            s -= L[p, a] * z[p]
        z[a] = s / L[a, a] if L[a, a] > 0.0 else 0.0


@njit(cache=True, nogil=True)
def _squared_norm(x):
    total = 0.0
    for m in range(x.size):
        total += x[m] * x[m]
    return total


@njit(cache=True, nogil=True)
def _residual_energy(AT, x, support, coef, k, r):
    """``||x - A_S coef||^2``, from the residual itself (no cancellation)."""
    r[:] = x
    for i in range(k):
        g, column = coef[i], AT[support[i]]
        for m in range(r.size):
            r[m] -= g * column[m]
    return _squared_norm(r)


@njit(cache=True, nogil=True)
def _largest(values, k, out):
    """The indices of the ``k`` entries of largest magnitude, into ``out[:k]``."""
    order = np.argsort(-np.abs(values))
    out[:k] = order[:k]


@njit(cache=True, nogil=True)
def omp_rows(G, A, AT, X, n_nonzero, tol, H, n_atoms, residual, stopped, start, stop):
    """Orthogonal matching pursuit with a progressive Cholesky factor of the support.

    Each signal takes atoms one at a time, the one most correlated with the residual,
    until ``n_nonzero`` atoms or a squared residual of at most ``tol`` (negative: never),
    or no atom is left that is correlated with the residual and independent of the
    support. With ``L`` the Cholesky factor of the support's Gram matrix, the rows of
    ``U = L^-1 A_S^T A`` and the entries of ``y = L^-1 A_S^T x`` do not change when an
    atom is added: each atom adds one row of each, the correlations with the residual
    lose ``y_k u_k`` and the squared residual ``y_k^2``, and the coefficients are solved
    once, at the end (``L^T h_S = y``). Writes the codes ``H`` (B, N), the atoms taken,
    the squared residuals (from the residual itself) and whether each signal reached
    ``n_nonzero`` atoms or ``tol`` (``stopped``).
    """
    N = A.shape[1]
    C = np.dot(X[start:stop], A)
    K = n_nonzero
    L, U = np.zeros((K, K)), np.empty((K, N))
    support = np.empty(K, np.int64)
    y, gamma, row = np.empty(K), np.empty(K), np.empty(N)
    alpha, chosen, r = np.empty(N), np.empty(N, np.bool_), np.empty(AT.shape[1])
    for b in range(start, stop):
        x, c = X[b], C[b - start]
        xx = _squared_norm(x)
        res2, k = xx, 0
        alpha[:] = c
        chosen[:] = False
        while k < K and res2 > tol:
            best, top = -1, 0.0
            for j in range(N):
                if not chosen[j] and abs(alpha[j]) > top:
                    best, top = j, abs(alpha[j])
            if best < 0:  # the residual is orthogonal to every atom left
                break
            chosen[best] = True
            norm = _gram(G, AT, best, best)
            d = norm
            for p in range(k):  # L's new row is U's column: U[p, best]
                L[k, p] = U[p, best]
                d -= L[k, p] * L[k, p]
            if norm <= 0.0 or d <= _DEPENDENT * norm:
                continue  # in the span of the support (a duplicate, a zero column)
            L[k, k] = np.sqrt(d)
            if G.shape[0]:
                row[:] = G[best]
            else:
                for j in range(N):
                    row[j] = _gram(G, AT, j, best)
            _subtract_rows(row, U, L[k], k)
            u, scale = U[k], 1.0 / L[k, k]
            for j in range(N):
                u[j] = row[j] * scale
            s = c[best]
            for p in range(k):
                s -= L[k, p] * y[p]
            y[k] = s * scale
            for j in range(N):
                alpha[j] -= y[k] * u[j]
            res2 = max(res2 - y[k] * y[k], 0.0)
            support[k] = best
            k += 1
        for i in range(k - 1, -1, -1):  # L^T gamma = y
            s = y[i]
            for p in range(i + 1, k):
                s -= L[p, i] * gamma[p]
            gamma[i] = s / L[i, i]
        h = H[b]
        h[:] = 0.0
        for i in range(k):
            h[support[i]] = gamma[i]
        n_atoms[b], residual[b] = k, _residual_energy(AT, x, support, gamma, k, r)
        # (fewer atoms: the residual is orthogonal to every atom, up to rounding)
        stopped[b] = k == K or residual[b] <= max(tol, 1e-12 * xx)


@njit(cache=True, nogil=True)
def _subtract_rows(out, U, weights, k):
    """``out -= weights[:k] @ U[:k]``, four rows per pass over ``out``."""
    blocks = k - k % 4
    for p in range(0, blocks, 4):
        w0, w1, w2, w3 = weights[p], weights[p + 1], weights[p + 2], weights[p + 3]
        u0, u1, u2, u3 = U[p], U[p + 1], U[p + 2], U[p + 3]
        for j in range(out.size):
            out[j] -= w0 * u0[j] + w1 * u1[j] + w2 * u2[j] + w3 * u3[j]
    for p in range(blocks, k):
        w, u = weights[p], U[p]
        for j in range(out.size):
            out[j] -= w * u[j]


@njit(cache=True, nogil=True)
def niht_rows(G, A, AT, X, K, tol, max_iter, H, n_iter, converged, residual, start, stop):
    """Normalised iterative hard thresholding (Blumensath and Davies, 2010).

    ``h <- H_K(h + mu A^T (x - A h))`` with the step ``mu`` that is optimal on the
    current support, shrunk (by 2 (1 - c), c = 0.01) while a change of support would not
    decrease the residual enough. Stops when the relative change of ``h`` or the relative
    residual is at most ``tol``. Writes the squared residuals too.
    """
    N = A.shape[1]
    C = np.dot(X[start:stop], A)
    kappa, c_shrink = 2.0, 0.01
    g, z = np.empty(N), np.empty(N)
    T, T_new, union = np.empty(K, np.int64), np.empty(K, np.int64), np.empty(2 * K, np.int64)
    coef, diff = np.empty(K), np.empty(2 * K)
    in_T = np.empty(N, np.bool_)
    r = np.empty(AT.shape[1])
    for b in range(start, stop):
        x, c, h = X[b], C[b - start], H[b]
        xx = _squared_norm(x)
        h[:] = 0.0
        g[:] = c
        _largest(g, K, T)
        it, done = 0, xx == 0.0
        while not done and it < max_iter:
            it += 1
            for i in range(K):
                coef[i] = g[T[i]]
            num = 0.0
            for i in range(K):
                num += coef[i] * coef[i]
            den = _energy(G, AT, T, coef, K, r)
            if num == 0.0 or den <= 0.0:
                done = True
                break
            mu = num / den
            if not mu < np.inf:  # (NaN or Inf: no step to take, and none to shrink)
                done = True
                break
            in_T[:] = False
            for i in range(K):
                in_T[T[i]] = True
            for _ in range(_MAX_SHRINKS):  # (bounded: a NaN would never compare)
                for j in range(N):
                    z[j] = h[j] + mu * g[j]
                _largest(z, K, T_new)
                same = True
                for i in range(K):
                    if not in_T[T_new[i]]:
                        same = False
                        break
                if same:
                    break
                n = 0  # the change z_K - h, on the union of the two supports
                for i in range(K):
                    union[n], diff[n] = T_new[i], z[T_new[i]] - h[T_new[i]]
                    n += 1
                for i in range(K):
                    j = T[i]
                    new = False
                    for p in range(K):
                        new = new or T_new[p] == j
                    if not new:
                        union[n], diff[n] = j, -h[j]
                        n += 1
                change = 0.0
                for a in range(n):
                    change += diff[a] * diff[a]
                energy = _energy(G, AT, union, diff, n, r)
                if energy <= 0.0 or mu <= (1.0 - c_shrink) * change / energy:
                    break
                mu /= kappa * (1.0 - c_shrink)
            step, size = 0.0, 0.0
            for i in range(K):
                h[T[i]] = 0.0
            for i in range(K):
                T[i] = T_new[i]
                coef[i] = h[T[i]] = z[T[i]]
            # the change of h and its size, from the previous iterate kept in z - mu g
            for j in range(N):
                old = z[j] - mu * g[j]
                step += (h[j] - old) * (h[j] - old)
                size += h[j] * h[j]
            _correlations(G, AT, c, x, T, coef, K, g, r)
            res2 = xx - 2.0 * _dot_at(coef, c, T, K) + _energy(G, AT, T, coef, K, r)
            done = step <= tol * tol * size or res2 <= tol * tol * xx
        for i in range(K):
            coef[i] = h[T[i]]
        n_iter[b], converged[b] = it, done
        residual[b] = _residual_energy(AT, x, T, coef, K, r)


@njit(cache=True, nogil=True)
def _dot_at(values, c, idx, n):
    total = 0.0
    for a in range(n):
        total += values[a] * c[idx[a]]
    return total


@njit(cache=True, nogil=True)
def pursuit_rows(G, A, AT, X, K, tol, max_iter, cosamp, H, n_iter, converged, residual,
                 start, stop):
    """CoSaMP (Needell and Tropp, 2009) or subspace pursuit (Dai and Milenkovic, 2009).

    Each iteration merges the support with the ``2K`` (CoSaMP) or ``K`` (subspace
    pursuit) atoms most correlated with the residual, solves least squares on the merged
    set and keeps its ``K`` largest entries; subspace pursuit then solves least squares on
    those ``K`` again. Stops when the relative residual is at most ``tol`` or stops
    decreasing (the previous iterate is kept then). Writes the squared residuals too.
    """
    N = A.shape[1]
    C = np.dot(X[start:stop], A)
    extra = 2 * K if cosamp else K
    size = min(K + extra, N)
    g = np.empty(N)
    T, merged = np.empty(K, np.int64), np.empty(size, np.int64)
    coef, best_coef = np.zeros(K), np.zeros(K)
    best_T = np.empty(K, np.int64)
    z, keep = np.empty(size), np.empty(K, np.int64)
    L, y = np.empty((size, size)), np.empty(size)
    member = np.empty(N, np.bool_)
    r = np.empty(AT.shape[1])
    for b in range(start, stop):
        x, c, h = X[b], C[b - start], H[b]
        xx = _squared_norm(x)
        g[:] = c
        k = 0  # atoms in the current support (0 at the start)
        best = xx
        it, done = 0, xx == 0.0
        while not done and it < max_iter:
            it += 1
            member[:] = False
            n = 0
            for i in range(k):
                merged[n] = T[i]
                member[T[i]] = True
                n += 1
            order = np.argsort(-np.abs(g))
            taken = 0
            for j in order:
                if taken == extra or n == size:
                    break
                if not member[j]:
                    merged[n] = j
                    member[j] = True
                    n += 1
                    taken += 1
            _least_squares(G, AT, c, merged, n, L, y, z)
            top = np.argsort(-np.abs(z[:n]))[:K]
            k = min(K, n)
            for i in range(k):
                keep[i] = merged[top[i]]
            if cosamp:
                for i in range(k):
                    T[i], coef[i] = keep[i], z[top[i]]
            else:
                for i in range(k):
                    T[i] = keep[i]
                _least_squares(G, AT, c, T, k, L, y, z)
                for i in range(k):
                    coef[i] = z[i]
            res2 = xx - 2.0 * _dot_at(coef, c, T, k) + _energy(G, AT, T, coef, k, r)
            if res2 >= best and it > 1:  # no longer decreasing: keep the previous iterate
                for i in range(K):
                    T[i], coef[i] = best_T[i], best_coef[i]
                done = True
                break
            best = res2
            for i in range(k):
                best_T[i], best_coef[i] = T[i], coef[i]
            done = res2 <= tol * tol * xx
            _correlations(G, AT, c, x, T, coef, k, g, r)
        h[:] = 0.0
        k = k if it else 0
        for i in range(k):
            h[T[i]] = coef[i]
        n_iter[b], converged[b] = it, done
        residual[b] = _residual_energy(AT, x, T, coef, k, r)
