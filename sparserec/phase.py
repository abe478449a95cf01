"""Phase transitions of sparse recovery: empirical success grids.

A phase diagram maps the undersampling ``delta = M / N`` and the sparsity ``rho = K / M``
(K nonzeros among N, measured by M random projections) to the probability that a solver
recovers the signal; for l1 recovery with Gaussian matrices the boundary is
:func:`sparserec.donoho_tanner_rho` (:mod:`sparserec.theory`).

:func:`phase_transition` estimates the success rate on a grid, one batched solver call per
cell (all trials of a cell at once), optionally one Dask task per cell; the result, a
:class:`PhaseTransition`, saves itself as npz and draws the diagram (matplotlib, imported
only then).
"""

import json
import sys
import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from . import io
from ._validation import check_dtype, check_int, check_number
from .matrices import gaussian_matrix
from .solvers import SOLVERS, ConvergenceWarning
from .theory import donoho_tanner_rho

__all__ = ["recovery_success", "phase_transition", "PhaseTransition", "load_phase_transition"]

#: The largest signal length and number of trials per cell (a cell holds an (N, N)
#: Gaussian matrix at most, and n_trials x N signals).
MAX_N, MAX_TRIALS = 10_000, 100_000

#: Default success criterion: relative error of the recovered signal at most 1%.
SUCCESS_TOL = 1e-2

# ----------------------------------------------------------------------------------------
# the success criterion


def recovery_success(truth, estimate, tol=SUCCESS_TOL):
    """Whether each item was recovered: ``||estimate - truth|| <= tol ||truth||``.

    Parameters
    ----------
    truth, estimate : array_like of the same shape, (N,) or (..., N)
        True and recovered signals (or codes), one per row.
    tol : float, default=0.01
        Largest relative l2 error that counts as a success.

    Returns
    -------
    bool or ndarray of bool
        One flag per item (the leading shape).

    Examples
    --------
    >>> recovery_success([[1.0, 0.0], [1.0, 0.0]], [[1.0, 0.005], [0.9, 0.0]])
    array([ True, False])
    """
    truth, estimate = np.asarray(truth, np.float64), np.asarray(estimate, np.float64)
    if truth.shape != estimate.shape:
        raise ValueError(f"truth and estimate must have the same shape, got {truth.shape} "
                         f"and {estimate.shape}")
    return _relative_error(truth, estimate) <= tol


