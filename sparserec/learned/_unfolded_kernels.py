"""Numba kernels of the unfolded networks LISTA and LAMP (:mod:`sparserec.learned.lista`,
:mod:`sparserec.learned.lamp`).

Every kernel does the element-wise work of one layer on a whole (B, N) or (B, M) batch
in one pass: the denoiser with its derivatives and the Onsager coefficient forward, the
backward of the denoiser (and of the Onsager coefficient) back. The matrix products
between them are left to BLAS by the callers. Arrays are C-contiguous, of one float
dtype; rows are signals.

The Bernoulli-Gaussian denoiser is evaluated in float64 whatever the dtype of the
arrays, in logistic and log-domain forms that stay finite for any ``r``, tiny ``sigma``
and large parameters (:func:`bg_all`).
"""

import math

import numpy as np
from numba import njit

from ..solvers._base_kernels import soft

#: Beyond this |log-odds| the posterior is taken as certain: its derivative terms are
#: below exp(-500), and the terms that multiply them may be infinite.
U_SATURATED = 500.0


# ----------------------------------------------------------------------------------------
# LISTA


@njit(cache=True, nogil=True)
def lista_layer(C, P, add, theta, H):
    """``H = soft(C + P, theta)`` (``soft(C, theta)`` when not ``add``).

    Returns the number of nonzero codes, to choose a sparse or dense product next.
    """
    B, N = C.shape
    nnz = 0
    for b in range(B):
        for j in range(N):
            z = C[b, j] + P[b, j] if add else C[b, j]
            v = soft(z, theta, False)
            H[b, j] = v
            nnz += v != 0
    return nnz


@njit(cache=True, nogil=True)
def lista_layer_backward(G, Hn, DZ, gc):
    """Backward of ``h' = soft(z, theta)`` given ``G = dL/dh'`` and ``Hn = h'``.

    ``DZ = G 1{h' != 0}`` (written: ``dL/dz``), ``gc += DZ`` (``dL/d(B x)``, float64 or
    the dtype). Returns ``-sum DZ sign(h')``: ``dL/dtheta`` for a positive threshold.
    """
    B, N = G.shape
    gt = 0.0
    for b in range(B):
        for j in range(N):
            h = Hn[b, j]
            d = G[b, j] if h != 0 else G[b, j] - G[b, j]
            DZ[b, j] = d
            gc[b, j] += d
            gt -= d if h > 0 else -d
    return gt


# ----------------------------------------------------------------------------------------
# LAMP: residuals and noise levels


@njit(cache=True, nogil=True)
def lamp_residual(X, P, b, Vprev, floor, V, sigma):
    """``V = X - P + b Vprev`` per row (``P = A h``), and ``sigma = max(||v|| / sqrt(M),
    floor)``. With ``Vprev`` of zero rows, ``V = X``.
    """
    B, M = X.shape
    first = Vprev.shape[0] == 0
    for i in range(B):
        e = 0.0
        for m in range(M):
            v = X[i, m] if first else X[i, m] - P[i, m] + b[i] * Vprev[i, m]
            V[i, m] = v
            e += v * v
        sigma[i] = max(math.sqrt(e / M), floor)


@njit(cache=True, nogil=True)
def lamp_residual_backward(W, carry, sigma_bar, V, sigma, b, Vprev, floor, Vbar, b_bar):
    """Backward through ``r = h + B v``, ``sigma(v)`` and ``v = x - A h + b v_prev``.

    ``Vbar = carry + W + sigma_bar v / (M sigma)`` with ``W = dL/dr B`` (written), then
    ``b_bar = <Vbar, v_prev>`` per row and ``carry = b Vbar`` for the previous layer
    (both written unless ``Vprev`` has zero rows: the first layer).
    """
    B, M = V.shape
    first = Vprev.shape[0] == 0
    for i in range(B):
        s = sigma[i]
        k = sigma_bar[i] / (M * s) if s > floor else 0.0
        acc = 0.0
        for m in range(M):
            g = carry[i, m] + W[i, m] + k * V[i, m]
            Vbar[i, m] = g
            if not first:
                acc += g * Vprev[i, m]
                carry[i, m] = b[i] * g
        if not first:
            b_bar[i] = acc


# ----------------------------------------------------------------------------------------
# LAMP: the soft-threshold denoiser  eta = beta soft(r; max(alpha, 0) sigma)


@njit(cache=True, nogil=True)
def soft_layer(Hprev, Z, sigma, alpha, beta, M, R, H, b):
    """``R = Hprev + Z`` (``Z = B v``), ``H = beta soft(R; max(alpha, 0) sigma)`` and the
    Onsager coefficient ``b = beta ||soft(R)||_0 / M`` per row.

    Returns the number of nonzero codes.
    """
    B, N = Z.shape
    a = max(alpha, alpha - alpha)
    total = 0
    for i in range(B):
        t = a * sigma[i]
        count = 0
        for j in range(N):
            r = Hprev[i, j] + Z[i, j]
            R[i, j] = r
            v = soft(r, t, False)
            H[i, j] = beta * v
            count += v != 0
        b[i] = beta * count / M
        total += count
    return total


