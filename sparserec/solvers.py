"""Classical solvers: ISTA and FISTA for the lasso, SISTA for sequential sparse recovery.

The lasso methods solve, for every signal ``x`` (a row of a batch),

    min_h  1/2 ||x - A D h||^2 + lam1 ||h||_1,

and ``sista`` solves the sequential problem of ``docs/theory.rst`` frame after frame.
Every solver works on a whole batch at once (matrix-matrix products inside numba
kernels) and returns a :class:`SolverResult`.
"""

import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field

import numba
import numpy as np

from . import _kernels

__all__ = ["ConvergenceWarning", "SolverResult", "StepSizeWarning", "soft_threshold",
           "lipschitz_constant", "ista", "fista", "sista", "lasso_objective", "lasso_duality_gap"]


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
    if not tau >= 0:
        raise ValueError(f"tau must be a non-negative number, got {tau!r}")
    z = np.asarray(z)
    out = np.array(z, dtype=_float_dtype(z), order="C", copy=True)
    _kernels.soft_threshold_inplace(out.reshape(-1), out.dtype.type(tau))
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
    Phi = _times_dictionary(A, D)
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


def ista(x, A, lam1, *, D=None, alpha=None, max_iter=1000, tol=1e-6, h_init=None,
         positive=False, history=False):
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
    return _lasso("ista", x, A, lam1, D, alpha, max_iter, tol, h_init, positive, history)


def fista(x, A, lam1, *, D=None, alpha=None, max_iter=1000, tol=1e-6, h_init=None,
          positive=False, history=False):
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
    return _lasso("fista", x, A, lam1, D, alpha, max_iter, tol, h_init, positive, history)


