"""What every solver shares: the result object, the warnings, soft-thresholding, the step
size, and the lasso's objective and duality gap."""

import warnings
from dataclasses import dataclass, field

import numpy as np

from .._validation import check_number, float_dtype
from . import _base_kernels

__all__ = ["ConvergenceWarning", "StepSizeWarning", "SolverResult", "soft_threshold",
           "lipschitz_constant", "lasso_objective", "lasso_duality_gap"]

#: The default inverse step size is this many times the Lipschitz bound: the power
#: iteration approaches the bound from below.
STEP_MARGIN = 1.001


class ConvergenceWarning(UserWarning):
    """Some items did not reach the tolerance within the iteration limit (see ``converged``)."""


class StepSizeWarning(UserWarning):
    """The inverse step size ``alpha`` is below the Lipschitz bound: the iteration may diverge."""


@dataclass
class SolverResult:
    """What a solver returns.

    Attributes
    ----------
    h : ndarray
        The sparse codes, with the input's leading shape and last dimension N.
    y_hat : ndarray
        The reconstructed signals ``D h``, same shape as ``h``.
    n_iter : ndarray of int
        Iterations used per item (per signal for the lasso methods, per frame for SISTA).
    converged : ndarray of bool
        Whether each item met the tolerance (same shape as ``n_iter``).
    objective : ndarray
        The final objective per item (per signal, or per frame for SISTA).
    gap : ndarray or None
        Relative duality gap per signal, ``gap / (1/2 ||x||^2)`` (lasso methods only).
    history : ndarray or None
        Objective after every iteration, shape ``(n_iterations, B)``, NaN once an item has
        converged; only when asked for (lasso methods only).
    settings : dict
        The settings used: method, lam1, lam2, alpha, tolerance, iteration limits, dtype.
    """

    h: np.ndarray
    y_hat: np.ndarray
    n_iter: np.ndarray
    converged: np.ndarray
    objective: np.ndarray
    gap: np.ndarray = None
    history: np.ndarray = None
    settings: dict = field(default_factory=dict)


def make_result(cls, single, settings, **arrays):
    """A result of class ``cls`` from per-item arrays of a batch; the first item only (the
    batch axis dropped) when the input was a single item. ``history`` keeps its
    iteration axis.

    Raises
    ------
    FloatingPointError
        When the codes or signals are not finite: a solver never returns NaN silently.
    """
    if not (np.isfinite(arrays["h"]).all() and np.isfinite(arrays["y_hat"]).all()):
        raise FloatingPointError(
            f"{settings['method']}: the iteration diverged (NaN or Inf in the codes); likely "
            "causes: an inverse step size alpha below the Lipschitz bound, or A, D or x "
            "scaled so far from 1 that their products overflow")
    if single:
        arrays = {name: None if value is None else value[:, 0] if name == "history"
                  else value[0] for name, value in arrays.items()}
    return cls(settings=settings, **arrays)


def warn_unconverged(method, converged, what, tol, limit, stacklevel=3):
    """A :class:`ConvergenceWarning` when some items did not converge. The default
    ``stacklevel`` points at the caller of the function that calls this one."""
    if not converged.all():
        warnings.warn(f"{method}: {np.count_nonzero(~converged)} of {converged.size} {what} "
                      f"did not reach tol={tol} in {limit}", ConvergenceWarning,
                      stacklevel=stacklevel)


def soft_threshold(z, tau):
    """Soft-thresholding, the proximal operator of ``tau ||.||_1``.

    Parameters
    ----------
    z : array_like
        Input of any shape.
    tau : float
        Non-negative threshold.

    Returns
    -------
    ndarray
        ``sign(z) * max(|z| - tau, 0)``, float32 if ``z`` is float32, else float64.

    Examples
    --------
    >>> soft_threshold([-2.0, 0.5, 3.0], 1.0)
    array([-1.,  0.,  2.])
    """
    tau = check_number(tau, "tau", low=0)
    z = np.asarray(z)
    out = np.array(z, dtype=float_dtype(z), order="C", copy=True)
    _base_kernels.soft_threshold_inplace(out.reshape(-1), out.dtype.type(tau))
    return out


