"""The fast exact lasso: coordinate descent over a shared Gram matrix, many signals at once.

:func:`lasso` solves, for every signal ``x`` (a row of a batch),

    min_h  1/2 ||x - A D h||^2 + lam1 ||h||_1,

like :func:`sparserec.fista` and with the same stopping rule (relative duality gap), but
with the method of the fastest lasso solvers: all signals share ``G = Phi^T Phi``
(``Phi = A D``) and the correlations ``Phi^T x`` come from one matrix product; each signal
is then solved by coordinate descent on a growing working set with gap-safe screening
(:mod:`sparserec.solvers._lasso_kernels`), signals in parallel threads.
"""

import warnings

import numpy as np

from .._threads import in_threads, one_blas_thread
from .._validation import (check_array, check_choice, check_initial_codes, check_int,
                           check_number, check_signal_batch, check_signals, check_sparse)
from . import _lasso_kernels
from ._base import (ConvergenceWarning, SolverResult, make_result, synthesis,
                    times_dictionary, warn_unconverged)
from .proximal import fista

__all__ = ["lasso", "lasso_path"]

_METHODS = ("auto", "gram", "residual", "fista")
_GROW = 16  # candidates added to the support to make a working set


def lasso(x, A, lam1, *, D=None, tol=1e-6, max_iter=10_000, h_init=None, positive=False,
          method="auto", weights=None, A_offset=None, check_input=True):
    """Solve the lasso for one signal or a batch, by the fastest exact method.

    Parameters
    ----------
    x : array_like of shape (M,) or (B, M)
        Measurements: one signal, or one signal per row. float32 input gives float32
        codes (computed in float64, the gap checked on the float32 codes).
    A : array_like or scipy.sparse matrix of shape (M, N)
        Measurement matrix. A sparse one (CSC is best) is never densified: it is solved on
        the residual path, without ``D``.
    lam1 : float
        Weight of the l1 penalty (``lam1 >= 0``).
    D : array_like of shape (N, N), optional
        Dictionary: the signal is ``y = D h`` (identity when omitted).
    tol : float, default=1e-6
        Stop a signal when its relative duality gap ``gap / (1/2 ||x||^2)`` is at most
        ``tol``; the final gap is computed in float64 from the explicit residual.
    max_iter : int, default=10000
        Maximum number of coordinate-descent epochs (passes over a working set) per signal;
        FISTA iterations for ``method='fista'``.
    h_init : array_like of shape (N,) or (B, N), optional
        Warm start (zeros when omitted).
    positive : bool, default=False
        Constrain the codes to be non-negative.
    method : {'auto', 'gram', 'residual', 'fista'}, default='auto'
        'gram': coordinate descent over the shared Gram matrix ``Phi^T Phi`` (working sets,
        screening, threads over signals), for many signals. 'residual': coordinate descent
        on each signal's residual, with no Gram matrix (working sets, screening, Anderson
        extrapolation), for few signals and many features. 'fista': :func:`sparserec.fista`.
        'auto' picks the cheaper of 'gram' and 'residual' by a cost model (the Gram matrix
        costs ``N^2 M``, the residual path a few products ``Phi^T r`` per signal: 'gram'
        when ``N <= 80 B``, as measured, and ``N <= 10000``, for memory), and finishes
        with FISTA, warm-started, the signals that CD leaves above ``tol`` (degenerate
        problems).
    weights : array_like of shape (M,), optional
        Non-negative weights of the measurements in the squared error,
        ``1/2 sum_i weights_i (x_i - (A D h)_i)^2`` (the residual path).
    A_offset : array_like of shape (N,), optional
        Column means to subtract from ``A`` implicitly, ``A - 1 A_offset^T``: the centring
        that an intercept needs, without densifying a sparse ``A`` (the residual path;
        ``x`` must be centred too, with the same weights as the means).
    check_input : bool, default=True
        Validate the input. False is for callers that already did: ``x`` and ``A``
        C-contiguous arrays of one float dtype (or a CSC float64 ``A``), ``D`` None or of
        that dtype, the other parameters in range.

    Returns
    -------
    SolverResult
        Codes ``h`` and reconstructions ``y_hat = D h`` of shape (N,) or (B, N), with
        per-signal ``n_iter`` (epochs), ``converged``, ``objective`` and ``gap``.

    See Also
    --------
    fista : proximal gradient, the fallback for very large N with few signals.
    Lasso : the scikit-learn style estimator, which calls this function.

    Notes
    -----
    Each signal runs an outer loop (duality gap from ``G`` and ``Phi^T x``, gap-safe
    screening, a working set of the support and the 16 worst KKT violators or
    near-violators) around cyclic coordinate descent on the working set with Anderson
    acceleration, which is solved to 0.3 times the outer violation until it holds every
    violator, then to ``tol`` (the scheme of celer and skglm). Because the in-kernel gap
    uses ``||r||^2 = ||x||^2 - h.c - h.q``, which cancels, the final gap is recomputed from the
    explicit residual in float64, and a signal found above ``tol`` is solved once more.

    Examples
    --------
    >>> import numpy as np
    >>> from sparserec import lasso, gaussian_matrix
    >>> A = gaussian_matrix(20, 40, random_state=0)
    >>> X = np.random.default_rng(0).standard_normal((5, 20))
    >>> result = lasso(X, A, lam1=0.1)
    >>> result.h.shape, bool(result.converged.all()), bool(result.gap.max() <= 1e-6)
    ((5, 40), True, True)
    """
    sparse = _is_sparse(A)
    if check_input:
        if sparse:
            X, single = check_signal_batch(x)
            A = check_sparse(A, "A", X.shape[1])
            if D is not None:
                raise ValueError("D must be None with a sparse A (use A @ D)")
        else:
            X, A, D, single = check_signals(x, A, D)
        if A_offset is not None:
            A_offset = check_array(A_offset, "A_offset", ndim=1, dtype=np.float64)
            if A_offset.shape != (A.shape[1],):
                raise ValueError(f"A_offset must have shape ({A.shape[1]},), got "
                                 f"{A_offset.shape}")
        if weights is not None:
            weights = check_array(weights, "weights", ndim=1, dtype=np.float64)
            if weights.shape != (A.shape[0],) or weights.min() < 0:
                raise ValueError(f"weights must be {A.shape[0]} non-negative numbers, got "
                                 f"shape {weights.shape}")
        lam1 = check_number(lam1, "lam1", low=0)
        max_iter = check_int(max_iter, "max_iter")
        tol = check_number(tol, "tol", low=0)
        method = check_choice(method, "method", _METHODS)
    else:
        single = x.ndim == 1
        X = x[None] if single else x
    B, N = X.shape[0], A.shape[1]
    dtype = X.dtype
    automatic = method == "auto"
    if automatic:
        method = _choose(B, X.shape[1], N)
    root = None
    if weights is not None:  # the weighted error is that of rows scaled by sqrt(weights)
        root = np.sqrt(weights)
        X = np.ascontiguousarray(X * root.astype(X.dtype))
        A = (A.multiply(root[:, None]).tocsc() if sparse
             else np.ascontiguousarray(A * root[:, None].astype(A.dtype)))
    if (sparse or A_offset is not None or root is not None) and method != "residual":
        if not automatic:
            raise ValueError(f"method={method!r} needs a dense A without A_offset or "
                             "weights; use method='residual' or 'auto'")
        method = "residual"
    if method == "fista":
        result = fista(X[0] if single else X, A, lam1, D=D, max_iter=max_iter, tol=tol,
                       h_init=h_init, positive=positive, check_input=False)
        result.settings["method"] = "lasso:fista"
        return result

    H = check_initial_codes(h_init, B, N, dtype, "h_init", single)
    Phi = times_dictionary(A, D)
    with one_blas_thread():  # (OpenBLAS's spinning threads would slow the kernel's)
        if method == "gram":
            n_iter, gap, primal = _gram_cd(X, Phi, H, lam1, tol, max_iter, positive)
        else:
            n_iter, gap, primal = _residual_cd(X, Phi, A_offset, root, H, lam1, tol,
                                               max_iter, positive)
    converged = gap <= tol
    if automatic and not (converged.all() or sparse or A_offset is not None):
        # CD crawls on degenerate problems (more non-zeros than measurements, a tiny lam1);
        # FISTA, warm-started, finishes them.
        rows = np.flatnonzero(~converged)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            rescue = fista(np.ascontiguousarray(X[rows]), np.ascontiguousarray(Phi), lam1,
                           max_iter=max_iter, tol=tol, h_init=H[rows], positive=positive,
                           check_input=False)
        better = rescue.gap < gap[rows]
        rows = rows[better]
        H[rows] = rescue.h[better]
        n_iter[rows] += rescue.n_iter[better]
        gap[rows], primal[rows] = rescue.gap[better], rescue.objective[better]
        converged = gap <= tol
    warn_unconverged("lasso", converged, "signals", tol, f"max_iter={max_iter} epochs")
    settings = dict(method=f"lasso:{method}", lam1=lam1, max_iter=max_iter, tol=tol,
                    positive=positive, dtype=dtype.name)
    return make_result(SolverResult, single, settings, h=H, y_hat=synthesis(H, D),
                       n_iter=n_iter, converged=converged, objective=primal, gap=gap)