def sista(x, A, lam1, lam2, *, D=None, F=None, alpha=None, h0=None, n_iter=None,
          max_iter=1000, tol=1e-6):
    """Sequential iterative soft-thresholding (SISTA) for one sequence or a batch.

    For every frame ``t`` solves
    ``min_h 1/2 ||x_t - A D h||^2 + lam1 ||h||_1 + lam2/2 ||D h - F D h_{t-1}||^2``,
    starting from ``P h_{t-1}`` with ``P = D^T F D`` (section 2 of the theory page).

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
    x, dtype = _as_float_array(x, "x")
    single = x.ndim == 2
    if x.ndim not in (2, 3):
        raise ValueError(f"x must have shape (T, M) or (B, T, M), got shape {x.shape}")
    X = x[None] if single else x
    B, T, M = X.shape
    A, D, N = _check_operators(A, D, M, dtype)
    D = np.eye(N, dtype=dtype) if D is None else D  # SISTA's (N, N) operators need it anyway
    F = np.eye(N, dtype=dtype) if F is None else _check_square(F, "F", N, dtype)
    _check_penalty(lam1, "lam1")
    _check_penalty(lam2, "lam2")
    alpha = _step(alpha, A, D, lam2)
    H0 = _initial_codes(h0, B, N, dtype, "h0", single)
    fixed = n_iter is not None
    iterations = _check_count(n_iter if fixed else max_iter, "n_iter" if fixed else "max_iter")

    # The operators in float64 (the objective's dtype), the recursion's in the codes' dtype
    with _one_blas_thread():  # (OpenBLAS's spinning threads would slow our own)
        A64, D64, F64 = (np.asarray(a, np.float64) for a in (A, D, F))
        eye = np.eye(N)
        S = eye - (D64.T @ (A64.T @ A64 + lam2 * eye) @ D64) / alpha
        V = (D64.T @ A64.T) / alpha
        P = D64.T @ F64 @ D64
        identity_F = bool(np.array_equal(F64, eye))
        h = np.empty((B, T, N), dtype)
        y_hat = np.empty((B, T, N), dtype)
        iters = np.empty((B, T), np.int64)
        converged = np.empty((B, T), bool)
        objective = np.empty((B, T))
        in_threads(_kernels.sista_recursion, B, np.ascontiguousarray(X), _c(V.T, dtype),
                   _c(S.T, dtype), _c(P.T, dtype), _c((S @ P).T, dtype), _c(D64.T, np.float64),
                   _c((A64 @ D64).T, np.float64), _c((F64 @ D64).T, np.float64), H0, float(lam1),
                   float(lam2), dtype.type(lam2 / alpha), dtype.type(lam1 / alpha), iterations,
                   float(tol), fixed, identity_F, h, y_hat, iters, converged, objective)
    if not fixed and not converged.all():
        warnings.warn(f"sista: {np.count_nonzero(~converged)} of {converged.size} frames did "
                      f"not reach tol={tol} in max_iter={max_iter} iterations",
                      ConvergenceWarning, stacklevel=2)
    settings = dict(method="sista", lam1=float(lam1), lam2=float(lam2), alpha=alpha,
                    n_iter=n_iter, max_iter=max_iter, tol=tol, dtype=dtype.name)
    if single:
        h, y_hat, iters, converged, objective = (a[0] for a in (h, y_hat, iters, converged,
                                                                  objective))
    return SolverResult(h=h, y_hat=y_hat, n_iter=iters, converged=converged,
                        objective=objective, settings=settings)


# ----------------------------------------------------------------------------------------
# internals


def _lasso(method, x, A, lam1, D, alpha, max_iter, tol, h_init, positive, history):
    X, A, D, dtype, single = _signal_batch(x, A, D)
    B, M = X.shape
    N = A.shape[1]
    _check_penalty(lam1, "lam1")
    _check_count(max_iter, "max_iter")
    alpha = _step(alpha, A, D, 0.0)
    Phi = _c(_times_dictionary(A, D), dtype)
    PhiT = _c(Phi.T, dtype)
    H = _initial_codes(h_init, B, N, dtype, "h_init", single)

    h, n_iter, converged, gap, primal, records = _proximal_gradient(
        X, Phi, PhiT, H, lam1, alpha, max_iter, tol, method == "fista", positive, history)
    y_hat = _synthesis(h, D)
    if not converged.all():
        warnings.warn(f"{method}: {np.count_nonzero(~converged)} of {B} signals did not reach "
                      f"tol={tol} in max_iter={max_iter} iterations", ConvergenceWarning,
                      stacklevel=3)
    settings = dict(method=method, lam1=float(lam1), alpha=alpha, max_iter=max_iter, tol=tol,
                    positive=positive, dtype=dtype.name)
    if single:
        h, y_hat, n_iter, converged, primal, gap = (a[0] for a in (h, y_hat, n_iter, converged,
                                                                     primal, gap))
        records = None if records is None else records[:, 0]
    return SolverResult(h=h, y_hat=y_hat, n_iter=n_iter, converged=converged,
                        objective=primal, gap=gap, history=records, settings=settings)


def _proximal_gradient(X, Phi, PhiT, H, lam1, alpha, max_iter, tol, accelerated, positive,
                       history, check_every=10):
    """Iterate in chunks of ``check_every`` steps on the signals not yet converged.

    Between chunks the duality gap of every active signal is checked in float64, and the
    converged ones leave the batch, so the matrix products shrink as the run proceeds.
    """
    dtype = X.dtype
    B = X.shape[0]
    if history:
        check_every = 1
    h = H.copy()
    n_iter = np.zeros(B, np.int64)
    converged = np.zeros(B, bool)
    gap = np.zeros(B)
    primal = np.zeros(B)
    scale = 0.5 * np.einsum("bm,bm->b", X.astype(np.float64), X.astype(np.float64))
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
        _kernels.proximal_gradient_steps(Phi, PhiT, xa, ha, za, ta, step, thresh, n_steps,
                                         accelerated, positive)
        done_iters += n_steps
    records = None if records is None else np.array(records).reshape(-1, B)
    return h, n_iter, converged, gap, primal, records


_BLAS = None  # threadpoolctl's controller, created once
_BLAS_LOCK = threading.Lock()
_BLAS_USERS = 0  # the calls now inside _one_blas_thread
_BLAS_LIMITER = None  # what the first of them set, to restore when the last ends


@contextmanager
def _one_blas_thread():
    """A context in which BLAS runs one thread.

    For two reasons. The network's kernels make thousands of small (B, N) x (N, N)
    products, which multithreaded OpenBLAS runs slower than one thread, and 20-50 times
    slower on a busy machine (benchmarks/bench_training.py). And OpenBLAS's threads spin
    for a while after each product, taking the cores from the threads of
    :func:`in_threads` that follow: the lasso ran 1.4 times slower for it.

    The limit is process-wide, so calls that overlap in several threads share it: the
    first sets it and the last to end restores the original count, in whatever order they
    end.
    """
    global _BLAS, _BLAS_USERS, _BLAS_LIMITER
    with _BLAS_LOCK:
        if _BLAS is None:  # inspecting the loaded libraries takes a millisecond
            from threadpoolctl import ThreadpoolController

            _BLAS = ThreadpoolController()
        if _BLAS_USERS == 0:
            _BLAS_LIMITER = _BLAS.limit(limits=1, user_api="blas")
        _BLAS_USERS += 1
    try:
        yield
    finally:
        with _BLAS_LOCK:
            _BLAS_USERS -= 1
            if _BLAS_USERS == 0:
                _BLAS_LIMITER.restore_original_limits()


def in_threads(kernel, n_rows, *args, chunks_per_thread=4):
    """``[kernel(*args, start, stop)]`` over chunks of ``range(n_rows)``, in threads.

    The kernels release the GIL (numba ``nogil`` kernels, numpy products) and write
    disjoint rows of their outputs. Threads instead of numba's ``prange`` because a
    parallel kernel takes seconds longer to compile, which every user pays on the first
    call. The threads are numba's count (:func:`numba.get_num_threads`). Several chunks
    per thread balance uneven rows; one suits work that keeps accumulators per chunk
    (gradients summed over a batch), keeping them few and the chunks' products large.

    Returns
    -------
    list
        The kernel's results, in the order of the chunks.
    """
    n_threads = min(n_rows, numba.get_num_threads())
    if n_threads <= 1:
        return [kernel(*args, 0, n_rows)]
    bounds = np.linspace(0, n_rows, min(n_rows, chunks_per_thread * n_threads) + 1)
    bounds = bounds.astype(np.int64).tolist()
    with ThreadPoolExecutor(n_threads) as pool:
        return list(pool.map(lambda i: kernel(*args, bounds[i], bounds[i + 1]),
                             range(len(bounds) - 1)))


def _signal_batch(x, A, D):
    """Validated signals as a (B, M) batch, the operators in their dtype, and whether ``x``
    was one signal."""
    x, dtype = _as_float_array(x, "x")
    if x.ndim not in (1, 2):
        raise ValueError(f"x must have shape (M,) or (B, M), got shape {x.shape}")
    single = x.ndim == 1
    X = np.ascontiguousarray(x[None] if single else x)
    A, D, _ = _check_operators(A, D, X.shape[1], dtype)
    return X, A, D, dtype, single


def _float_dtype(a):
    return np.dtype(np.float32) if a.dtype == np.float32 else np.dtype(np.float64)


def _c(a, dtype):
    return np.ascontiguousarray(a, dtype=dtype)


def _as_float_array(a, name):
    a = np.asarray(a)
    if a.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be a real numeric array, got dtype {a.dtype}")
    if a.size == 0:
        raise ValueError(f"{name} is empty (shape {a.shape})")
    dtype = _float_dtype(a)
    a = np.ascontiguousarray(a, dtype=dtype)
    if not np.isfinite(a).all():
        raise ValueError(f"{name} contains NaN or Inf")
    return a, dtype


def _check_operators(A, D, M, dtype):
    """``A`` and ``D`` validated, in ``dtype``; ``D`` stays None for the identity, which is
    never built: (N, N) is large when N is (3.2 GB for N = 20000)."""
    A, _ = _as_float_array(A, "A")
    if A.ndim != 2 or A.shape[0] != M:
        raise ValueError(f"A must have shape (M, N) = ({M}, N) to match x, got {A.shape}")
    N = A.shape[1]
    D = None if D is None else _check_square(D, "D", N, dtype)
    return A.astype(dtype, copy=False), D, N


def _times_dictionary(A, D):
    """``A D``, or ``A`` itself when ``D`` is None (the identity)."""
    return A if D is None else A @ D


def _synthesis(h, D):
    """The signals ``D h`` of codes ``h`` in rows: ``h D^T`` (a copy of ``h`` for the
    identity, None)."""
    return h.copy() if D is None else h @ D.T


def _check_square(a, name, N, dtype):
    a, _ = _as_float_array(a, name)
    if a.shape != (N, N):
        raise ValueError(f"{name} must have shape ({N}, {N}), got {a.shape}")
    return a.astype(dtype, copy=False)


def _check_penalty(value, name):
    if not (np.isscalar(value) and np.isreal(value) and 0 <= value < np.inf):
        raise ValueError(f"{name} must be a non-negative finite number, got {value!r}")


def _check_count(value, name):
    if not (isinstance(value, (int, np.integer)) and value >= 0):
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return int(value)


def _initial_codes(h, B, N, dtype, name, single):
    if h is None:
        return np.zeros((B, N), dtype)
    h, _ = _as_float_array(h, name)
    expected = (N,) if single else (B, N)
    if h.shape == (N,) and not single:
        h = np.broadcast_to(h, (B, N))
    elif h.shape != expected:
        raise ValueError(f"{name} must have shape {expected}, got {h.shape}")
    return np.array(h.reshape(B, N), dtype=dtype, order="C")


def _step(alpha, A, D, lam2):
    """The inverse step size: the given one (checked) or the Lipschitz estimate."""
    bound = lipschitz_constant(A, D, lam2)
    if alpha is None:
        return 1.001 * bound if bound > 0 else 1.0
    if not (np.isscalar(alpha) and 0 < alpha < np.inf):
        raise ValueError(f"alpha must be a positive finite number, got {alpha!r}")
    if alpha < bound * (1 - 1e-6):
        warnings.warn(f"alpha={alpha:g} is below the Lipschitz bound {bound:.6g}: the iteration "
                      "may diverge", StepSizeWarning, stacklevel=4)
    return float(alpha)
