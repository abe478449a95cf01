"""Solving npz files, one after the other or as one Dask task per file.

The unit of work is :func:`solve_file`: read one input, solve, write one output atomically.
It never raises for a bad file; it returns a :class:`Report`, so that one bad file cannot
stop a batch, and it skips an output that is already complete, so that a re-run does only
what is missing. :func:`run` maps it over tasks, serially or on a ``distributed.Client``
(imported lazily: Dask is an optional extra, ``pip install sparserec[distributed]``).

Examples
--------
>>> from sparserec.batch import solve_files                       # doctest: +SKIP
>>> reports = solve_files(["a.npz", "b.npz"], "results", "sista", lam1=0.05)  # doctest: +SKIP
>>> [r.status for r in reports]                                   # doctest: +SKIP
['done', 'done']
"""

import json
import os
import time
import traceback
import uuid
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import io
from ._validation import check_array
from ._version import __version__
from .matrices import make_dictionary
from .metrics import psnr, snr
from .solvers import SOLVERS

__all__ = ["BATCH_OPTIONS", "default_options", "Task", "Report", "solve_arrays", "solve_file",
           "output_path", "plan", "run", "solve_files", "local_client", "connect"]


#: Settings of a batch beside the solver's own options: ``dictionary`` (a name for
#: :func:`sparserec.make_dictionary`, which replaces the file's ``D``; None keeps it) and
#: the precision of the solve.
BATCH_OPTIONS = dict(dictionary=None, dtype="float64")


def default_options(method):
    """Every setting of a batch with ``method`` at its default (``D`` and ``F`` come from
    the files)."""
    options = {k: v for k, v in SOLVERS[method].options.items() if k not in ("D", "F")}
    return {**options, **BATCH_OPTIONS}


@dataclass(frozen=True)
class Task:
    """One file to solve.

    Attributes
    ----------
    input, output : str
        Paths of the data file and of the result file.
    method : str
        A solver of :data:`sparserec.SOLVERS`.
    options : dict
        Its settings, as :func:`default_options` lists them.
    existing : {'skip', 'error', 'overwrite'}
        What to do when the output exists: 'skip' it when it is a complete result of this
        input with these settings (resume; redo it if the input changed since, refuse any
        other file), refuse it ('error'), or replace it ('overwrite', ``force``).
    """

    input: str
    output: str
    method: str
    options: dict
    existing: str = "skip"


@dataclass
class Report:
    """What became of one task.

    Attributes
    ----------
    status : {'done', 'skipped', 'failed'}
    items : int
        Items solved: signals for the lasso methods, frames for SISTA.
    converged : int
        How many of them met the tolerance.
    seconds : float
        Wall time of the task.
    snr_db : float or None
        SNR of the reconstruction when the input holds the ground truth ``y``.
    message : str
        Why it failed (one line), or why it was skipped.
    warnings : list of str
        Warnings raised while solving (step size, convergence).
    internal : bool
        The failure is a bug, not bad input; ``traceback`` holds its traceback.
    """

    input: str
    output: str
    status: str = "failed"
    items: int = 0
    converged: int = 0
    seconds: float = 0.0
    snr_db: float = None
    message: str = ""
    warnings: list = field(default_factory=list)
    internal: bool = False
    traceback: str = None


