"""SISTA: sequential iterative soft-thresholding, for a batch of sequences at once.

For every frame ``t`` of a sequence SISTA solves

    min_h  1/2 ||x_t - A D h||^2 + lam1 ||h||_1 + lam2/2 ||D h - F D h_{t-1}||^2

by iterative soft-thresholding started from the previous frame's code (docs/theory.rst).
Its weights, :func:`sista_weights`, are also those of the SISTA-RNN
(:mod:`sparserec.learned`).
"""

import numpy as np

from .._threads import in_threads, one_blas_thread
from .._validation import check_initial_codes, check_int, check_number, check_sequences
from . import _sista_kernels
from ._base import SolverResult, make_result, step_size, warn_unconverged

__all__ = ["sista", "sista_weights"]


def sista_weights(A, D, F, alpha, lam2, Dinv=None):
    """The matrices of one SISTA iteration, in float64.

    ``h^(k) = soft_{lam1/alpha}(S h^(k-1) + V x_t + (lam2/alpha) P h_{t-1})``, started from
    ``h^(0) = P h_{t-1}``.

    Parameters
    ----------
    A : ndarray of shape (M, N)
    D, F : ndarrays of shape (N, N)
    alpha, lam2 : float
    Dinv : ndarray of shape (N, N), optional
        The inverse dictionary of ``P``; default ``D^T`` (exact for an orthonormal D).

    Returns
    -------
    S : ndarray of shape (N, N)
        ``I - D^T (A^T A + lam2 I) D / alpha``.
    V : ndarray of shape (N, M)
        ``D^T A^T / alpha``.
    P : ndarray of shape (N, N)
        ``Dinv F D``.
    """
    A, D, F = (np.asarray(a, np.float64) for a in (A, D, F))
    eye = np.eye(D.shape[0])
    S = eye - (D.T @ (A.T @ A + lam2 * eye) @ D) / alpha
    Dinv = D.T if Dinv is None else np.asarray(Dinv, np.float64)
    return S, (A @ D).T / alpha, Dinv @ F @ D


def sista(x, A, lam1, lam2, *, D=None, F=None, alpha=None, h0=None, n_iter=None,
          max_iter=1000, tol=1e-6):
    """Sequential iterative soft-thresholding (SISTA) for one sequence or a batch.

    For every frame ``t`` solves
    ``min_h 1/2 ||x_t - A D h||^2 + lam1 ||h||_1 + lam2/2 ||D h - F D h_{t-1}||^2``,
    starting from ``P h_{t-1}`` with ``P = D^T F D`` (the SISTA section of docs/theory.rst).

    Parameters
    ----------
    x : array_like of shape (T, M) or (B, T, M)
        Measurements: one sequence of T frames, or a batch of B sequences.
    A : array_like of shape (M, N)
        Measurement matrix.
    lam1 : float
        Weight of the l1 penalty.
    lam2 : float
        Weight of the temporal term (``lam2 = 0`` with ``F = I`` is ISTA frame by frame).
    D : array_like of shape (N, N), optional
        Dictionary (identity when omitted).
    F : array_like of shape (N, N), optional
        Transition in the signal domain, ``y_t ~ F y_{t-1}`` (identity when omitted).
    alpha : float, optional
        Inverse step size; default ``||D^T (A^T A + lam2 I) D||_2`` by power iteration
        (times 1.001). A given ``alpha`` below it triggers a :class:`StepSizeWarning`.
    h0 : array_like of shape (N,) or (B, N), optional
        Code before the first frame (zeros when omitted).
    n_iter : int, optional
        Exactly this many iterations per frame (the K of the SISTA-RNN), ignoring ``tol``.
    max_iter : int, default=1000
        Maximum iterations per frame when ``n_iter`` is not given.
    tol : float, default=1e-6
        Stop a frame when ``||h^(k) - h^(k-1)|| <= tol ||h^(k)||``.

    Returns
    -------
    SolverResult
        ``h`` and ``y_hat`` of shape (T, N) or (B, T, N); ``n_iter``, ``converged`` and
        ``objective`` per frame, of shape (T,) or (B, T).

    Examples
    --------
    >>> import numpy as np
    >>> from sparserec import sista, paper_matrices
    >>> A, D, F = paper_matrices()
    >>> x = np.random.default_rng(0).standard_normal((128, 32))  # T = 128 frames
    >>> result = sista(x, A, lam1=0.5, lam2=1.0, D=D, F=F, n_iter=3)  # alpha: the bound
    >>> result.y_hat.shape
    (128, 128)
    """
    X, A, D, F, single = check_sequences(x, A, D, F)
    dtype = X.dtype
    B, T, M = X.shape
    N = A.shape[1]
    lam1 = check_number(lam1, "lam1", low=0)
    lam2 = check_number(lam2, "lam2", low=0)
    alpha = step_size(alpha, A, D, lam2)
    H0 = check_initial_codes(h0, B, N, dtype, "h0", single)
    fixed = n_iter is not None
    iterations = check_int(n_iter, "n_iter") if fixed else check_int(max_iter, "max_iter")
    tol = check_number(tol, "tol", low=0)

    # The operators in float64 (the objective's dtype), the recursion's in the codes' dtype
    with one_blas_thread():  # (OpenBLAS's spinning threads would slow our own)
        S, V, P = sista_weights(A, D, F, alpha, lam2)
        A64, D64, F64 = (np.asarray(a, np.float64) for a in (A, D, F))
        identity_F = bool(np.array_equal(F64, np.eye(N)))
        h = np.empty((B, T, N), dtype)
        y_hat = np.empty((B, T, N), dtype)
        iters = np.empty((B, T), np.int64)
        converged = np.empty((B, T), bool)
        objective = np.empty((B, T))
        in_threads(_sista_kernels.sista_recursion, B, X, _c(V.T, dtype), _c(S.T, dtype),
                   _c(P.T, dtype), _c((S @ P).T, dtype), _c(D64.T, np.float64),
                   _c((A64 @ D64).T, np.float64), _c((F64 @ D64).T, np.float64), H0,
                   lam1, lam2, dtype.type(lam2 / alpha), dtype.type(lam1 / alpha),
                   iterations, tol, fixed, identity_F, h, y_hat, iters, converged, objective)
    if not fixed:
        warn_unconverged("sista", converged, "frames", tol,
                         f"max_iter={max_iter} iterations")
    settings = dict(method="sista", lam1=lam1, lam2=lam2, alpha=alpha, n_iter=n_iter,
                    max_iter=max_iter, tol=tol, dtype=dtype.name)
    return make_result(SolverResult, single, settings, h=h, y_hat=y_hat, n_iter=iters,
                       converged=converged, objective=objective)


def _c(a, dtype):
    return np.ascontiguousarray(a, dtype=dtype)