def _gram_cd(X, Phi, H, lam1, tol, max_iter, positive):
    """Run the Gram kernel (in float64) on every row of ``X``, updating ``H`` in place.

    Returns the epochs, the relative gaps and the objectives per signal, the last two
    computed in float64 from the explicit residual.
    """
    X64 = np.ascontiguousarray(X, dtype=np.float64)
    Phi64 = Phi.astype(np.float64, copy=False)
    single = H.dtype == np.float32
    H64 = H.astype(np.float64) if single else H  # H is our own C-ordered array
    B = X.shape[0]
    n_iter, gap, objective = np.zeros(B, np.int64), np.empty(B), np.empty(B)
    in_threads(_lasso_kernels.lasso_gram_rows, B, Phi64.T @ Phi64,
               np.ascontiguousarray(Phi64.T), X64, X64 @ Phi64, float(lam1), H64, float(tol),
               max_iter, positive, _GROW, single, n_iter, gap, objective)
    if single:
        H[:] = H64
    return n_iter, gap, objective


def _choose(B, M, N):
    """The cheaper path for B signals of M measurements and N features (a cost model)."""
    # The Gram path pays N^2 M once for G, then works in N-sized rows; the residual path
    # pays a few products Phi^T r of N M per signal. Measured (bench_lasso_single.py
    # --crossover): the Gram path wins from about N = 30 to 100 B on; and G must fit in
    # memory (N = 10,000 is 0.8 GB).
    return "gram" if N <= 80 * B and N <= 10_000 else "residual"


