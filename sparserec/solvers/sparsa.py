"""SpaRSA: sparse reconstruction by separable approximation (Wright, Nowak and Figueiredo,
2009), for a batch of lasso signals or of sequences at once.

Proximal gradient steps ``h+ = soft(h - grad / alpha, lam1 / alpha)`` whose ``alpha`` is
the Barzilai-Borwein curvature of the last step, accepted when the objective is below the
largest of the last ``memory`` objectives by ``sigma/2 alpha ||h+ - h||^2`` (else ``alpha``
grows by ``eta`` and the step is retried). :func:`sparsa` solves the lasso,
:func:`sista_sparsa` SISTA's problem of every frame of a sequence, frame after frame.
"""

from dataclasses import dataclass

import numpy as np

from .._threads import in_threads, one_blas_thread
from .._validation import (check_choice, check_initial_codes, check_int, check_number,
                           check_sequences, check_signals)
from . import _sparsa_kernels
from ._base import (SolverResult, half_squared_norms, lasso_duality_gap, make_result,
                    synthesis, times_dictionary, warn_unconverged)

__all__ = ["SpaRSAResult", "sparsa", "sista_sparsa"]


@dataclass
class SpaRSAResult(SolverResult):
    """What :func:`sparsa` and :func:`sista_sparsa` return: a
    :class:`~sparserec.SolverResult` with one more field.

    Attributes
    ----------
    n_backtracks : ndarray of int
        Trial steps rejected by the acceptance test (``alpha`` multiplied by ``eta``), per
        signal or frame, like ``n_iter``.
    """

    n_backtracks: np.ndarray = None


