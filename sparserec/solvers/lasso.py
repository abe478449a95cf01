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
from .._validation import (check_choice, check_initial_codes, check_int, check_number,
                           check_signals)
from . import _lasso_kernels
from ._base import (ConvergenceWarning, SolverResult, make_result, synthesis,
                    times_dictionary, warn_unconverged)
from .proximal import fista

__all__ = ["lasso"]

_METHODS = ("auto", "cd", "fista")
_GROW = 16  # candidates added to the support to make a working set


def lasso(x, A, lam1, *, D=None, tol=1e-6, max_iter=10_000, h_init=None, positive=False,
          method="auto", check_input=True):
    """Solve the lasso for one signal or a batch, by the fastest exact method.

    Parameters
    ----------
    x : array_like of shape (M,) or (B, M)
        Measurements: one signal, or one signal per row. float32 input gives float32
        codes (computed in float64, the gap checked on the float32 codes).
    A : array_like of shape (M, N)
        Measurement matrix.
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
    method : {'auto', 'cd', 'fista'}, default='auto'
        'cd': coordinate descent over the Gram matrix (working sets, screening, threads over
        signals). 'fista': :func:`sparserec.fista`. 'auto' picks 'cd' unless the Gram matrix
        would cost more than it saves (N above 2048 and above 4 B), and finishes with FISTA,
        warm-started, the signals that CD leaves above ``tol`` (degenerate problems).
    check_input : bool, default=True
        Validate the input. False is for callers that already did: ``x`` and ``A``
        C-contiguous arrays of one float dtype, ``D`` None or of that dtype, the other
        parameters in range.

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
    if check_input:
        X, A, D, single = check_signals(x, A, D)
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
        method = "cd" if N <= 2048 or N <= 4 * B else "fista"
    if method == "fista":
        result = fista(X[0] if single else X, A, lam1, D=D, max_iter=max_iter, tol=tol,
                       h_init=h_init, positive=positive, check_input=False)
        result.settings["method"] = "lasso:fista"
        return result

    H = check_initial_codes(h_init, B, N, dtype, "h_init", single)
    Phi = times_dictionary(A, D)
    with one_blas_thread():  # (OpenBLAS's spinning threads would slow the kernel's)
        n_iter, gap, primal = _gram_cd(X, Phi, H, lam1, tol, max_iter, positive)
    converged = gap <= tol
    if automatic and not converged.all():
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
    settings = dict(method="lasso:cd", lam1=lam1, max_iter=max_iter, tol=tol,
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
