"""Greedy and hard-thresholding recovery: OMP, normalised IHT, CoSaMP and subspace
pursuit, on a batch of signals at once.

Each looks for a code ``h`` with at most ``n_nonzero`` nonzeros such that ``x ~ A D h``.
They share one front (:func:`_greedy`): the signals are checked, the Gram matrix
``(A D)^T (A D)`` is computed once in float64 when it fits in memory, and the kernels
(``_greedy_kernels.py``) solve the rows in threads.
"""

import warnings

import numpy as np

from .._threads import in_threads, one_blas_thread
from .._validation import check_int, check_number, check_signals
from . import _greedy_kernels
from ._base import (ConvergenceWarning, SolverResult, make_result, synthesis, times_dictionary,
                    warn_unconverged)

__all__ = ["omp", "iht", "cosamp", "subspace_pursuit"]

#: The Gram matrix is used up to this many atoms (N = 4096 is 128 MB); beyond, the
#: kernels correlate through A itself.
MAX_GRAM_ATOMS = 4096


def omp(x, A, n_nonzero=None, tol=None, *, D=None, check_input=True):
    """Orthogonal matching pursuit for one signal or a batch.

    Each signal takes atoms (columns of ``A D``) one at a time, the one most correlated
    with the residual, and its coefficients are the least-squares fit on the atoms taken
    (updated through a Cholesky factor of their Gram matrix, grown by one row per atom).

    Parameters
    ----------
    x : array_like of shape (M,) or (B, M)
        Measurements: one signal, or one signal per row.
    A : array_like of shape (M, N)
        Measurement matrix.
    n_nonzero : int, optional
        Stop at this many atoms (at most ``min(M, N)``).
    tol : float, optional
        Stop once the squared residual ``||x - A D h||^2`` is at most ``tol``. With both,
        whichever comes first stops a signal (scikit-learn's ``orthogonal_mp`` ignores
        ``n_nonzero`` when given ``tol``); with ``tol`` alone, at most ``min(M, N)`` atoms.
    D : array_like of shape (N, N), optional
        Dictionary: the signal is ``y = D h`` (identity when omitted).
    check_input : bool, default=True
        Validate the input (False: ``x``, ``A`` C-contiguous of one float dtype).

    Returns
    -------
    SolverResult
        ``n_iter`` is the number of atoms taken per signal; ``converged`` whether it
        reached ``n_nonzero`` atoms or ``tol``; ``objective`` is ``1/2 ||x - A D h||^2``.

    Raises
    ------
    ValueError
        If neither ``n_nonzero`` nor ``tol`` is given, or ``n_nonzero`` is out of range.

    Notes
    -----
    An atom in the span of those already taken (a duplicate or a zero column) is skipped,
    so that no coefficient is NaN. Without ties, the supports are scikit-learn's, and the
    coefficients agree to rounding.

    Examples
    --------
    >>> import numpy as np
    >>> from sparserec import omp, gaussian_matrix
    >>> A = gaussian_matrix(20, 40, random_state=0)
    >>> h = np.zeros(40); h[[3, 17]] = [1.0, -2.0]
    >>> np.flatnonzero(omp(A @ h, A, n_nonzero=2).h)
    array([ 3, 17])
    """
    if n_nonzero is None and tol is None:
        raise ValueError("omp needs n_nonzero or tol (or both); got neither")
    return _greedy("omp", x, A, D, n_nonzero, dict(tol=tol), check_input)


def iht(x, A, n_nonzero, *, D=None, max_iter=1000, tol=1e-6, check_input=True):
    """Normalised iterative hard thresholding (Blumensath and Davies, 2010).

    ``h <- H_K(h + mu (A D)^T (x - A D h))``, keeping the ``K = n_nonzero`` largest
    entries, with the step ``mu`` that is optimal on the current support, shrunk while a
    change of support would not decrease the residual enough: the adaptive step that makes
    IHT stable whatever the scale of ``A``.

    Parameters
    ----------
    x : array_like of shape (M,) or (B, M)
    A : array_like of shape (M, N)
    n_nonzero : int
        K, the nonzeros of every code (at most ``min(M, N)``).
    D : array_like of shape (N, N), optional
    max_iter : int, default=1000
    tol : float, default=1e-6
        Stop a signal when the relative change ``||h - h_prev|| / ||h||`` or the relative
        residual ``||x - A D h|| / ||x||`` is at most ``tol``.
    check_input : bool, default=True

    Returns
    -------
    SolverResult

    Examples
    --------
    >>> import numpy as np
    >>> from sparserec import iht, gaussian_matrix
    >>> A = gaussian_matrix(40, 80, random_state=0)
    >>> h = np.zeros(80); h[[3, 17, 50]] = [1.0, -2.0, 1.5]
    >>> bool(np.allclose(iht(A @ h, A, n_nonzero=3, tol=1e-10).h, h))
    True
    """
    return _greedy("iht", x, A, D, n_nonzero, dict(max_iter=max_iter, tol=tol), check_input)


