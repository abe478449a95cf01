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
from .._validation import check_initial_codes, check_int, check_number, check_signals
from ..theory import minimax_threshold
from . import _amp_kernels
from ._base import (ConvergenceWarning, SolverResult, half_squared_norms, lasso_duality_gap,
                    make_result, synthesis, times_dictionary, warn_unconverged)

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


def amp(x, A, *, tau="sure", damping=None, D=None, max_iter=1000, tol=1e-6, h_init=None):
    """Recover sparse codes by approximate message passing, for one signal or a batch.

    Parameters
    ----------
    x : array_like of shape (M,) or (B, M)
        Measurements: one signal, or one signal per row.
    A : array_like of shape (M, N)
        Measurement matrix; AMP is derived for i.i.d. entries of variance ``1/M``
        (:func:`sparserec.gaussian_matrix`). Only the shape of the distribution matters: the
        matrix is rescaled internally to columns of unit norm on average.
    tau : {'sure', 'minimax'} or float, default='sure'
        The threshold rule. A number: a fixed threshold in units of the estimated noise level
        ``||z|| / sqrt(M)``; larger values give sparser, more biased codes. 'minimax': that
        number set to :func:`sparserec.minimax_threshold` at ``delta = M / N``, with which
        AMP's noiseless phase transition is the l1 (Donoho-Tanner) curve (the default of
        phase diagrams). 'sure' (or None): tuned per signal and iteration by Stein's unbiased
        risk estimate (see Notes), which needs no knowledge of the sparsity.
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
    minimax_threshold : ``tau='minimax'``.

    Notes
    -----
    With ``tau='sure'``, every iteration minimises over ``theta`` (at the sorted ``|r_i|``,
    ``r = h + Phi^T z``) Stein's unbiased estimate of the risk of ``soft(r; theta)`` with
    noise variance ``sigma^2 = ||z||^2 / M``,
    ``SURE(theta) = N sigma^2 - 2 sigma^2 #{|r_i| <= theta} + sum_i min(r_i^2, theta^2)``
    (Mousavi, Maleki and Baraniuk, *Parameterless optimal approximate message passing*,
    arXiv:1311.0035, 2013). At N of a few hundred that minimiser is noisy, and the noise
    slows AMP down; the threshold used is therefore ``sigma`` times the mean over the
    iterations so far of the minimisers in units of ``sigma``. Soft-threshold AMP with
    many nonzeros is close to oscillating at such N: a signal whose residual grows is
    damped by at least 0.2 from then on. ``lam1_effective`` is that of the last threshold.

    The fixed-threshold rule ``theta_t = tau ||z^t|| / sqrt(M)`` is that of Montanari
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
    X, A, D, single = check_signals(x, A, D)
    dtype = X.dtype
    B, M = X.shape
    N = A.shape[1]
    max_iter = check_int(max_iter, "max_iter")
    tol = check_number(tol, "tol", low=0)
    if tau is None or tau == "sure":
        tau, factor = "sure", 0.0  # the kernel's code for SURE
    else:
        if tau == "minimax":
            tau = minimax_threshold(min(M / N, 1.0))
        tau = factor = check_number(tau, "tau", low=0, low_open=True)
    damping = check_number(0.0 if damping is None else damping, "damping", low=0, high=1,
                           high_open=True)

    Phi64 = times_dictionary(np.asarray(A, np.float64),
                             None if D is None else np.asarray(D, np.float64))
    # Rescale to unit mean column norm: the Onsager term ||h||_0 / M assumes it, and the
    # threshold rule is then free of the matrix's scale.
    scale = float(np.linalg.norm(Phi64) / np.sqrt(N))
    if scale == 0.0:
        raise ValueError("A D is zero: nothing can be recovered")
    Phi = np.ascontiguousarray(Phi64 / scale, dtype=dtype)
    H = check_initial_codes(h_init, B, N, dtype, "h_init", single) * dtype.type(scale)

    h, n_iter, status, theta, onsager = _iterate(X, Phi, H, factor, damping, max_iter, tol)
    h /= dtype.type(scale)
    converged, diverged = status == 1, status == 2
    lam1 = scale * theta * np.maximum(1.0 - onsager, 0.0)
    gap, primal = lasso_duality_gap(X, Phi64, h, lam1)  # lam1 per row: broadcasts
    gap = gap / np.maximum(half_squared_norms(X), 1e-300)
    if diverged.any():
        warnings.warn(f"amp: {np.count_nonzero(diverged)} of {B} signals diverged (residual "
                      f"beyond {DIVERGENCE:g} ||x||); try damping=0.5, or fista",
                      ConvergenceWarning, stacklevel=2)
    warn_unconverged("amp", converged | diverged, "signals", tol,
                     f"max_iter={max_iter} iterations")
    settings = dict(method="amp", tau=tau, damping=damping, max_iter=max_iter, tol=tol,
                    scale=scale, dtype=dtype.name)
    return make_result(AMPResult, single, settings, h=h, y_hat=synthesis(h, D),
                       n_iter=n_iter, converged=converged, objective=primal, gap=gap,
                       diverged=diverged, lam1_effective=lam1)


def _iterate(X, Phi, H, factor, damping, max_iter, tol):
    """Run AMP in chunks; signals that stop (converged or diverged) leave the batch."""
    B, M = X.shape
    PhiT = np.ascontiguousarray(Phi.T)
    h = H.copy()
    z = np.ascontiguousarray(X - h @ PhiT)
    n_iter = np.zeros(B, np.int64)
    status = np.zeros(B, np.int8)  # 0 running, 1 converged, 2 diverged
    theta = np.zeros(B)
    onsager = np.zeros(B)
    sure = np.zeros((B, 3))
    sure[:, 2] = damping
    limit = DIVERGENCE**2 * np.maximum(2 * half_squared_norms(X), np.finfo(np.float64).tiny)
    active = np.arange(B)
    done = 0
    while active.size and done < max_iter:
        n_steps = min(_CHECK_EVERY, max_iter - done)
        parts = [np.ascontiguousarray(a[active]) for a in (X, h, z, n_iter, status, theta,
                                                           onsager, limit, sure)]
        xa, ha, za, ia, sa, ta, oa, la, ma = parts
        _amp_kernels.amp_steps(Phi, PhiT, xa, ha, za, factor, damping, n_steps, tol, la, ia, sa,
                               ta, oa, ma)
        h[active], z[active], n_iter[active], status[active] = ha, za, ia, sa
        theta[active], onsager[active], sure[active] = ta, oa, ma
        active = active[sa == 0]
        done += n_steps
    return h, n_iter, status, theta, onsager