@njit(cache=True, nogil=True)
def soft_layer_backward(Hbar, Tmp, subtract, R, sigma, alpha, beta, b_bar, M, Rbar,
                        sigma_bar):
    """Backward of one soft-threshold layer.

    ``dL/dh' = Hbar - Tmp`` when ``subtract`` (the layer above: ``dL/dr' - dL/dv' A``),
    else ``Hbar``; ``b_bar``: ``dL/db'`` of the Onsager coefficient. Writes ``Rbar =
    dL/dr``, ``sigma_bar = dL/dsigma`` per row, and returns ``(dL/dalpha, dL/dbeta)``.
    """
    B, N = R.shape
    pos = alpha > 0
    a = alpha if pos else alpha - alpha
    ga = 0.0
    gb = 0.0
    for i in range(B):
        s = sigma[i]
        t = a * s
        acc_sign = 0.0
        acc_soft = 0.0
        count = 0
        for j in range(N):
            r = R[i, j]
            g = Hbar[i, j] - Tmp[i, j] if subtract else Hbar[i, j]
            if r > t:
                Rbar[i, j] = beta * g
                acc_sign += g
                acc_soft += g * (r - t)
                count += 1
            elif r < -t:
                Rbar[i, j] = beta * g
                acc_sign -= g
                acc_soft += g * (r + t)
                count += 1
            else:
                Rbar[i, j] = g - g
        sigma_bar[i] = -beta * a * acc_sign
        if pos:
            ga -= beta * s * acc_sign
        gb += acc_soft + b_bar[i] * count / M
    return ga, gb


# ----------------------------------------------------------------------------------------
# LAMP: the Bernoulli-Gaussian MMSE denoiser


@njit(cache=True, nogil=True)
def _logistic(x):
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


@njit(cache=True, nogil=True)
def _softplus(x):
    """``log(1 + exp(x))`` without overflow."""
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


@njit(cache=True, nogil=True)
def bg_row(sigma, th0, th1):
    """What the Bernoulli-Gaussian denoiser needs of one row's noise level, in float64:
    ``(1 / sigma, g, 1 - g, theta_1 - log(1 + nu / s) / 2)`` with ``g = nu / (nu + s)``,
    ``s = sigma^2``, in logistic and softplus forms."""
    sigma = float(sigma)
    dlog = th0 - 2.0 * math.log(sigma)  # log(nu / s)
    return (1.0 / sigma, _logistic(dlog), _logistic(-dlog), th1 - 0.5 * _softplus(dlog))


@njit(cache=True, nogil=True)
def _posterior(u):
    """``(p, 1 - p)`` for the log-odds ``u``, with one exponential."""
    if u >= 0:
        e = math.exp(-u)
        return 1.0 / (1.0 + e), e / (1.0 + e)
    e = math.exp(u)
    return e / (1.0 + e), 1.0 / (1.0 + e)


@njit(cache=True, nogil=True)
def bg_entry(r, inv, g, omg, c):
    """The posterior mean and its r-derivative for one entry, given :func:`bg_row`'s."""
    r = float(r)
    a = r * inv
    w = g * a * a  # r^2 nu / (s (nu + s))
    u = c + 0.5 * w  # the posterior log-odds of a nonzero
    if not u <= U_SATURATED:  # certainly nonzero (also w infinite): eta = g r
        return g * r, g
    if u < -U_SATURATED:  # certainly zero
        return 0.0, 0.0
    p, q = _posterior(u)
    return p * g * r, g * p + g * w * p * q


