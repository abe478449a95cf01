"""Approximate message passing (AMP) for the lasso, batched.

AMP (Donoho, Maleki and Montanari, *Message-passing algorithms for compressed sensing*,
PNAS 106(45), 2009) is iterative soft thresholding plus one correction term, the Onsager
term, which keeps the effective noise of every iterate Gaussian for i.i.d. Gaussian
matrices. With ``Phi = A D`` scaled to columns of unit norm on average::

    h^{t+1} = soft(h^t + Phi^T z^t; theta_t),        theta_t = tau ||z^t|| / sqrt(M)
    z^{t+1} = x - Phi h^{t+1} + (||h^{t+1}||_0 / M) z^t

``||z^t|| / sqrt(M)`` estimates the standard deviation of the effective noise of
``h^t + Phi^T z^t`` (Montanari, *Graphical models concepts in compressed sensing*, 2012),
so ``tau`` is a threshold in units of that noise, independent of the signal's
scale. Every signal (row of a batch) has its own threshold, Onsager term and stopping.
"""

import warnings
from dataclasses import dataclass

import numpy as np
from numba import njit

from .phase import minimax_threshold
from .solvers import (ConvergenceWarning, SolverResult, _c, _check_count, _check_penalty,
                      _initial_codes, _signal_batch, _synthesis, _times_dictionary,
                      lasso_duality_gap)

__all__ = ["AMPResult", "amp"]

#: A signal diverges when its residual grows beyond this many times ``||x||``.
DIVERGENCE = 1e3

_CHECK_EVERY = 10  # iterations between compactions of the batch


@dataclass
class AMPResult(SolverResult):
    """What :func:`amp` returns: a :class:`~sparserec.SolverResult` with two more fields.

    ``objective`` and ``gap`` are those of the lasso whose solutions are AMP's fixed
    points, with the per-signal penalty ``lam1_effective``.

    Attributes
    ----------
    diverged : ndarray of bool
        Signals stopped because their residual blew up (never ``converged``).
    lam1_effective : ndarray
        ``theta (1 - ||h||_0 / M)`` in the units of ``A D``: at a fixed point of AMP, ``h``
        solves the lasso with this penalty (DMM 2009; Bayati and Montanari, 2012).
    """

    diverged: np.ndarray = None
    lam1_effective: np.ndarray = None


def amp(x, A, *, tau=None, damping=None, D=None, max_iter=1000, tol=1e-6, h_init=None):
    """Recover sparse codes by approximate message passing, for one signal or a batch.

    Parameters
    ----------
    x : array_like of shape (M,) or (B, M)
        Measurements: one signal, or one signal per row.
    A : array_like of shape (M, N)
        Measurement matrix; AMP is derived for i.i.d. entries of variance ``1/M``
        (:func:`sparserec.gaussian_matrix`). Only the shape of the distribution matters: the
        matrix is rescaled internally to columns of unit norm on average.
    tau : float, optional
        Threshold in units of the estimated noise level ``||z|| / sqrt(M)``. Default: the
        minimax threshold of :func:`sparserec.minimax_threshold` at ``delta = M / N``, with
        which AMP's noiseless phase transition is the l1 (Donoho-Tanner) curve. Larger values
        give sparser, more biased codes.
    damping : float in [0, 1), optional
        Weight of the previous iterate in ``h`` and ``z``,
        ``h <- (1 - damping) h_new + damping h`` and the same for ``z`` (None or 0: plain
        AMP). Undamped AMP may diverge for matrices that are not i.i.d. (correlated
        columns, a dictionary ``D`` that is not orthonormal); 0.3 to 0.7 usually helps, at
        the cost of more iterations. The fixed points are unchanged.
    D : array_like of shape (N, N), optional
        Dictionary: the signal is ``y = D h`` (identity when omitted).
    max_iter : int, default=1000
        Maximum number of iterations per signal.
    tol : float, default=1e-6
        Stop a signal when ``||h^t - h^{t-1}|| <= tol ||h^t||``.
    h_init : array_like of shape (N,) or (B, N), optional
        Warm start (zeros when omitted); the first residual has no Onsager term.

    Returns
    -------
    AMPResult
        Codes ``h`` and reconstructions ``y_hat = D h`` of shape (N,) or (B, N), per-signal
        ``n_iter``, ``converged``, ``diverged``, ``lam1_effective``, and the ``objective``
        and relative duality ``gap`` of the lasso with that penalty.

    Warns
    -----
    ConvergenceWarning
        When signals did not meet ``tol`` in ``max_iter`` iterations, or diverged: a
        signal whose residual exceeds ``DIVERGENCE`` (1000) times ``||x||``, or is not
        finite, is stopped there and flagged in ``diverged``.

    See Also
    --------
    fista : the lasso for a fixed penalty, for any matrix.
    minimax_threshold : the default ``tau``.

    Notes
    -----
    The threshold rule ``theta_t = tau ||z^t|| / sqrt(M)`` is that of Montanari
    (*Graphical models concepts in compressed sensing*, in Compressed Sensing: Theory and
    Applications, Cambridge University Press, 2012) and of Donoho, Maleki and Montanari
    (2009), where ``tau`` is the minimax
    threshold of soft thresholding for the sparsity at the phase transition. It needs no
    knowledge of the noise level or the sparsity, and AMP then solves a lasso whose
    penalty it has chosen itself (``lam1_effective``); to solve the lasso for a given
    penalty, use :func:`fista`.

    Damping as in Rangan, Schniter, Fletcher and Sarkar (*On the convergence of
    approximate message passing with arbitrary matrices*, IEEE Trans. IT 65(9), 2019).

    Examples
    --------
    >>> import numpy as np
    >>> from sparserec import amp, gaussian_matrix
    >>> A = gaussian_matrix(100, 200, random_state=0)
    >>> H = np.zeros((3, 200)); H[:, :10] = 1.0
    >>> result = amp(H @ A.T, A)
    >>> bool(result.converged.all()), bool(np.allclose(result.h, H, atol=1e-4))
    (True, True)
    """
    X, A, D, dtype, single = _signal_batch(x, A, D)
    B, M = X.shape
    N = A.shape[1]
    _check_count(max_iter, "max_iter")
    _check_penalty(tol, "tol")
    if tau is None:
        tau = minimax_threshold(min(M / N, 1.0))
    elif not (np.isscalar(tau) and 0 < tau < np.inf):
        raise ValueError(f"tau must be a positive finite number, got {tau!r}")
    damping = 0.0 if damping is None else damping
    if not (np.isscalar(damping) and 0 <= damping < 1):
        raise ValueError(f"damping must be a number in [0, 1), got {damping!r}")

    Phi64 = _times_dictionary(np.asarray(A, np.float64),
                              None if D is None else np.asarray(D, np.float64))
    # Rescale to unit mean column norm: the Onsager term ||h||_0 / M assumes it, and the
    # threshold rule is then free of the matrix's scale.
    scale = float(np.linalg.norm(Phi64) / np.sqrt(N))
    if scale == 0.0:
        raise ValueError("A D is zero: nothing can be recovered")
    Phi = _c(Phi64 / scale, dtype)
    H = _initial_codes(h_init, B, N, dtype, "h_init", single) * dtype.type(scale)

    h, n_iter, status, theta, onsager = _iterate(X, Phi, H, float(tau), float(damping),
                                                 max_iter, float(tol))
    h /= dtype.type(scale)
    converged, diverged = status == 1, status == 2
    lam1 = scale * theta * np.maximum(1.0 - onsager, 0.0)
    gap, primal = lasso_duality_gap(X, Phi64, h, lam1)  # lam1 per row: broadcasts
    half_norm = 0.5 * np.einsum("bm,bm->b", X.astype(np.float64), X.astype(np.float64))
    gap = gap / np.maximum(half_norm, 1e-300)
    _warn(converged, diverged, B, tol, max_iter)
    settings = dict(method="amp", tau=float(tau), damping=float(damping), max_iter=max_iter,
                    tol=tol, scale=scale, dtype=dtype.name)
    y_hat = _synthesis(h, D)
    fields = (h, y_hat, n_iter, converged, primal, gap, diverged, lam1)
    if single:
        fields = tuple(a[0] for a in fields)
    h, y_hat, n_iter, converged, primal, gap, diverged, lam1 = fields
    return AMPResult(h=h, y_hat=y_hat, n_iter=n_iter, converged=converged, objective=primal,
                     gap=gap, settings=settings, diverged=diverged, lam1_effective=lam1)