def lipschitz_constant(A, D=None, lam2=0.0, *, max_iter=200, tol=1e-10, random_state=0):
    """Lipschitz constant of the gradient of the smooth part, by power iteration.

    Returns ``|| D^T (A^T A + lam2 I) D ||_2`` (``||A D||^2`` when ``lam2 = 0``), the smallest
    valid inverse step size ``alpha`` of ISTA, FISTA and SISTA.

    Parameters
    ----------
    A : ndarray of shape (M, N)
        Measurement matrix.
    D : ndarray of shape (N, N), optional
        Dictionary (identity when omitted).
    lam2 : float, default=0.0
        Weight of the temporal term of SISTA.
    max_iter : int, default=200
        Maximum number of power iterations.
    tol : float, default=1e-10
        Stop when the estimate changes by less than ``tol`` relative.
    random_state : int, default=0
        Seed of the starting vector.

    Returns
    -------
    float
        The estimate. Power iteration approaches the norm from below.
    """
    A = np.asarray(A, dtype=np.float64)
    D = None if D is None else np.asarray(D, dtype=np.float64)
    Phi = times_dictionary(A, D)
    # Power iteration on Phi^T Phi; the lam2 term adds lam2 ||D v||^2 / ||v||^2, which is
    # exactly lam2 for an orthonormal D and handled through D^T D otherwise.
    DtD = None if D is None else D.T @ D
    v = np.random.default_rng(random_state).standard_normal(Phi.shape[1])
    v /= np.linalg.norm(v)
    estimate = 0.0
    for _ in range(max_iter):
        w = Phi.T @ (Phi @ v)
        if lam2:
            w += lam2 * (v if DtD is None else DtD @ v)
        new = float(np.linalg.norm(w))
        if new == 0.0:
            return 0.0
        v = w / new
        if abs(new - estimate) <= tol * new:
            return new
        estimate = new
    return estimate


def default_alpha(A, D=None, lam2=0.0):
    """The default inverse step size: :data:`STEP_MARGIN` times the Lipschitz bound (1 for
    a zero operator)."""
    bound = lipschitz_constant(A, D, lam2)
    return STEP_MARGIN * bound if bound > 0 else 1.0


def step_size(alpha, A, D, lam2, check_input=True, stacklevel=3):
    """The inverse step size of a solver: ``alpha`` itself, checked against the Lipschitz
    bound (a :class:`StepSizeWarning` below it), or :func:`default_alpha` when None."""
    if alpha is None:
        return default_alpha(A, D, lam2)
    if check_input:
        alpha = check_number(alpha, "alpha", low=0, low_open=True)
        bound = lipschitz_constant(A, D, lam2)
        if alpha < bound * (1 - 1e-6):
            warnings.warn(f"alpha={alpha:g} is below the Lipschitz bound {bound:.6g}: the "
                          "iteration may diverge", StepSizeWarning, stacklevel=stacklevel)
    return float(alpha)


def lasso_objective(x, Phi, h, lam1):
    """``1/2 ||x - Phi h||^2 + lam1 ||h||_1`` per row of ``x`` (B, M) and ``h`` (B, N)."""
    residual = x - h @ Phi.T
    return 0.5 * np.einsum("bm,bm->b", residual, residual) + lam1 * np.abs(h).sum(axis=1)


def lasso_duality_gap(x, Phi, h, lam1, positive=False):
    """Duality gap of the lasso per row, and the primal objective, computed in float64.

    The dual point is the residual scaled into the dual feasible set,
    ``theta = r * min(1, lam1 / ||Phi^T r||_inf)``; the dual objective is
    ``1/2 ||x||^2 - 1/2 ||x - theta||^2``. With ``positive`` (codes constrained to be
    non-negative) the dual constraint is one-sided, ``max(Phi^T r) <= lam1``.

    Returns
    -------
    gap, primal : ndarrays of shape (B,)
    """
    x = np.asarray(x, np.float64)
    Phi = np.asarray(Phi, np.float64)
    h = np.asarray(h, np.float64)
    residual = x - h @ Phi.T
    correlation = residual @ Phi
    if not positive:
        correlation = np.abs(correlation)
    correlation = correlation.max(axis=1, initial=0.0)
    scale = np.minimum(1.0, lam1 / np.maximum(correlation, np.finfo(np.float64).tiny))
    r2 = np.einsum("bm,bm->b", residual, residual)
    primal = 0.5 * r2 + lam1 * np.abs(h).sum(axis=1)
    xr = np.einsum("bm,bm->b", x, residual)
    # 1/2||x||^2 - 1/2||x - s r||^2 = s x.r - s^2/2 ||r||^2
    dual = scale * xr - 0.5 * scale**2 * r2
    return primal - dual, primal


def half_squared_norms(X):
    """``1/2 ||x_b||^2`` per row, in float64: the scale of the relative duality gap."""
    X = X.astype(np.float64, copy=False)
    return 0.5 * np.einsum("bm,bm->b", X, X)


def times_dictionary(A, D):
    """``A D``, or ``A`` itself when ``D`` is None (the identity)."""
    return A if D is None else A @ D


def synthesis(h, D):
    """The signals ``D h`` of codes ``h`` in rows: ``h D^T`` (a copy of ``h`` for the
    identity, None)."""
    return h.copy() if D is None else h @ D.T