def _relative_error(truth, estimate):
    error = np.linalg.norm(estimate - truth, axis=-1)
    norm = np.linalg.norm(truth, axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(norm > 0, error / np.where(norm > 0, norm, 1.0),
                        np.where(error > 0, np.inf, 0.0))


# ----------------------------------------------------------------------------------------
# the empirical diagram


@dataclass
class PhaseTransition:
    """An empirical phase diagram: the success rate on a grid of ``delta`` and ``rho``.

    Attributes
    ----------
    deltas : ndarray of shape (n_deltas,)
        Undersampling ratios ``M / N`` (rows of the grid).
    rhos : ndarray of shape (n_rhos,)
        Sparsity ratios ``K / M`` (columns of the grid).
    success : ndarray of shape (n_deltas, n_rhos)
        Fraction of the trials of each cell that were recovered.
    errors : ndarray of shape (n_deltas, n_rhos, n_trials)
        Relative error ``||y_hat - y|| / ||y||`` of every trial.
    n : int
        Signal length N.
    solver : str
        The solver's name ('amp', 'fista', 'ista', 'sista' or 'model').
    settings : dict
        Everything else: trials, tolerance, solver options, noise, seed, seconds.
    """

    deltas: np.ndarray
    rhos: np.ndarray
    success: np.ndarray
    errors: np.ndarray
    n: int
    solver: str
    settings: dict = field(default_factory=dict)

    def curve(self, level=0.5):
        """The empirical boundary: per delta, the rho where the success rate falls to ``level``.

        Linear interpolation between the two grid points that straddle ``level`` at the
        first fall below it; NaN when the success rate never crosses it on the grid.

        Parameters
        ----------
        level : float, default=0.5

        Returns
        -------
        ndarray of shape (n_deltas,)
        """
        out = np.full(len(self.deltas), np.nan)
        for i, row in enumerate(self.success):
            below = np.flatnonzero(row < level)
            if below.size == 0 or below[0] == 0:
                continue
            j = below[0]
            r0, r1, s0, s1 = self.rhos[j - 1], self.rhos[j], row[j - 1], row[j]
            out[i] = r0 + (s0 - level) / (s0 - s1) * (r1 - r0)
        return out

    def save(self, path, *, force=False):
        """Write the grid to an npz file (atomically), with the settings as JSON.

        Parameters
        ----------
        path : str or path-like
            Ends in ``.npz``.
        force : bool, default=False
            Replace an existing file.
        """
        io.check_output(path, force=force)
        settings = dict(self.settings, n=self.n, solver=self.solver)
        io.write_npz(path, dict(deltas=self.deltas, rhos=self.rhos, success=self.success,
                                errors=self.errors, theory=donoho_tanner_rho(self.deltas),
                                settings=np.array(json.dumps(settings, default=str))))

    def plot(self, path=None, *, ax=None, theory=True, title=None):
        """Draw the diagram: success rate, its 50% contour and the l1 curve.

        Parameters
        ----------
        path : str or path-like, optional
            Write the figure there as PNG (atomically, replacing an existing file).
        ax : matplotlib Axes, optional
            Draw into it (default: a new figure, without pyplot).
        theory : bool, default=True
            Overlay :func:`donoho_tanner_rho`.
        title : str, optional
            Default: the solver, N and the number of trials.

        Returns
        -------
        matplotlib.figure.Figure
        """
        from matplotlib.figure import Figure  # no pyplot: no global state, no display

        if ax is None:
            figure = Figure(figsize=(5.4, 4.2), layout="constrained")
            ax = figure.add_subplot()
        else:
            figure = ax.figure
        mesh = ax.pcolormesh(self.deltas, self.rhos, self.success.T, cmap="gray",
                             vmin=0, vmax=1, shading="nearest")
        figure.colorbar(mesh, ax=ax, label="success rate")
        if np.ptp(self.success) > 0 and min(self.success.shape) > 1:
            ax.contour(self.deltas, self.rhos, self.success.T, levels=[0.5],
                       colors="tab:orange", linewidths=1.5)
        ax.plot([], [], color="tab:orange", label="empirical 50%")
        if theory:
            fine = np.linspace(max(self.deltas.min(), 1e-3), min(self.deltas.max(), 1), 200)
            ax.plot(fine, donoho_tanner_rho(fine), color="tab:red", linestyle="--",
                    label="l1 theory (Donoho-Tanner)")
        ax.set_xlabel(r"$\delta = M/N$")
        ax.set_ylabel(r"$\rho = K/M$")
        ax.set_title(title or f"{self.solver}, N = {self.n}, "
                              f"{self.settings.get('n_trials', '?')} trials per cell")
        ax.legend(loc="upper left", fontsize="small")
        if path is not None:
            io.check_output(path, force=True, suffix=".png")
            with io.atomic_path(path) as tmp:
                figure.savefig(tmp, format="png", dpi=110)
        return figure


def load_phase_transition(path):
    """Read a :class:`PhaseTransition` written by :meth:`PhaseTransition.save`.

    Raises
    ------
    sparserec.io.InputError
        If the file is not a complete phase-transition file.
    """
    keys = ("deltas", "rhos", "success", "errors", "settings")
    arrays = io.load_npz(path, keys)
    missing = [k for k in keys if k not in arrays]
    if missing:
        raise io.InputError(f"{path}: missing array {missing[0]!r}; expected a phase "
                            "transition written by sparserec phase")
    settings = io._json(path, "settings", arrays["settings"])
    n, solver = settings.pop("n", None), settings.pop("solver", None)
    if isinstance(n, bool) or not isinstance(n, int) or n < 1 or not isinstance(solver, str):
        raise io.InputError(f"{path}: settings lack a signal length 'n' (a positive integer) "
                            "or a 'solver' name; expected a phase transition written by "
                            "sparserec phase")
    deltas, rhos, success, errors = (arrays[k] for k in keys[:4])
    grid = (deltas.size, rhos.size)
    if (deltas.ndim, rhos.ndim, success.shape, errors.shape[:2]) != (1, 1, grid, grid):
        raise io.InputError(f"{path}: arrays of shapes deltas {deltas.shape}, rhos "
                            f"{rhos.shape}, success {success.shape}, errors {errors.shape}; "
                            "expected (d,), (r,), (d, r) and (d, r, trials)")
    return PhaseTransition(deltas, rhos, success, errors, n, solver, settings)


def phase_transition(solver="amp", *, n=500, deltas=None, rhos=None, n_trials=20,
                     tol=SUCCESS_TOL, snr_db=None, solver_options=None, dtype="float64",
                     random_state=0, stop_after=None, client=None, on_cell=None,
                     verbose=False):
    """Estimate the success rate of sparse recovery over a grid of ``delta`` and ``rho``.

    For every cell, ``M = round(delta N)`` and ``K = max(1, round(rho M))``: one Gaussian
    matrix with i.i.d. N(0, 1/M) entries (:func:`sparserec.gaussian_matrix`) measures
    ``n_trials`` signals with K nonzeros at random places, of standard normal values,
    all recovered by one batched solver call. A trial succeeds when
    ``||y_hat - y|| <= tol ||y||`` (:func:`recovery_success`).

    Parameters
    ----------
    solver : str or fitted model, default='amp'
        A solver of :data:`sparserec.SOLVERS` ('amp', 'fista', 'ista', 'lasso', 'sista',
        'sparsa', 'sista_sparsa', 'omp', 'iht', 'cosamp', 'sp'; see Notes), or a trained
        model: a fitted
        :class:`sparserec.SISTARegressor`, :class:`sparserec.LISTARegressor` or
        :class:`sparserec.LAMPRegressor` (e.g. from :func:`sparserec.load_model`). A model
        fixes A, so N and the only delta are its own.
    n : int, default=500
        Signal length N.
    deltas : array_like, optional
        Undersampling ratios in (0, 1] (sorted); default 0.05, 0.10, ..., 0.95.
    rhos : array_like, optional
        Sparsity ratios in (0, 1] (sorted); default 0.05, 0.10, ..., 0.95.
    n_trials : int, default=20
        Signals per cell.
    tol : float, default=0.01
        The success criterion, a relative l2 error.
    snr_db : float, optional
        Add white Gaussian noise at this SNR (per cell); default noise-free.
    solver_options : dict, optional
        Keywords of the solver; see Notes for the defaults.
    dtype : {'float64', 'float32'}, default='float64'
    random_state : int, default=0
        Seed; every cell draws from its own stream, so a cell's result does not depend on
        the grid, the order or the scheduler.
    stop_after : int, optional
        Along each delta, once this many consecutive cells (by increasing rho) have no
        success, skip the larger rhos: they count as failures, with NaN errors. Saves the
        slow cells above the transition, where iterative solvers run to ``max_iter``;
        assumes success falls with rho. Default: run every cell.
    client : distributed.Client, optional
        Run on this Dask cluster (imported only then): one task per cell, or one per delta
        with ``stop_after``.
    on_cell : callable, optional
        Called with ``(i, j, success_rate)`` as each cell finishes (e.g. a progress bar).
    verbose : bool, default=False
        Print a line on stderr as each delta finishes: its cells' success rates and the
        time so far.

    Returns
    -------
    PhaseTransition

    Notes
    -----
    Solver defaults (each solver's ``phase_options`` in :data:`sparserec.SOLVERS`), chosen
    to approximate l1 minimisation (basis pursuit) in the noise-free case:

    - ``amp``: ``tau`` the minimax threshold (:func:`sparserec.minimax_threshold`),
      ``damping=0.2`` (plain AMP diverges for some Gaussian matrices at N = 500 when delta
      is large and the threshold small; damping keeps the fixed points),
      ``max_iter=1000``, ``tol=1e-7``.
    - ``fista``, ``ista``, ``lasso``: ``lam1 = lam1_ratio * max_b ||A^T x_b||_inf`` with
      ``lam1_ratio=1e-4`` (a small penalty: the lasso tends to basis pursuit as it
      vanishes), ``tol=1e-9`` (relative duality gap), ``max_iter=5000`` (fista),
      ``20000`` (ista) or ``10000`` (lasso). An explicit ``lam1`` replaces the ratio.
    - ``sparsa``: as the lasso methods, ``max_iter=5000``.
    - ``sista``, ``sista_sparsa``: each trial is a sequence of one frame, so ``lam2`` acts
      as a ridge penalty; default ``lam2=0`` (ISTA, SpaRSA) and the lasso's ``lam1`` and
      ``max_iter``.
    - ``omp``, ``iht``, ``cosamp``, ``sp``: told the number of nonzeros K of every cell
      (``n_nonzero``), as in Blanchard and Tanner's comparisons of greedy algorithms;
      ``tol=1e-10`` and ``max_iter=3000`` (iht) or ``300`` (cosamp, sp).
    - a model: its ``predict``, with its own number of layers (iterations); a SISTA-RNN
      on one-frame sequences of signals sparse in its dictionary, success measured on
      the signals ``y = D h``; LISTA and LAMP on the codes.

    Examples
    --------
    >>> pt = phase_transition("amp", n=100, deltas=[0.5], rhos=[0.1, 0.8], n_trials=5)
    >>> pt.success
    array([[1., 0.]])
    """
    start = time.perf_counter()
    model = None if isinstance(solver, str) else solver
    name = "model" if model is not None else solver
    if model is None and solver not in SOLVERS:
        raise ValueError(f"solver must be one of {', '.join(SOLVERS)} or a fitted model, got "
                         f"{solver!r}")
    if model is not None:
        if not hasattr(model, "measurement_matrix_"):
            raise ValueError("the model is not fitted (no measurement_matrix_); fit it or "
                             "load it with sparserec.load_model")
        M, n = model.measurement_matrix_.shape
        if deltas is not None and not np.allclose(deltas, M / n):
            raise ValueError(f"the model fixes delta = M/N = {M}/{n}; got deltas={deltas!r}")
        deltas = [M / n]
    n = check_int(n, "n", low=1, high=MAX_N)
    n_trials = check_int(n_trials, "n_trials", low=1, high=MAX_TRIALS)
    deltas = _ratios(np.arange(1, 20) / 20 if deltas is None else deltas, "deltas")
    rhos = _ratios(np.arange(1, 20) / 20 if rhos is None else rhos, "rhos")
    tol = check_number(tol, "tol", low=0, low_open=True)
    if snr_db is not None:
        snr_db = check_number(snr_db, "snr_db")
    dtype = check_dtype(dtype)
    options = _default_options(name, solver_options)
    if stop_after is not None:
        stop_after = check_int(stop_after, "stop_after", low=1)
    rows = [[dict(solver=model if model is not None else name, n=n, delta=float(delta),
                  rho=float(rho), n_trials=n_trials, snr_db=snr_db, options=options,
                  dtype=dtype.name, seed=(int(random_state), i, j))
             for j, rho in enumerate(rhos)] for i, delta in enumerate(deltas)]
    errors = np.empty((len(deltas), len(rhos), n_trials))
    on_cell = on_cell or (lambda i, j, rate: None)
    for i, row in enumerate(_run(rows, tol, stop_after, client)):
        for j, cell_errors in enumerate(row):
            errors[i, j] = cell_errors
            on_cell(i, j, float(np.mean(cell_errors <= tol)))
        if verbose:
            rates = " ".join(f"{rate:.2f}" for rate in (errors[i] <= tol).mean(axis=1))
            print(f"phase {name}: delta {deltas[i]:.3g} ({i + 1} of {len(deltas)}), success "
                  f"{rates}; {time.perf_counter() - start:.1f} s", file=sys.stderr,
                  flush=True)
    settings = dict(n_trials=n_trials, tol=tol, snr_db=snr_db, options=options,
                    stop_after=stop_after, dtype=dtype.name, random_state=random_state,
                    seconds=round(time.perf_counter() - start, 2),
                    matrix="gaussian N(0, 1/M), one per cell",
                    nonzeros="standard normal at K random places")
    return PhaseTransition(deltas, rhos, (errors <= tol).mean(axis=2), errors, n, name,
                           settings)


def _ratios(values, name):
    values = np.atleast_1d(np.asarray(values, dtype=np.float64))
    if values.ndim != 1 or values.size == 0 or not np.all((values > 0) & (values <= 1)):
        raise ValueError(f"{name} must be a non-empty list of numbers in (0, 1], got "
                         f"{values.tolist()!r}")
    return np.unique(values)  # sorted: the diagram's axes, and the order of stop_after


def _default_options(name, given):
    """The solver's keywords in a phase diagram: its phase defaults, then ``given``."""
    defaults = dict(SOLVERS[name].phase_options) if name in SOLVERS else {}
    if given and "lam1" in given:
        defaults.pop("lam1_ratio", None)
    return {**defaults, **(given or {})}


def _run(rows, tol, stop_after, client):
    """The errors of every row of cells, row after row, in grid order."""
    if client is None:
        for row in rows:
            yield _scan(row, tol, stop_after)
        return
    if stop_after is None:  # one task per cell
        futures = [[client.submit(_cell, job, pure=False) for job in row] for row in rows]
        collect = lambda row: [future.result() for future in row]  # noqa: E731
    else:  # one task per row: the stopping rule runs along it
        futures = [[client.submit(_scan, row, tol, stop_after, pure=False)] for row in rows]
        collect = lambda row: row[0].result()  # noqa: E731
    try:
        for row in futures:
            yield collect(row)
    finally:
        client.cancel([f for row in futures for f in row if not f.done()])


def _scan(row, tol, stop_after):
    """The cells of one delta by increasing rho, skipped (NaN) after ``stop_after`` zeros."""
    out, zeros = [], 0
    for job in row:
        if stop_after is not None and zeros >= stop_after:
            out.append(np.full(job["n_trials"], np.nan))
            continue
        errors = _cell(job)
        zeros = zeros + 1 if not np.any(errors <= tol) else 0
        out.append(errors)
    return out


def _cell(job):
    """Relative errors of the trials of one cell: draw, measure, solve in one call."""
    rng = np.random.default_rng(job["seed"])
    dtype = np.dtype(job["dtype"])
    solver, n, B = job["solver"], job["n"], job["n_trials"]
    options = dict(job["options"])
    if isinstance(solver, str):
        M = max(1, round(job["delta"] * n))
        A = gaussian_matrix(M, n, random_state=rng)
        D = None  # the identity: never built, N x N is large when N is
    else:
        A, D = solver.measurement_matrix_, getattr(solver, "dictionary_", None)
        M = A.shape[0]
    K = max(1, round(job["rho"] * M))
    H = np.zeros((B, n))
    for b in range(B):
        H[b, rng.choice(n, K, replace=False)] = rng.standard_normal(K)
    Y = H if D is None else H @ D.T
    X = Y @ A.T
    if job["snr_db"] is not None:
        noise = rng.standard_normal(X.shape)
        X += noise * (np.linalg.norm(X) / np.linalg.norm(noise) * 10 ** (-job["snr_db"] / 20))
    X = X.astype(dtype)
    if "lam1_ratio" in options:
        options["lam1"] = options.pop("lam1_ratio") * float(np.abs(X @ A).max())
    if isinstance(solver, str) and "n_nonzero" in SOLVERS[solver].options:
        options.setdefault("n_nonzero", K)  # a greedy solver is told the sparsity
    with warnings.catch_warnings():
        # failing to converge is expected above the transition: it is what is measured
        warnings.simplefilter("ignore", ConvergenceWarning)
        if not isinstance(solver, str):  # a model; a sequential one on one-frame sequences
            if solver.__sklearn_tags__().input_tags.three_d_array:
                return _relative_error(Y, solver.predict(X[:, None, :])[:, 0])
            return _relative_error(Y, solver.predict(X))
        spec = SOLVERS[solver]
        if spec.sequential:  # one-frame sequences
            Y_hat = spec.function(X[:, None, :], A.astype(dtype), **options).y_hat[:, 0]
        else:
            Y_hat = spec.function(X, A.astype(dtype), **options).y_hat
    return _relative_error(Y, Y_hat)