def _residual_cd(X, Phi, offset, shift, H, lam1, tol, max_iter, positive):
    """Run the residual kernel (in float64) on every row of ``X``, updating ``H`` in place;
    the epochs, the relative gaps and the objectives per signal. ``Phi`` is dense or CSC;
    ``offset`` the column means to subtract implicitly along ``shift`` (None: none)."""
    return _residual_solve(_residual_operator(Phi, offset, shift), X, H, lam1, tol,
                           max_iter, positive)


def _residual_operator(Phi, offset, shift=None):
    """What the residual kernel needs of ``Phi`` (dense or CSC), its column offsets and
    their direction ``shift`` (ones when None), prepared once (a path solves many problems
    with it)."""
    M, N = Phi.shape
    none, no_index = np.empty(0), np.empty(0, np.int64)
    if _is_sparse(Phi):
        PhiT, data = np.empty((0, 0)), Phi.data
        indices, indptr = Phi.indices.astype(np.int64), Phi.indptr.astype(np.int64)
        columns = np.repeat(np.arange(N), np.diff(indptr))
        norms2 = np.bincount(columns, weights=data * data, minlength=N)
    else:
        PhiT, data, indices, indptr = np.ascontiguousarray(Phi.T, np.float64), none, \
            no_index, no_index
        norms2 = np.einsum("jm,jm->j", PhiT, PhiT)
    means = np.zeros(N) if offset is None else np.asarray(offset, np.float64)
    shift = np.ones(M) if shift is None else np.asarray(shift, np.float64)
    norms2 = np.maximum(norms2 - (shift @ shift) * means**2, 0.0)  # of the centred columns
    return not _is_sparse(Phi), PhiT, data, indices, indptr, norms2, means, shift


def _residual_solve(operator, X, H, lam1, tol, max_iter, positive):
    """:func:`_residual_cd` with a prepared operator."""
    X64 = np.ascontiguousarray(X, dtype=np.float64)
    single = H.dtype == np.float32
    H64 = H.astype(np.float64) if single else H
    B = X.shape[0]
    n_iter, gap, objective = np.zeros(B, np.int64), np.empty(B), np.empty(B)
    in_threads(_lasso_kernels.lasso_residual_rows, B, *operator, X64, float(lam1), H64,
               float(tol), max_iter, positive, n_iter, gap, objective)
    if single:
        H[:] = H64
    return n_iter, gap, objective