def sparsa(x, A, lam1, *, D=None, max_iter=1000, tol=1e-6, stop="gap", h_init=None,
           memory=5, sigma=0.01, eta=2.0, alpha_min=1e-30, alpha_max=1e30):
    """Solve the lasso by SpaRSA for one signal or a batch.

    Minimises ``1/2 ||x - A D h||^2 + lam1 ||h||_1`` for every signal, each with its own
    steps, backtracking and stop.

    Parameters
    ----------
    x : array_like of shape (M,) or (B, M)
        Measurements: one signal, or one signal per row.
    A : array_like of shape (M, N)
        Measurement matrix.
    lam1 : float
        Weight of the l1 penalty (``lam1 >= 0``).
    D : array_like of shape (N, N), optional
        Dictionary: the signal is ``y = D h`` (identity when omitted).
    max_iter : int, default=1000
        Maximum number of iterations (accepted steps) per signal.
    tol : float, default=1e-6
        Stop a signal when its stopping criterion is at most ``tol``.
    stop : {'gap', 'objective'}, default='gap'
        The criterion: the relative duality gap ``gap / (1/2 ||x||^2)``, as :func:`ista`
        (a bound on the distance to the optimal objective, SpaRSA's default is a
        duality-based criterion too), or the relative change of the objective
        ``|f_k - f_{k-1}| / f_{k-1}`` (SpaRSA's criterion 1, as the SISTA-RNN paper's
        baselines use it: cheap, but a short step can stop it early).
    h_init : array_like of shape (N,) or (B, N), optional
        Warm start (zeros when omitted).
    memory : int, default=5
        The acceptance test compares with the largest of the last ``memory`` objectives
        (1: a monotone method).
    sigma : float, default=0.01
        Sufficient decrease of the acceptance test, in (0, 1).
    eta : float, default=2.0
        Factor by which ``alpha`` grows after a rejected step (> 1).
    alpha_min, alpha_max : float, default=1e-30 and 1e30
        Bounds of the inverse step size ``alpha``.

    Returns
    -------
    SpaRSAResult
        Codes ``h`` and reconstructions ``y_hat = D h`` of shape (N,) or (B, N), with
        per-signal ``n_iter``, ``converged``, ``objective``, ``gap`` (relative duality gap,
        as :func:`ista`) and ``n_backtracks``.

    See Also
    --------
    sista_sparsa : SISTA's sequential problem, solved by SpaRSA frame after frame.
    fista : accelerated proximal gradient, stopped on the duality gap.

    Notes
    -----
    The first step of a signal uses the curvature along the gradient,
    ``||A D g||^2 / ||g||^2``; every later one the Barzilai-Borwein value
    ``||A D s||^2 / ||s||^2`` of the last step ``s = h_k - h_{k-1}``, clamped to
    ``[alpha_min, alpha_max]``. No Lipschitz constant is needed.

    References
    ----------
    .. [1] Wright, S. J., Nowak, R. D. and Figueiredo, M. A. T. (2009). Sparse
           reconstruction by separable approximation. IEEE Transactions on Signal
           Processing, 57(7), 2479-2493.

    Examples
    --------
    >>> import numpy as np
    >>> from sparserec import sparsa, gaussian_matrix
    >>> A = gaussian_matrix(20, 40, random_state=0)
    >>> h_true = np.zeros(40); h_true[[3, 17]] = [1.0, -2.0]
    >>> result = sparsa(A @ h_true, A, lam1=0.01, tol=1e-10)
    >>> bool(result.converged), bool(result.gap < 1e-6)
    (True, True)
    """
    X, A, D, single = check_signals(x, A, D)
    lam1 = check_number(lam1, "lam1", low=0)
    max_iter = check_int(max_iter, "max_iter")
    tol = check_number(tol, "tol", low=0)
    stop = check_choice(stop, "stop", ("gap", "objective"))
    options = _check_options(memory, sigma, eta, alpha_min, alpha_max)
    B, N = X.shape[0], A.shape[1]
    dtype = X.dtype
    H = check_initial_codes(h_init, B, N, dtype, "h_init", single)
    Phi = np.ascontiguousarray(times_dictionary(A, D), dtype=dtype)
    empty = np.zeros((N, 0), dtype)
    h, iters, converged, _, backtracks = _run(X[:, None, :], _c(Phi.T, dtype), empty, empty,
                                              H, False, lam1, options, max_iter, tol, stop, False)
    h, iters, converged, backtracks = h[:, 0], iters[:, 0], converged[:, 0], backtracks[:, 0]
    warn_unconverged("sparsa", converged, "signals", tol, f"max_iter={max_iter} iterations")
    gap, primal = lasso_duality_gap(X, Phi, h, lam1)
    gap /= np.maximum(half_squared_norms(X), 1e-300)
    settings = dict(method="sparsa", lam1=lam1, max_iter=max_iter, tol=tol,
                    stop=stop, **options, dtype=dtype.name)
    return make_result(SpaRSAResult, single, settings, h=h, y_hat=synthesis(h, D),
                       n_iter=iters, converged=converged, objective=primal, gap=gap,
                       n_backtracks=backtracks)


