"""ISTA and FISTA: proximal gradient for the lasso, on a batch of signals at once.

Both solve, for every signal ``x`` (a row of a batch),

    min_h  1/2 ||x - A D h||^2 + lam1 ||h||_1,

and stop each signal on its relative duality gap.
"""

import numpy as np

from .._validation import check_initial_codes, check_int, check_number, check_signals
from . import _proximal_kernels
from ._base import (SolverResult, lasso_duality_gap, half_squared_norms, make_result,
                    step_size, synthesis, times_dictionary, warn_unconverged)

__all__ = ["ista", "fista"]


def ista(x, A, lam1, *, D=None, alpha=None, max_iter=1000, tol=1e-6, h_init=None,
         positive=False, history=False, check_input=True):
    """Solve the lasso by ISTA (proximal gradient) for one signal or a batch.

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
    alpha : float, optional
        Inverse step size. Default: the Lipschitz constant ``||A D||^2`` by power iteration
        (times 1.001, as the estimate approaches it from below). A given ``alpha`` below
        the estimate triggers a :class:`StepSizeWarning`.
    max_iter : int, default=1000
        Maximum number of iterations per signal.
    tol : float, default=1e-6
        Stop a signal when its relative duality gap ``gap / (1/2 ||x||^2)`` is at most ``tol``.
    h_init : array_like of shape (N,) or (B, N), optional
        Warm start (zeros when omitted).
    positive : bool, default=False
        Constrain the codes to be non-negative.
    history : bool, default=False
        Record the objective of every signal after every iteration.
    check_input : bool, default=True
        Validate the input. False is for callers that already did: ``x`` and ``A``
        C-contiguous arrays of one float dtype, ``D`` None or of that dtype, the other
        parameters in range; ``alpha`` is then not checked against the Lipschitz bound.

    Returns
    -------
    SolverResult
        Codes ``h`` and reconstructions ``y_hat = D h`` of shape (N,) or (B, N), with
        per-signal ``n_iter``, ``converged``, ``objective`` and ``gap``.

    See Also
    --------
    fista : the accelerated method, usually much faster.

    Examples
    --------
    >>> import numpy as np
    >>> from sparserec import ista, gaussian_matrix
    >>> A = gaussian_matrix(20, 40, random_state=0)
    >>> h_true = np.zeros(40); h_true[[3, 17]] = [1.0, -2.0]
    >>> result = ista(A @ h_true, A, lam1=0.01, tol=1e-8)
    >>> bool(result.converged)
    True
    """
    return _solve("ista", x, A, lam1, D, alpha, max_iter, tol, h_init, positive, history,
                  check_input)


def fista(x, A, lam1, *, D=None, alpha=None, max_iter=1000, tol=1e-6, h_init=None,
          positive=False, history=False, check_input=True):
    """Solve the lasso by FISTA (accelerated proximal gradient, with adaptive restart).

    Same parameters and result as :func:`ista`. The momentum is restarted whenever it points
    uphill (O'Donoghue and Candes, 2015), which keeps the objective close to monotone.

    Examples
    --------
    >>> import numpy as np
    >>> from sparserec import fista, gaussian_matrix
    >>> A = gaussian_matrix(20, 40, random_state=0)
    >>> X = np.random.default_rng(0).standard_normal((5, 20))
    >>> result = fista(X, A, lam1=0.1, tol=1e-6, max_iter=10_000)
    >>> result.h.shape, bool(result.converged.all())
    ((5, 40), True)
    """
    return _solve("fista", x, A, lam1, D, alpha, max_iter, tol, h_init, positive, history,
                  check_input)


def _solve(method, x, A, lam1, D, alpha, max_iter, tol, h_init, positive, history,
           check_input):
    if check_input:
        X, A, D, single = check_signals(x, A, D)
        lam1 = check_number(lam1, "lam1", low=0)
        max_iter = check_int(max_iter, "max_iter")
        tol = check_number(tol, "tol", low=0)
    else:
        single = x.ndim == 1
        X = x[None] if single else x
    B, N = X.shape[0], A.shape[1]
    dtype = X.dtype
    alpha = step_size(alpha, A, D, 0.0, check_input, stacklevel=4)
    H = check_initial_codes(h_init, B, N, dtype, "h_init", single)
    Phi = np.ascontiguousarray(times_dictionary(A, D), dtype=dtype)
    h, n_iter, converged, gap, primal, records = _iterate(
        X, Phi, H, lam1, alpha, max_iter, tol, method == "fista", positive, history)
    warn_unconverged(method, converged, "signals", tol, f"max_iter={max_iter} iterations",
                     stacklevel=4)
    settings = dict(method=method, lam1=float(lam1), alpha=alpha, max_iter=max_iter, tol=tol,
                    positive=positive, dtype=dtype.name)
    return make_result(SolverResult, single, settings, h=h, y_hat=synthesis(h, D),
                       n_iter=n_iter, converged=converged, objective=primal, gap=gap,
                       history=records)


def _iterate(X, Phi, H, lam1, alpha, max_iter, tol, accelerated, positive, history,
             check_every=10):
    """Iterate in chunks of ``check_every`` steps on the signals not yet converged.

    Between chunks the duality gap of every active signal is checked in float64, and the
    converged ones leave the batch, so the matrix products shrink as the run proceeds.
    """
    dtype = X.dtype
    B = X.shape[0]
    PhiT = np.ascontiguousarray(Phi.T)
    if history:
        check_every = 1
    h = H.copy()
    n_iter = np.zeros(B, np.int64)
    converged = np.zeros(B, bool)
    gap = np.zeros(B)
    primal = np.zeros(B)
    scale = half_squared_norms(X)
    records = [] if history else None

    active = np.arange(B)
    xa, ha = X, h.copy()
    za, ta = ha.copy(), np.ones(B, dtype)
    done_iters = 0
    step, thresh = dtype.type(1.0 / alpha), dtype.type(lam1 / alpha)
    while True:
        g, p = lasso_duality_gap(xa, Phi, ha, lam1, positive)
        gap[active], primal[active], n_iter[active] = g / np.maximum(scale[active], 1e-300), p, \
            done_iters
        h[active] = ha
        if history and done_iters:
            row = np.full(B, np.nan)
            row[active] = p
            records.append(row)
        finished = gap[active] <= tol
        converged[active[finished]] = True
        keep = ~finished
        if done_iters >= max_iter or not keep.any():
            break
        if not keep.all():
            active = active[keep]
            xa, ha, za, ta = (np.ascontiguousarray(a[keep]) for a in (xa, ha, za, ta))
        n_steps = min(check_every, max_iter - done_iters)
        _proximal_kernels.proximal_gradient_steps(Phi, PhiT, xa, ha, za, ta, step, thresh,
                                                  n_steps, accelerated, positive)
        done_iters += n_steps
    records = None if records is None else np.array(records).reshape(-1, B)
    return h, n_iter, converged, gap, primal, records