def lasso_path(X, y, *, eps=1e-3, alphas=100, precompute="auto", Xy=None, copy_X=True,
               coef_init=None, verbose=False, return_n_iter=False, positive=False,
               tol=1e-4, max_iter=1000, X_offset=None):
    """The lasso's regularisation path, as :func:`sklearn.linear_model.lasso_path`.

    For every ``alpha`` of a decreasing grid, minimises scikit-learn's objective
    ``1 / (2 n_samples) ||y - X w||^2 + alpha ||w||_1`` by coordinate descent on the
    residual (:func:`lasso`), each solve warm-started from the previous one, the
    operator prepared once. No intercept: centre ``X`` and ``y`` first (or give the
    column means of a sparse ``X`` as ``X_offset``).

    Parameters
    ----------
    X : array_like or scipy.sparse matrix of shape (n_samples, n_features)
    y : array_like of shape (n_samples,)
        One target (scikit-learn's 2-D ``y`` is the multi-task lasso, another problem).
    eps : float, default=1e-3
        ``alpha_min / alpha_max`` of the grid made when ``alphas`` is a number.
    alphas : int or array_like, default=100
        The number of alphas on a geometric grid from ``alpha_max = max |X^T y| /
        n_samples`` (where every coefficient is zero) down to ``eps alpha_max``, or the
        alphas themselves (solved in decreasing order).
    precompute, Xy, copy_X, verbose
        Accepted for compatibility, unused (the path needs no Gram matrix).
    coef_init : array_like of shape (n_features,), optional
        Warm start of the first alpha.
    return_n_iter : bool, default=False
        Also return the epochs of every alpha.
    positive : bool, default=False
        Constrain the coefficients to be non-negative.
    tol : float, default=1e-4
        Stop every alpha when its duality gap is at most ``tol ||y||^2`` (scikit-learn's
        rule).
    max_iter : int, default=1000
        Coordinate-descent epochs per alpha.
    X_offset : array_like of shape (n_features,), optional
        Column means subtracted from ``X`` implicitly (a sparse ``X`` stays sparse).

    Returns
    -------
    alphas : ndarray of shape (n_alphas,)
        Decreasing.
    coefs : ndarray of shape (n_features, n_alphas)
    dual_gaps : ndarray of shape (n_alphas,)
        In scikit-learn's scaling (the gap of the objective above).
    n_iters : list of int
        Only with ``return_n_iter``.

    Examples
    --------
    >>> import numpy as np
    >>> from sparserec import lasso_path
    >>> X = np.random.default_rng(0).standard_normal((30, 50))
    >>> alphas, coefs, gaps = lasso_path(X, X[:, 0], alphas=5)
    >>> alphas.shape, coefs.shape, bool((coefs[:, 0] == 0).all())
    ((5,), (50, 5), True)
    """
    sparse = _is_sparse(X)
    A = check_sparse(X, "X", np.shape(X)[0]) if sparse else check_array(X, "X", ndim=2,
                                                                         dtype=np.float64)
    y = check_array(y, "y", dtype=np.float64)
    if y.ndim != 1 or y.shape[0] != A.shape[0]:
        raise ValueError(f"y must have shape ({A.shape[0]},) to match X, got {y.shape}")
    n, p = A.shape
    offset = None if X_offset is None else check_array(X_offset, "X_offset", ndim=1,
                                                       dtype=np.float64)
    tol = check_number(tol, "tol", low=0)
    max_iter = check_int(max_iter, "max_iter")
    if isinstance(alphas, (int, np.integer)) and not isinstance(alphas, bool):
        correlation = A.T @ y - (0.0 if offset is None else offset * y.sum())
        alpha_max = float(np.abs(correlation).max()) / n
        count = check_int(int(alphas), "alphas", low=1)
        alphas = (np.geomspace(alpha_max, alpha_max * check_number(eps, "eps", low=0,
                                                                   low_open=True), count)
                  if alpha_max > 0 else np.zeros(count))
    alphas = np.sort(check_array(alphas, "alphas", ndim=1, dtype=np.float64))[::-1]
    if alphas[-1] < 0:
        raise ValueError("alphas must be non-negative")
    h = check_initial_codes(coef_init, 1, p, np.dtype(np.float64), "coef_init", True)
    coefs, gaps = np.empty((p, alphas.size)), np.empty(alphas.size)
    n_iters = np.empty(alphas.size, np.int64)
    limit = tol * float(y @ y)  # scikit-learn's rule, gap <= tol ||y||^2
    with one_blas_thread():  # (threads of the caller's, e.g. LassoCV's folds, may run it)
        _lasso_kernels.lasso_residual_path(*_residual_operator(A, offset), y, alphas * n,
                                           h[0], limit, max_iter, positive, coefs, gaps,
                                           n_iters)
    warn_unconverged("lasso_path", gaps <= limit, "alphas", tol,
                     f"max_iter={max_iter} epochs")
    gaps /= n  # in scikit-learn's scaling
    if return_n_iter:
        return alphas, coefs, gaps, n_iters.tolist()
    return alphas, coefs, gaps


def _is_sparse(A):
    """Whether ``A`` is a scipy.sparse matrix (scipy.sparse is imported only then)."""
    if isinstance(A, np.ndarray):
        return False
    import scipy.sparse

    return scipy.sparse.issparse(A)