@njit(cache=True, nogil=True)
def bg_entry_grads(r, inv, g, omg, c):
    """The posterior mean, its r-derivative, and their partial derivatives in sigma and
    theta for one entry, given :func:`bg_row`'s.

    Returns ``(eta, d, eta_sigma, eta_t0, eta_t1, d_r, d_sigma, d_t0, d_t1)`` where ``d =
    deta/dr``. See :mod:`sparserec.learned.lamp` (Notes) for the formulas.
    """
    r = float(r)
    gg = g * omg  # dg/dtheta0; dg/dsigma = -2 gg / sigma
    a = r * inv
    w = g * a * a
    u = c + 0.5 * w
    if not u <= U_SATURATED:
        return (g * r, g, -2.0 * gg * a, gg * r, 0.0, 0.0, -2.0 * gg * inv, gg, 0.0)
    if u < -U_SATURATED:
        return (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    p, q = _posterior(u)
    P = p * q  # dp/du
    wP = w * P
    # partial derivatives of u, g and w in sigma, theta0 (in theta1: u's only, 1)
    u_s = (g - w * (1.0 + omg)) * inv
    u_0 = 0.5 * (w * omg - g)
    g_s = -2.0 * gg * inv
    w_s = -2.0 * w * (1.0 + omg) * inv
    w_0 = w * omg
    gP = g * P
    eta_s = r * (gP * u_s + p * g_s)
    eta_0 = r * (gP * u_0 + p * gg)
    f = 1.0 + w * (q - p)
    d_r = g * gP * (a * inv) * (2.0 + f)
    d_s = g_s * (p + wP) + gP * (u_s * f + w_s)
    d_0 = gg * (p + wP) + gP * (u_0 * f + w_0)
    return (p * g * r, g * p + g * wP, eta_s, eta_0, r * gP, d_r, d_s, d_0, gP * f)


@njit(cache=True, nogil=True)
def bg_all(r, sigma, th0, th1):
    """:func:`bg_entry_grads` for one entry and its row's ``sigma`` and ``theta``."""
    inv, g, omg, c = bg_row(sigma, th0, th1)
    return bg_entry_grads(r, inv, g, omg, c)


@njit(cache=True, nogil=True)
def bg_value(r, sigma, th0, th1):
    """The posterior mean and its r-derivative only (the forward pass)."""
    inv, g, omg, c = bg_row(sigma, th0, th1)
    return bg_entry(r, inv, g, omg, c)


@njit(cache=True, nogil=True)
def bg_layer(Hprev, Z, sigma, th0, th1, M, R, H, b):
    """``R = Hprev + Z``, ``H = eta(R)`` and the Onsager coefficient ``b = sum_j
    eta'(R)_j / M`` per row."""
    B, N = Z.shape
    for i in range(B):
        inv, g, omg, c = bg_row(sigma[i], th0, th1)
        acc = 0.0
        for j in range(N):
            r = Hprev[i, j] + Z[i, j]
            R[i, j] = r
            e, d = bg_entry(r, inv, g, omg, c)
            H[i, j] = e
            acc += d
        b[i] = acc / M


@njit(cache=True, nogil=True)
def bg_layer_backward(Hbar, Tmp, subtract, R, sigma, th0, th1, b_bar, M, Rbar, sigma_bar):
    """Backward of one Bernoulli-Gaussian layer, as :func:`soft_layer_backward`; returns
    ``(dL/dtheta0, dL/dtheta1)``."""
    B, N = R.shape
    g0 = 0.0
    g1 = 0.0
    for i in range(B):
        inv, gr, omg, c = bg_row(sigma[i], th0, th1)
        k = b_bar[i] / M
        acc_s = 0.0
        for j in range(N):
            g = Hbar[i, j] - Tmp[i, j] if subtract else Hbar[i, j]
            _, d, e_s, e_0, e_1, d_r, d_s, d_0, d_1 = bg_entry_grads(R[i, j], inv, gr, omg, c)
            Rbar[i, j] = g * d + k * d_r
            acc_s += g * e_s + k * d_s
            g0 += g * e_0 + k * d_0
            g1 += g * e_1 + k * d_1
        sigma_bar[i] = acc_s
    return g0, g1


# ----------------------------------------------------------------------------------------
# Products with sparse codes (LISTA), their zero entries skipped


@njit(cache=True, nogil=True)
def _support(row, idx):
    """Write the indices of the nonzero entries of ``row`` to ``idx``; return their count."""
    n = 0
    for j in range(row.size):
        if row[j] != 0:
            idx[n] = j
            n += 1
    return n


@njit(cache=True, nogil=True)
def sparse_times(Hs, Mat, out):
    """``out = Hs @ Mat`` for a ``Hs`` (B, N) of mostly zero entries: per row, the rows of
    ``Mat`` (N, P) of its nonzero entries, four at a time."""
    B, N = Hs.shape
    P = Mat.shape[1]
    idx = np.empty(N, np.int64)
    for b in range(B):
        n = _support(Hs[b], idx)
        o = out[b]
        o[:] = 0
        k = 0
        while k + 4 <= n:
            j0, j1, j2, j3 = idx[k], idx[k + 1], idx[k + 2], idx[k + 3]
            a0, a1, a2, a3 = Hs[b, j0], Hs[b, j1], Hs[b, j2], Hs[b, j3]
            m0, m1, m2, m3 = Mat[j0], Mat[j1], Mat[j2], Mat[j3]
            for c in range(P):
                o[c] += a0 * m0[c] + a1 * m1[c] + a2 * m2[c] + a3 * m3[c]
            k += 4
        while k < n:
            j0 = idx[k]
            a0 = Hs[b, j0]
            m0 = Mat[j0]
            for c in range(P):
                o[c] += a0 * m0[c]
            k += 1


@njit(cache=True, nogil=True)
def sparse_outer(D, Hs):
    """``D^T Hs`` for two (B, N) arrays of mostly zero entries, in float64: per row, the
    outer product of their nonzero entries."""
    B, N = Hs.shape
    out = np.zeros((N, N))
    cols = np.empty(N, np.int64)
    for b in range(B):
        n = _support(Hs[b], cols)
        if n == 0:
            continue
        for i in range(N):
            d = D[b, i]
            if d != 0:
                row = out[i]
                for k in range(n):
                    j = cols[k]
                    row[j] += d * Hs[b, j]
    return out