def _iterate(X, Phi, H, tau, damping, max_iter, tol):
    """Run AMP in chunks; signals that stop (converged or diverged) leave the batch."""
    B, M = X.shape
    PhiT = _c(Phi.T, X.dtype)
    h = H.copy()
    z = np.ascontiguousarray(X - h @ PhiT)
    n_iter = np.zeros(B, np.int64)
    status = np.zeros(B, np.int8)  # 0 running, 1 converged, 2 diverged
    theta = np.zeros(B)
    onsager = np.zeros(B)
    x2 = np.einsum("bm,bm->b", X.astype(np.float64), X.astype(np.float64))
    limit = DIVERGENCE**2 * np.maximum(x2, np.finfo(np.float64).tiny)
    active = np.arange(B)
    done = 0
    while active.size and done < max_iter:
        n_steps = min(_CHECK_EVERY, max_iter - done)
        parts = [np.ascontiguousarray(a[active]) for a in (X, h, z, n_iter, status, theta,
                                                           onsager, limit)]
        xa, ha, za, ia, sa, ta, oa, la = parts
        _amp_steps(Phi, PhiT, xa, ha, za, tau, damping, n_steps, tol, la, ia, sa, ta, oa)
        h[active], z[active], n_iter[active], status[active] = ha, za, ia, sa
        theta[active], onsager[active] = ta, oa
        active = active[sa == 0]
        done += n_steps
    return h, n_iter, status, theta, onsager


@njit(cache=True)
def _amp_steps(Phi, PhiT, x, h, z, tau, damping, n_steps, tol, limit, iters, status, theta,
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
                v = pseudo[b, j]
                if v > threshold:
                    v -= threshold
                    nonzero += 1
                elif v < -threshold:
                    v += threshold
                    nonzero += 1
                else:
                    v = 0.0
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


def _warn(converged, diverged, B, tol, max_iter):
    if diverged.any():
        warnings.warn(f"amp: {np.count_nonzero(diverged)} of {B} signals diverged (residual "
                      f"beyond {DIVERGENCE:g} ||x||); try damping=0.5, or fista",
                      ConvergenceWarning, stacklevel=3)
    stalled = np.count_nonzero(~converged & ~diverged)
    if stalled:
        warnings.warn(f"amp: {stalled} of {B} signals did not reach tol={tol} in "
                      f"max_iter={max_iter} iterations", ConvergenceWarning, stacklevel=3)