def cosamp(x, A, n_nonzero, *, D=None, max_iter=100, tol=1e-6, check_input=True):
    """Compressive sampling matching pursuit (Needell and Tropp, 2009).

    Each iteration merges the support with the ``2K`` atoms most correlated with the
    residual, fits least squares on the merged set and keeps its ``K = n_nonzero``
    largest coefficients.

    Parameters
    ----------
    x : array_like of shape (M,) or (B, M)
    A : array_like of shape (M, N)
    n_nonzero : int
        K (at most ``min(M, N)``).
    D : array_like of shape (N, N), optional
    max_iter : int, default=100
    tol : float, default=1e-6
        Stop a signal when its relative residual ``||x - A D h|| / ||x||`` is at most
        ``tol``, or when the residual stops decreasing (the best iterate is kept).
    check_input : bool, default=True

    Returns
    -------
    SolverResult

    Examples
    --------
    >>> import numpy as np
    >>> from sparserec import cosamp, gaussian_matrix
    >>> A = gaussian_matrix(40, 80, random_state=0)
    >>> h = np.zeros(80); h[[3, 17, 50]] = [1.0, -2.0, 1.5]
    >>> bool(np.allclose(cosamp(A @ h, A, n_nonzero=3).h, h))
    True
    """
    return _greedy("cosamp", x, A, D, n_nonzero, dict(max_iter=max_iter, tol=tol),
                   check_input)


def subspace_pursuit(x, A, n_nonzero, *, D=None, max_iter=100, tol=1e-6, check_input=True):
    """Subspace pursuit (Dai and Milenkovic, 2009).

    As :func:`cosamp`, but the support is merged with ``K`` new atoms, and the
    coefficients are fitted again on the ``K`` atoms kept. Same parameters and stopping
    rule.

    Examples
    --------
    >>> import numpy as np
    >>> from sparserec import subspace_pursuit, gaussian_matrix
    >>> A = gaussian_matrix(40, 80, random_state=0)
    >>> h = np.zeros(80); h[[3, 17, 50]] = [1.0, -2.0, 1.5]
    >>> bool(np.allclose(subspace_pursuit(A @ h, A, n_nonzero=3).h, h))
    True
    """
    return _greedy("sp", x, A, D, n_nonzero, dict(max_iter=max_iter, tol=tol), check_input)


def _greedy(method, x, A, D, n_nonzero, options, check_input):
    if check_input:
        X, A, D, single = check_signals(x, A, D)
    else:
        single = x.ndim == 1
        X = x[None] if single else x
    M, N = A.shape
    if n_nonzero is not None or method != "omp":
        if n_nonzero is None:
            raise ValueError(f"{method} needs n_nonzero, the nonzeros of every code; got None")
        n_nonzero = check_int(n_nonzero, "n_nonzero", low=1, high=min(M, N))
    tol = options["tol"]
    if tol is not None or method != "omp":
        options["tol"] = tol = check_number(tol, "tol", low=0)
    if "max_iter" in options:
        options["max_iter"] = check_int(options["max_iter"], "max_iter", low=1)
    Phi = np.asarray(times_dictionary(A, D), dtype=np.float64)
    X64 = np.ascontiguousarray(X, dtype=np.float64)
    B = X64.shape[0]
    H = np.zeros((B, N))
    n_iter, converged, residual = np.zeros(B, np.int64), np.zeros(B, bool), np.zeros(B)
    # One BLAS thread, for the products too: BLAS's threads spin for a while after a
    # product, and took the cores from the kernels' threads (1.5 times slower).
    with one_blas_thread():
        G = Phi.T @ Phi if N <= MAX_GRAM_ATOMS else np.zeros((0, 0))
        Phi, AT = np.ascontiguousarray(Phi), np.ascontiguousarray(Phi.T)
        if method == "omp":
            K = min(M, N) if n_nonzero is None else n_nonzero
            in_threads(_greedy_kernels.omp_rows, B, G, Phi, AT, X64, K,
                       -1.0 if tol is None else tol, H, n_iter, residual, converged)
        elif method == "iht":
            in_threads(_greedy_kernels.niht_rows, B, G, Phi, AT, X64, n_nonzero, tol,
                       options["max_iter"], H, n_iter, converged, residual)
        else:
            in_threads(_greedy_kernels.pursuit_rows, B, G, Phi, AT, X64, n_nonzero, tol,
                       options["max_iter"], method == "cosamp", H, n_iter, converged,
                       residual)
    if method == "omp" and not converged.all():
        warnings.warn(f"omp: {np.count_nonzero(~converged)} of {B} signals stopped before "
                      f"{K} atoms{'' if tol is None else f' or tol={tol}'}: every atom left "
                      "depends on those taken (duplicate or zero columns)",
                      ConvergenceWarning, stacklevel=4)
    elif method != "omp":
        warn_unconverged(method, converged, "signals", tol,
                         f"max_iter={options['max_iter']} iterations", stacklevel=4)
    objective = 0.5 * residual
    h = H.astype(X.dtype, copy=False)
    settings = dict(method=method, n_nonzero=n_nonzero, **options, dtype=X.dtype.name)
    return make_result(SolverResult, single, settings, h=h, y_hat=synthesis(h, D),
                       n_iter=n_iter, converged=converged, objective=objective)