def solve_arrays(data, method, options, source="input"):
    """Solve the problem held by a validated data dict and build the result arrays.

    Parameters
    ----------
    data : dict
        As returned by :func:`sparserec.io.read_data`.
    method : str
        A solver of :data:`sparserec.SOLVERS`.
    options : dict
        Its settings, as :func:`default_options` lists them.
    source : str
        Name of the input for messages.

    Returns
    -------
    arrays : dict of str to ndarray
        ``h``, ``y_hat``, ``n_iter``, ``converged``, ``objective`` (and ``gap`` for the
        lasso methods) with the input's leading shape, and ``snr_db``, ``psnr_db`` when
        ``data`` holds ``y``.
    settings : dict
        The solver's settings (``SolverResult.settings``).
    """
    solver = SOLVERS[method]
    dtype = np.dtype(options["dtype"])
    try:
        x, A = (check_array(data[name], name, dtype=dtype) for name in "xA")
    except ValueError as error:  # finite in the file's precision, not in the one asked for
        raise io.InputError(f"{source}: {error}") from None
    lead, (M, N) = x.shape[:-1], A.shape
    D = data.get("D")
    if options.get("dictionary"):
        try:
            D = make_dictionary(options["dictionary"], N, dtype)
        except ValueError as error:
            raise io.InputError(f"{source}: dictionary {options['dictionary']!r} does not fit "
                                f"N = {N} ({error}); expected another dictionary") from None
    operators = {"D": D, "F": data.get("F")}
    for name, value in operators.items():
        if value is not None and name not in solver.options:
            raise io.InputError(f"{source}: array {name!r} is given but method {method!r} "
                                f"does not use it; expected a method that does, or no {name}")
    kwargs = {key: options[key] for key in solver.options if key in options}
    kwargs.update({k: v for k, v in operators.items() if k in solver.options})
    try:
        result = solver.function(x if solver.sequential else x.reshape(-1, M), A, **kwargs)
    except (ValueError, TypeError, FloatingPointError) as error:  # the solver refused it
        raise io.InputError(f"{source}: {error}") from None
    arrays = dict(h=result.h.reshape(lead + (N,)), y_hat=result.y_hat.reshape(lead + (N,)),
                  n_iter=result.n_iter.reshape(lead), converged=result.converged.reshape(lead),
                  objective=result.objective.reshape(lead))
    if result.gap is not None:
        arrays["gap"] = result.gap.reshape(lead)
    if getattr(result, "diverged", None) is not None:
        arrays["diverged"] = result.diverged.reshape(lead)
    if "y" in data:
        arrays["snr_db"] = np.float64(snr(data["y"], arrays["y_hat"]))
        arrays["psnr_db"] = np.float64(psnr(data["y"], arrays["y_hat"]))
    return arrays, result.settings


def _request(task):
    """The settings that define an output: a re-run with others must not skip it."""
    return dict(method=task.method, **{k: task.options[k] for k in sorted(task.options)})


def solve_file(task):
    """Solve one file: the task of a batch, run locally or on a Dask worker.

    Parameters
    ----------
    task : Task

    Returns
    -------
    Report
        Never raises for bad input or a solver error: the report says what failed.
    """
    start = time.perf_counter()
    report = Report(task.input, task.output)
    try:
        io.remove_leftovers(task.output)  # of an earlier run's killed worker
        io.check_output(task.output, force=True, inputs=[task.input])  # a place to write
        data = io.read_data(task.input)
        source = io.digest(data)
        state, previous = _existing(task, source)
        if state == "same":
            report.status, report.message = "skipped", "output already complete"
            _fill_counts(report, previous)
        else:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                arrays, solver = solve_arrays(data, task.method, task.options, task.input)
            settings = dict(request=_request(task), solver=solver,
                            input=Path(task.input).name, input_digest=source,
                            version=__version__)
            arrays["settings"] = np.array(json.dumps(settings, default=str))
            # Checked again under the directory's lock, just before the rename: another
            # run may have written the output meanwhile.
            io.write_npz(task.output, arrays, check=lambda: _existing(task, source))
            report.status = "done"
            report.warnings = list(dict.fromkeys(f"{w.message}" for w in caught))
            _fill_counts(report, arrays)
    except io.InputError as error:
        report.message = str(error)
    except OSError as error:  # the input or output path: not a bug, the run goes on
        report.message = str(io.path_error(error, task.input))
    except Exception as error:  # a bug: keep the batch going, keep the traceback
        report.message = f"{task.input}: internal error: {type(error).__name__}: {error}"
        report.internal = True
        report.traceback = traceback.format_exc()
    report.seconds = time.perf_counter() - start
    return report