def sista_sparsa(x, A, lam1, lam2, *, D=None, F=None, h0=None, h_first=None, n_iter=None,
                 max_iter=1000, tol=1e-6, stop="gap", memory=5, sigma=0.01, eta=2.0,
                 alpha_min=1e-30, alpha_max=1e30):
    """SISTA's sequential problem solved by SpaRSA, for one sequence or a batch.

    For every frame ``t`` solves, as :func:`sista` does,
    ``min_h 1/2 ||x_t - A D h||^2 + lam1 ||h||_1 + lam2/2 ||D h - F D h_{t-1}||^2``,
    starting from ``P h_{t-1}`` with ``P = D^T F D``; each frame is the lasso of the stacked
    matrix ``[A D; sqrt(lam2) D]`` and target ``[x_t; sqrt(lam2) F D h_{t-1}]``.

    Parameters
    ----------
    x : array_like of shape (T, M) or (B, T, M)
        Measurements: one sequence of T frames, or a batch of B sequences.
    A : array_like of shape (M, N)
        Measurement matrix.
    lam1 : float
        Weight of the l1 penalty.
    lam2 : float
        Weight of the temporal term (``lam2 = 0`` is :func:`sparsa` frame by frame).
    D : array_like of shape (N, N), optional
        Dictionary (identity when omitted).
    F : array_like of shape (N, N), optional
        Transition in the signal domain, ``y_t ~ F y_{t-1}`` (identity when omitted).
    h0 : array_like of shape (N,) or (B, N), optional
        Code before the first frame (zeros when omitted), as in :func:`sista`. The
        baselines of the SISTA-RNN paper call ``h0 = D^T y_0`` with ``y_0`` the true first
        frame the "oracle" initialisation: the first frame is still estimated, with the
        truth as its temporal prior.
    h_first : array_like of shape (N,) or (B, N), optional
        The code of the first frame, given rather than estimated: frame 0 of the result is
        ``h_first`` (``n_iter`` 0, its objective without the temporal term), and frame 1
        follows from it. Not with ``h0``. Giving the :func:`sparsa` solution of the first
        frame makes its problem a plain lasso (no temporal term towards zero).
    n_iter : int, optional
        Exactly this many iterations per frame, ignoring ``tol``.
    max_iter : int, default=1000
        Maximum iterations per frame when ``n_iter`` is not given.
    tol : float, default=1e-6
        Stop a frame when its stopping criterion is at most ``tol``.
    stop : {'gap', 'objective'}, default='gap'
        The criterion, as in :func:`sparsa`, of the frame's (stacked) lasso: its duality
        gap relative to ``1/2 (||x_t||^2 + lam2 ||F D h_{t-1}||^2)``, or the relative
        change of its objective.
    memory, sigma, eta, alpha_min, alpha_max
        The step's safeguards, as in :func:`sparsa`.

    Returns
    -------
    SpaRSAResult
        ``h`` and ``y_hat`` of shape (T, N) or (B, T, N); ``n_iter``, ``converged``,
        ``objective`` and ``n_backtracks`` per frame, of shape (T,) or (B, T).

    See Also
    --------
    sista : the same problems by iterative soft-thresholding.

    References
    ----------
    .. [1] Wright, S. J., Nowak, R. D. and Figueiredo, M. A. T. (2009). Sparse
           reconstruction by separable approximation. IEEE Transactions on Signal
           Processing, 57(7), 2479-2493.
    .. [2] Wisdom, S., Powers, T., Pitton, J. and Atlas, L. (2017). Building recurrent
           networks by unfolding iterative thresholding for sequential sparse recovery.
           ICASSP 2017 (SpaRSA as a baseline of the SISTA-RNN).

    Examples
    --------
    >>> import numpy as np
    >>> from sparserec import sista_sparsa, paper_matrices
    >>> A, D, F = paper_matrices()
    >>> x = np.random.default_rng(0).standard_normal((8, 32))  # T = 8 frames
    >>> result = sista_sparsa(x, A, lam1=0.5, lam2=1.0, D=D, F=F, tol=1e-8)
    >>> result.h.shape, bool(result.converged.all())
    ((8, 128), True)
    """
    X, A, D, F, single = check_sequences(x, A, D, F)
    dtype = X.dtype
    B, T, M = X.shape
    N = A.shape[1]
    lam1 = check_number(lam1, "lam1", low=0)
    lam2 = check_number(lam2, "lam2", low=0)
    fixed = n_iter is not None
    iterations = check_int(n_iter, "n_iter") if fixed else check_int(max_iter, "max_iter")
    tol = check_number(tol, "tol", low=0)
    stop = check_choice(stop, "stop", ("gap", "objective"))
    options = _check_options(memory, sigma, eta, alpha_min, alpha_max)
    if h0 is not None and h_first is not None:
        raise ValueError("give h0 (the code before the first frame) or h_first (the first "
                         "frame's code), not both")
    given = h_first is not None
    H0 = check_initial_codes(h_first if given else h0, B, N, dtype,
                             "h_first" if given else "h0", single)

    with one_blas_thread():
        A64, D64, F64 = (np.asarray(a, np.float64) for a in (A, D, F))
        Phi = A64 @ D64
        if lam2 > 0:  # the temporal term as rows of a lasso
            Phi = np.vstack([Phi, np.sqrt(lam2) * D64])
            CT = (np.sqrt(lam2) * F64 @ D64).T
        else:
            CT = np.zeros((N, 0))
        PT = (D64.T @ F64 @ D64).T
        h, iters, converged, objective, backtracks = _run(
            _c(X[:, 1:], dtype) if given else X, _c(Phi.T, dtype), _c(CT, dtype), _c(PT, dtype), H0,
            True, lam1, options, iterations, tol, stop, fixed)
        if given:  # frame 0 is h_first, as it is
            fit = X[:, 0].astype(np.float64) - H0 @ Phi[:M].T
            first = 0.5 * np.einsum("bm,bm->b", fit, fit) + lam1 * np.abs(H0).sum(axis=1)
            h = np.concatenate([H0[:, None], h], axis=1)
            iters, backtracks = (np.concatenate([np.zeros((B, 1), np.int64), a], axis=1)
                                 for a in (iters, backtracks))
            converged = np.concatenate([np.ones((B, 1), bool), converged], axis=1)
            objective = np.concatenate([first[:, None], objective], axis=1)
        y_hat = (h @ D.T).astype(dtype)
    if not fixed:
        warn_unconverged("sista_sparsa", converged, "frames", tol,
                         f"max_iter={max_iter} iterations")
    settings = dict(method="sista_sparsa", lam1=lam1, lam2=lam2, n_iter=n_iter,
                    max_iter=max_iter, tol=tol, stop=stop, **options,
                    h_first=given, dtype=dtype.name)
    return make_result(SpaRSAResult, single, settings, h=h, y_hat=y_hat, n_iter=iters,
                       converged=converged, objective=objective, n_backtracks=backtracks)


def _check_options(memory, sigma, eta, alpha_min, alpha_max):
    """The safeguards of SpaRSA's step, checked, as a dict of settings."""
    options = dict(memory=check_int(memory, "memory", low=1),
                   sigma=check_number(sigma, "sigma", low=0, high=1, low_open=True,
                                      high_open=True),
                   eta=check_number(eta, "eta", low=1, low_open=True),
                   alpha_min=check_number(alpha_min, "alpha_min", low=0, low_open=True),
                   alpha_max=check_number(alpha_max, "alpha_max", low=0, low_open=True))
    if options["alpha_min"] > options["alpha_max"]:
        raise ValueError(f"alpha_min must be at most alpha_max, got {alpha_min!r} > "
                         f"{alpha_max!r}")
    return options


def _run(X, PhiT, CT, PT, H0, predict, lam1, options, max_iter, tol, stop, fixed):
    """The kernel over the sequences ``X`` (B, T, M) in threads: codes, iterations,
    convergence, objectives and backtracks per frame."""
    B, T, _ = X.shape
    N = PhiT.shape[0]
    h = np.empty((B, T, N), X.dtype)
    iters = np.empty((B, T), np.int64)
    backtracks = np.empty((B, T), np.int64)
    converged = np.empty((B, T), bool)
    objective = np.empty((B, T))
    with one_blas_thread():
        in_threads(_sparsa_kernels.sparsa_sequences, B, X, PhiT, CT, PT, H0, predict, lam1,
                   options["alpha_min"], options["alpha_max"], options["sigma"],
                   options["eta"], options["memory"], max_iter, tol, stop == "gap", fixed, h, iters,
                   converged, objective, backtracks)
    return h, iters, converged, objective, backtracks


def _c(a, dtype):
    return np.ascontiguousarray(a, dtype=dtype)