def _existing(task, source):
    """What the output of ``task`` holds now, and whether it may be replaced.

    Returns ``(state, arrays)``: ``(None, None)`` when there is no output (or the task
    replaces whatever is there), ``('same', arrays)`` for a complete result of this input,
    unchanged since (digest ``source``), with these settings, and ``('stale', None)`` for
    such a result of an older version of the input. Raises :class:`InputError` for any
    other file: it is never replaced without ``force=True``.
    """
    path = Path(task.output)
    if not path.exists() or task.existing == "overwrite":
        return None, None
    if task.existing == "error":
        raise io.InputError(f"{path}: output already exists; expected a new path, or "
                            "force=True to replace it")
    try:
        arrays, settings = io.read_result(path)
    except io.InputError:
        arrays = settings = None
    if settings is None or not isinstance(settings.get("request"), dict):
        raise io.InputError(f"{path}: exists and is not a complete sparserec result; "
                            "expected a new path (it is never replaced), or force=True")
    made_of = settings.get("input")
    if made_of != Path(task.input).name:
        raise io.InputError(f"{path}: exists and is the result of {made_of!r}, not of "
                            f"{Path(task.input).name!r}; expected inputs with distinct "
                            "names, or force=True")
    made, wanted = settings["request"], _request(task)
    changed = [f"{key}={made.get(key)!r}, now {value!r}" for key, value in wanted.items()
               if made.get(key) != value]
    if changed:
        raise io.InputError(f"{path}: exists, made with other settings "
                            f"({'; '.join(changed)}); expected the same settings, or "
                            "force=True to redo it")
    if settings.get("input_digest") != source:
        return "stale", None  # the input changed since: redo it
    return "same", arrays


def _fill_counts(report, arrays):
    report.items = int(arrays["converged"].size)
    report.converged = int(np.count_nonzero(arrays["converged"]))
    if "snr_db" in arrays:
        report.snr_db = float(arrays["snr_db"])


def output_path(input, out_dir, method):
    """The output of ``input``: ``<out_dir>/<stem>_<method>.npz`` (next to it by default)."""
    input = Path(input)
    return (Path(out_dir) if out_dir is not None else input.parent) / \
        f"{input.stem}_{method}.npz"


def plan(inputs, out_dir, method, options=None, *, force=False):
    """The tasks of a batch: one per distinct input, outputs in ``out_dir``.

    Parameters
    ----------
    inputs : iterable of path-like
    out_dir : path-like or None
        Where the outputs go (next to each input when None).
    method : str
    options : dict, optional
        Settings of the solver; missing ones take their :func:`default_options`.
    force : bool, default=False
        Redo outputs that are already complete.

    Returns
    -------
    list of Task

    Raises
    ------
    InputError
        If two inputs would write the same output.
    """
    if method not in SOLVERS:
        raise ValueError(f"method must be one of {', '.join(SOLVERS)}; got {method!r}")
    options = {**default_options(method), **(options or {})}
    inputs = list(dict.fromkeys(str(p) for p in inputs))
    resolved = {Path(p).resolve(): p for p in inputs}
    tasks, seen = [], {}
    for input in inputs:
        output = str(output_path(input, out_dir, method))
        if output in seen:
            raise io.InputError(f"{input}: writes the same output {output} as {seen[output]}; "
                                "expected inputs with distinct names")
        if Path(output).resolve() in resolved:
            raise io.InputError(f"{resolved[Path(output).resolve()]}: is an input of this run "
                                f"and would be the output of {input}; expected inputs that "
                                "are not outputs (another out_dir, or fewer inputs)")
        seen[output] = input
        tasks.append(Task(input, output, method, options,
                          existing="overwrite" if force else "skip"))
    return tasks


def run(tasks, *, client=None, on_report=None):
    """Run tasks serially, or one Dask task per file on ``client``.

    Parameters
    ----------
    tasks : list of Task
    client : distributed.Client, optional
        Run on its cluster; the workers read the inputs and write the outputs, so they
        must see the same file system.
    on_report : callable, optional
        Called with each :class:`Report` as it arrives (e.g. to advance a progress bar).

    Returns
    -------
    list of Report
        In the order of ``tasks``.
    """
    on_report = on_report or (lambda report: None)
    reports = [None] * len(tasks)
    if client is None:
        for i, task in enumerate(tasks):
            reports[i] = solve_file(task)
            on_report(reports[i])
        return reports

    from distributed import as_completed

    batch = uuid.uuid4().hex[:8]
    futures = [client.submit(solve_file, task, key=f"sparserec-solve-{batch}-{i}", pure=False)
               for i, task in enumerate(tasks)]
    index = {future.key: i for i, future in enumerate(futures)}
    try:
        for future in as_completed(futures):
            i = index[future.key]
            try:
                reports[i] = future.result()
            except Exception as error:  # e.g. KilledWorker: the task crashed workers
                reports[i] = Report(tasks[i].input, tasks[i].output,
                                    message=f"{tasks[i].input}: lost on the cluster "
                                            f"({type(error).__name__}: {error})")
            on_report(reports[i])
    finally:
        client.cancel([f for f in futures if not f.done()])
    return reports


def solve_files(inputs, out_dir, method="sista", *, force=False, client=None, **options):
    """Solve many files into ``out_dir``: :func:`plan` then :func:`run`.

    Parameters
    ----------
    inputs : iterable of path-like
    out_dir : path-like
        Created if missing.
    method : str, default='sista'
    force : bool, default=False
        Redo outputs that are already complete (otherwise they are skipped).
    client : distributed.Client, optional
        Run one task per file on this Dask cluster.
    **options
        Settings of the solver (see :func:`default_options`).

    Returns
    -------
    list of Report
    """
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    return run(plan(inputs, out_dir, method, options, force=force), client=client)


def _distributed():
    try:
        import distributed
    except ImportError:
        raise io.InputError("Dask is not installed; expected pip install "
                            "'sparserec[distributed]' to run on a Dask cluster") from None
    return distributed


@contextmanager
def local_client(n_workers):
    """A client of a new local cluster: ``n_workers`` processes, one thread each, on loopback.

    One thread per worker, because each task already uses BLAS and numba at full speed.
    """
    distributed = _distributed()
    import logging

    # The workers' standard error goes nowhere: Ctrl-C reaches every process of the
    # terminal's group, and each worker would print a traceback (a hundred lines) where the
    # command prints one. Their failures reach the command as the tasks' errors.
    stderr, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        cluster = distributed.LocalCluster(n_workers=n_workers, threads_per_worker=1,
                                           processes=True, host="127.0.0.1",
                                           dashboard_address=":0", silence_logs=logging.ERROR)
    finally:
        os.dup2(stderr, 2)
        os.close(stderr)
        os.close(devnull)
    # The scheduler, in this process, would log the workers' end at Ctrl-C, tracebacks too.
    log = logging.getLogger("distributed")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        with cluster, distributed.Client(cluster) as client:
            yield client
    finally:
        log.setLevel(level)


def _check_address(address):
    """Refuse a malformed address before a client is made: distributed's client, given
    one, fails late (after seconds) and leaves threads behind."""
    from distributed.comm import parse_address
    from distributed.comm.registry import get_backend

    try:
        scheme, location = parse_address(address, strict=False)
        _, port = get_backend(scheme).get_address_host_port(location)
        if not 0 < int(port) < 65536:
            raise ValueError(f"port {port} is not in [1, 65535]")
    except NotImplementedError:  # (an in-process address: nothing to check)
        pass
    except ValueError as error:
        raise io.InputError(f"{address}: not a scheduler address ({error}); expected an "
                            "address like tcp://host:8786") from None


@contextmanager
def connect(address, timeout=4):
    """A client of the running Dask scheduler at ``address`` (e.g. tcp://host:8786), or an
    :class:`~sparserec.io.InputError` after ``timeout`` seconds."""
    distributed = _distributed()
    _check_address(address)
    try:
        client = distributed.Client(address, timeout=timeout)
    except (OSError, TimeoutError) as error:
        raise io.InputError(f"{address}: cannot connect to a Dask scheduler ({error}); "
                            "expected the address of a running Dask scheduler") from None
    with client:
        yield client
