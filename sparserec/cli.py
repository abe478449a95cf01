"""The ``sparserec`` command: solve, fit, predict, info and demo; batch runs on Dask.

Every command follows the error contract of docs/cli.rst: bad input gets a one-line
message naming the file, the array and the expectation, and exit code 2, without a
traceback (``sparserec --debug ...`` shows one); outputs are written atomically and inputs
are never modified. The library's messages name its parameters (``force=True``); the
command shows them as its flags (``--force``).
"""

import glob
import inspect
import json
import math
import re
import sys
import traceback
import warnings
from contextlib import nullcontext
from pathlib import Path

import click
import numpy as np
from click.core import ParameterSource

from . import batch, io
from ._validation import MAX_COUNT
from .phase import MAX_N, MAX_TRIALS
from ._version import __version__
from .solvers import SOLVERS, sista

CONTEXT = dict(help_option_names=["-h", "--help"], max_content_width=100)


class _Group(click.Group):
    """Turns bad input into one line on stderr and exit code 2, and bugs into exit code 1."""

    def invoke(self, ctx):
        debug = ctx.params.get("debug", False)
        try:
            return super().invoke(ctx)
        except (io.InputError, OSError) as error:  # an OSError: on a path the user gave
            if debug:
                traceback.print_exc()
            if isinstance(error, OSError):
                error = io.path_error(error)
            command = self.get_command(ctx, ctx.invoked_subcommand or "")
            click.echo(f"error: {_as_flags(str(error), command)}", err=True)
            ctx.exit(2)
        except KeyboardInterrupt:
            click.echo("\ninterrupted", err=True)
            ctx.exit(130)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as error:
            if debug:
                raise
            click.echo(f"error: internal error: {type(error).__name__}: {error} "
                       "(run sparserec --debug ... for the traceback)", err=True)
            ctx.exit(1)


def _as_flags(message, command):
    """A library message in the command's words: ``force=True`` becomes ``--force``."""
    for option in getattr(command, "params", ()):
        if isinstance(option, click.Option) and option.is_flag and option.name:
            message = re.sub(rf"\b{option.name}=True\b", max(option.opts, key=len), message)
    return message


class _Finite(click.FloatRange):
    """A float in a range that is also finite (click's FloatRange lets 'nan' through)."""

    name = "float"

    def convert(self, value, param, ctx):
        value = super().convert(value, param, ctx)
        if not math.isfinite(value):
            self.fail(f"{value} is not a finite number.", param, ctx)
        return value


NON_NEGATIVE = _Finite(min=0)
#: A count: iterations, epochs, layers, sizes, workers (beyond, a run would never end).
COUNT = click.IntRange(min=1, max=MAX_COUNT)

POSITIVE = _Finite(min=0, min_open=True)


class _Threshold(_Finite):
    """The threshold rule of amp: 'sure', 'minimax' or a positive number."""

    name = "sure|minimax|float"

    def __init__(self):
        super().__init__(min=0, min_open=True)

    def convert(self, value, param, ctx):
        if isinstance(value, str) and value.lower() in ("sure", "minimax"):
            return value.lower()
        return super().convert(value, param, ctx)


TAU = _Threshold()


@click.group(cls=_Group, context_settings=CONTEXT)
@click.version_option(__version__, "-V", "--version", prog_name="sparserec")
@click.option("--debug", is_flag=True, help="Show the traceback of errors.")
def cli(debug):
    """Sparse recovery from the command line: ISTA, FISTA, SISTA, AMP and the SISTA-RNN.

    Data files are NumPy .npz archives holding measurements x, of shape (T, M) or
    (B, T, M), and a measurement matrix A (M, N); optionally a dictionary D (N, N), a
    transition F (N, N) and the ground truth y for scoring. They are never unpickled.

    \b
    Examples:
      sparserec demo
      sparserec solve --method sista data.npz
      sparserec solve --method fista --lam1 0.05 'data/run*.npz' --out-dir results --workers 4
      sparserec info data.npz
      sparserec phase --solver amp --trials 20
    """


# ----------------------------------------------------------------------------------------
# solve


def _check_dictionary(ctx, param, value):
    """Catch a misspelt dictionary before a batch starts; whether it fits N is per file."""
    if value is not None:
        from .matrices import make_dictionary
        try:
            make_dictionary(value, 1024)
        except ValueError as error:
            raise click.BadParameter(str(error), ctx, param) from None
    return value


def _expand(patterns):
    """Paths as given, with glob patterns the shell left alone (quoted) expanded here."""
    paths = []
    for pattern in patterns:
        if glob.has_magic(pattern) and not Path(pattern).exists():
            matches = sorted(glob.glob(pattern, recursive=True))
            if not matches:
                raise io.InputError(f"{pattern}: no file matches this pattern; expected at "
                                    "least one input")
            paths += matches
        else:
            paths.append(pattern)
    return paths


def _solver_options(ctx, method):
    """The settings of ``solve`` for ``method``: those given, the method's defaults for the
    others; refuses options the method does not take."""
    defaults = batch.default_options(method)
    options = {}
    for name in _SETTINGS:
        given = ctx.get_parameter_source(name) != ParameterSource.DEFAULT
        if name in defaults:
            options[name] = ctx.params[name] if given else defaults[name]
        elif given:
            raise click.UsageError(f"--{name.replace('_', '-')} is not used by "
                                   f"--method {method}", ctx)
    return options


#: Every setting of ``solve``, among all methods.
_SETTINGS = tuple(dict.fromkeys(name for method in SOLVERS
                                for name in batch.default_options(method)))


def _shared_default(name):
    """A setting's default in ``solve --help``: the methods' own, if they agree."""
    values = {batch.default_options(m)[name] for m in SOLVERS
              if name in batch.default_options(m)}
    return values.pop() if len(values) == 1 else None


@cli.command(context_settings=CONTEXT)
@click.argument("inputs", nargs=-1, required=True, metavar="INPUT.npz...")
@click.option("-m", "--method", type=click.Choice(list(SOLVERS)), default="sista",
              show_default=True, help="The solver.")
@click.option("-o", "--output", metavar="OUTPUT.npz",
              help="Output file (one input only). Default: INPUT_METHOD.npz next to the input.")
@click.option("--out-dir", metavar="DIR",
              help="Batch mode: write INPUT_METHOD.npz files here (created if missing); "
                   "outputs already complete are skipped.")
@click.option("--lam1", type=NON_NEGATIVE, default=_shared_default("lam1"), show_default=True,
              help="Weight of the l1 penalty.")
@click.option("--lam2", type=NON_NEGATIVE, default=_shared_default("lam2"), show_default=True,
              help="Weight of the temporal term (sista, sista_sparsa).")
@click.option("--alpha", type=POSITIVE, default=None,
              help="Inverse step size. Default: the Lipschitz bound; a smaller value is "
                   "warned about (the iteration may diverge).")
@click.option("--n-iter", type=COUNT, default=None,
              help="Exactly this many iterations per frame, ignoring --tol (sista, "
                   "sista_sparsa).")
@click.option("--max-iter", type=COUNT, default=_shared_default("max_iter"),
              show_default=True, help="Iteration limit per signal or frame.")
@click.option("--n-nonzero", type=COUNT, default=None, metavar="K",
              help="Nonzeros of every code (omp, iht, cosamp, sp; omp takes --tol instead "
                   "or as well).")
@click.option("--tol", type=NON_NEGATIVE, default=None,
              help="Tolerance: relative duality gap (ista, fista, lasso, sparsa, "
                   "sista_sparsa), relative change (sista, amp, iht), relative residual "
                   "(cosamp, sp), squared residual (omp). Default: 1e-6, none for omp.")
@click.option("--tau", type=TAU, default=None,
              help="Threshold of amp: 'sure' (default; tuned by Stein's unbiased risk "
                   "estimate), 'minimax' (the minimax threshold at M/N) or a number, in "
                   "units of the estimated noise level.")
@click.option("--damping", type=_Finite(min=0, max=1, max_open=True), default=None,
              help="Damping of amp in [0, 1): weight of the previous iterate (default 0).")
@click.option("--dictionary", metavar="SPEC", default=None, callback=_check_dictionary,
              help="identity, dct, wavelet, wavelet:NAME or wavelet:NAME:LEVEL. "
                   "Default: the input's D, else identity.")
@click.option("--dtype", type=click.Choice(["float64", "float32"]),
              default=batch.BATCH_OPTIONS["dtype"], show_default=True,
              help="Precision of the solve.")
@click.option("--force", is_flag=True, help="Replace existing outputs (batch: redo complete ones).")
@click.option("--workers", type=COUNT, default=None, metavar="N",
              help="Batch on a local Dask cluster of N processes (needs sparserec[distributed]).")
@click.option("--scheduler", metavar="ADDRESS", default=None,
              help="Batch on the running Dask scheduler at ADDRESS, e.g. tcp://10.0.0.1:8786.")
@click.pass_context
def solve(ctx, inputs, method, output, out_dir, force, workers, scheduler, **_):
    """Recover sparse codes and signals from measurements in INPUT.npz.

    One input writes one output (default: INPUT_METHOD.npz next to it) and prints a
    summary. Several inputs, a glob or --out-dir make a batch: a progress bar, a summary
    table, exit code 1 when any file failed; re-running skips complete outputs (--force
    redoes them). --workers or --scheduler run one Dask task per file.

    The output holds h and y_hat (the input's leading shape, last dimension N), n_iter,
    converged and objective per item, the settings as JSON, and snr_db, psnr_db when the
    input holds the ground truth y.

    \b
    Examples:
      sparserec solve --method sista data.npz
      sparserec solve --method fista --lam1 0.05 data.npz -o codes.npz
      sparserec solve --method sista --dictionary wavelet:db4:3 --n-iter 3 data.npz
      sparserec solve --method omp --n-nonzero 25 data.npz
      sparserec solve --method omp --tol 0.01 data.npz
      sparserec solve 'runs/run*.npz' --out-dir results
      sparserec solve 'runs/run*.npz' --out-dir results --workers 4
      sparserec solve 'runs/run*.npz' --out-dir results --scheduler tcp://head:8786
    """
    options = _solver_options(ctx, method)
    paths = _expand(inputs)
    _compile_notice(method)
    executor = _dask_executor(ctx, workers, scheduler)
    if output is not None and (out_dir is not None or len(paths) > 1):
        raise click.UsageError("-o/--output takes a single input; use --out-dir for several",
                               ctx)
    if out_dir is None and len(paths) == 1 and not (workers or scheduler):
        _solve_one(ctx, paths[0], output, method, options, force)
    else:
        _solve_batch(ctx, paths, out_dir, method, options, force, executor)


def _solve_one(ctx, input, output, method, options, force):
    output = output or str(batch.output_path(input, None, method))
    report = batch.solve_file(batch.Task(input, output, method, options,
                                         existing="overwrite" if force else "error"))
    _raise_failure(ctx, report)
    _warn(report)
    score = "" if report.snr_db is None else f", SNR {report.snr_db:.2f} dB"
    click.echo(f"{input}: {method}, {report.converged}/{report.items} items converged, "
               f"{report.seconds:.2f} s{score} -> {output}")


def _raise_failure(ctx, report):
    if report.status != "failed":
        return
    if report.internal:
        if ctx.find_root().params["debug"]:
            click.echo(report.traceback, err=True, nl=False)
        click.echo(f"error: {report.message} (run sparserec --debug ... for the traceback)",
                   err=True)
        ctx.exit(1)
    raise io.InputError(report.message)


def _warn(report):
    for message in report.warnings:
        click.echo(f"warning: {report.input}: {message}", err=True)


def _dask_executor(ctx, workers, scheduler):
    """The Dask client of --workers or --scheduler, or a null context to run serially."""
    if workers and scheduler:
        raise click.UsageError("--workers and --scheduler exclude each other", ctx)
    if workers:
        return batch.local_client(workers)
    if scheduler:
        return batch.connect(scheduler)
    return nullcontext()


def _solve_batch(ctx, paths, out_dir, method, options, force, executor):
    if out_dir is not None:
        if Path(out_dir).exists() and not Path(out_dir).is_dir():
            raise io.InputError(f"{out_dir}: --out-dir is not a directory; expected a "
                                "directory (created if missing)")
        Path(out_dir).mkdir(parents=True, exist_ok=True)
    tasks = batch.plan(paths, out_dir, method, options, force=force)
    finished = []
    try:
        with executor as client, _progress(len(tasks), method) as bar:
            def on_report(report):
                finished.append(report)
                bar.update(1)
            reports = batch.run(tasks, client=client, on_report=on_report)
    except KeyboardInterrupt:
        click.echo(f"\ninterrupted: {len(finished)} of {len(tasks)} files finished; run the "
                   "same command again to do the rest", err=True)
        ctx.exit(130)
    _print_table(reports)
    debug = ctx.find_root().params["debug"]
    for report in reports:
        _warn(report)
        if report.status == "failed":
            if debug and report.traceback:
                click.echo(report.traceback, err=True, nl=False)
            click.echo(f"error: {_as_flags(report.message, ctx.command)}", err=True)
    counts = {s: sum(r.status == s for r in reports) for s in ("done", "skipped", "failed")}
    click.echo(f"{len(reports)} files: " + ", ".join(f"{n} {s}" for s, n in counts.items()))
    ctx.exit(1 if counts["failed"] else 0)


def _compile_notice(method):
    """One line before a first run, which compiles the method's kernels (seconds)."""
    if SOLVERS[method].needs_compiling():
        click.echo(f"compiling numba kernels for {method}: first run only (they are cached "
                   "for the next runs)", err=True)


class _NoBar:
    """A progress bar that shows nothing (stderr is not a terminal)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update(self, n):
        pass


def _progress(length, label):
    """A progress bar on stderr, shown on a terminal only: elsewhere (a log file, a
    pipe) click's bar prints its label alone, on a line of its own."""
    if not sys.stderr.isatty():
        return _NoBar()
    return click.progressbar(length=length, label=label, file=sys.stderr, show_pos=True)


def _print_table(reports):
    rows = [("file", "status", "items", "converged", "time (s)", "SNR (dB)")]
    for r in reports:
        ok = r.status != "failed"
        rows.append((Path(r.input).name, r.status, str(r.items) if ok else "-",
                     f"{r.converged}/{r.items}" if ok else "-", f"{r.seconds:.2f}",
                     "-" if r.snr_db is None else f"{r.snr_db:.2f}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = [row[0].ljust(widths[0]), row[1].ljust(widths[1])]
        cells += [cell.rjust(w) for cell, w in zip(row[2:], widths[2:], strict=True)]
        click.echo("  ".join(cells))


# ----------------------------------------------------------------------------------------
# info


@cli.command(context_settings=CONTEXT)
@click.argument("files", nargs=-1, required=True, metavar="FILE.npz...")
def info(files):
    """Show what FILE.npz holds and whether it is valid.

    A file is data, a result of solve or predict, or a model of fit.
    Exit code 2 when any file is invalid.

    \b
    Examples:
      sparserec info data.npz
      sparserec info results/run*_sista.npz
    """
    invalid = 0
    for path in files:
        try:
            click.echo(_describe(path))
        except io.InputError as error:
            click.echo(f"error: {error}", err=True)
            invalid += 1
    if invalid:
        sys.exit(2)


def _describe(path):
    arrays = io.read_headers(path)
    lines = [f"{path}:"]
    lines += [f"  {name:<12} {str(a.dtype):<9} {a.shape}" for name, a in arrays.items()]
    kind = io.file_kind(arrays)
    if kind == "data":
        data = io.read_data(path)
        x, A = data["x"], data["A"]
        sequences = f"{x.shape[0]} sequences of " if x.ndim == 3 else ""
        extras = ", ".join(k for k in ("D", "F", "y") if k in data) or "no D, F, y"
        lines.append(f"  valid data: {sequences}{x.shape[-2]} frames, M = {A.shape[0]}, "
                     f"N = {A.shape[1]}; with {extras}")
    elif kind == "result":
        arrays, settings = io.read_result(path)
        request = settings.get("request", {})
        score = f", SNR {float(arrays['snr_db']):.2f} dB" if "snr_db" in arrays else ""
        converged = arrays["converged"]
        lines.append(f"  valid result: {request.get('method', '?')} on "
                     f"{settings.get('input', '?')}, {int(converged.sum())}/{converged.size} "
                     f"items converged{score}")
    elif kind == "prediction":
        arrays, settings = io.read_result(path, keys=("y_hat", "settings"))
        score = f", SNR {float(arrays['snr_db']):.2f} dB" if "snr_db" in arrays else ""
        lines.append(f"  valid prediction of {settings.get('model', '?')} on "
                     f"{settings.get('input', '?')}{score}")
    elif kind == "model":
        model = _load_model(path)
        lines.append(f"  valid model: {type(model).__name__}({_params_text(model)})")
        from .learned import per_layer

        for name, values in per_layer(model).items():
            shown = " ".join(f"{value:.4g}" for value in values[:_LAYERS_SHOWN])
            more = f" ... ({len(values)} layers)" if len(values) > _LAYERS_SHOWN else ""
            lines.append(f"  {name} by layer: {shown}{more}")
    else:
        raise io.InputError(f"{path}: not a sparserec file (arrays {', '.join(arrays)}); "
                            "expected data (x, A), a result (h, y_hat, settings) or a model")
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------
# warmup


@cli.command(context_settings=CONTEXT)
@click.option("-m", "--method", "methods", multiple=True,
              type=click.Choice([*SOLVERS, "fit"]),
              help="Only this one (repeatable): a method of solve, or fit for the SISTA-RNN's "
                   "training and prediction.  [default: all]")
@click.option("--dtype", type=click.Choice(["float64", "float32", "both"]), default="both",
              show_default=True, help="The precisions to compile.")
def warmup(methods, dtype):
    """Compile the numba kernels into numba's cache now, so that later runs start at once.

    The first run of a method compiles its kernels, a few seconds each and about 10 s for
    the lasso's, and numba caches them on disk (next to the installed package, or in
    NUMBA_CACHE_DIR). Run this once after installing, or once before launching a job
    array, whose tasks then all start from the cache. Prints the time of each method: a
    few tenths of a second when it was already cached.

    \b
    Examples:
      sparserec warmup
      sparserec warmup -m lasso -m sista --dtype float64
    """
    import time

    dtypes = ["float64", "float32"] if dtype == "both" else [dtype]
    for method in dict.fromkeys(methods or [*SOLVERS, "fit"]):
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a random tiny problem: warnings say nothing
            for name in dtypes:
                _compile(method, np.dtype(name))
        click.echo(f"{method:<6} {time.perf_counter() - start:6.1f} s")


def _compile(method, dtype):
    """Run ``method`` on tiny random problems of ``dtype``, which compiles its kernels: a
    batch, and one signal of many features (the lasso's two paths)."""
    rng = np.random.default_rng(0)
    A = rng.standard_normal((8, 16))
    if method == "fit":
        from .learned import SISTAParams, forward, loss_and_grad

        params = SISTAParams.initial(A)
        X = rng.standard_normal((2, 3, 8)).astype(dtype)
        loss_and_grad(params, X, rng.standard_normal((2, 3, 16)).astype(dtype))
        forward(params, X)
        return
    options = dict(batch.default_options(method), dtype=dtype.name)
    if "n_nonzero" in options:  # (the greedy solvers need it)
        options["n_nonzero"] = 2
    shape = (2, 3, 8) if SOLVERS[method].sequential else (3, 8)
    batch.solve_arrays(dict(x=rng.standard_normal(shape), A=A), method, options, "warmup")
    if not SOLVERS[method].sequential:
        batch.solve_arrays(dict(x=rng.standard_normal((1, 8)),
                                A=rng.standard_normal((8, 1024))), method, options, "warmup")


# ----------------------------------------------------------------------------------------
# demo


@cli.command(context_settings=CONTEXT)
@click.option("--lam1", type=NON_NEGATIVE, default=0.5, show_default=True,
              help="Weight of the l1 penalty of classical SISTA.")
@click.option("--lam2", type=NON_NEGATIVE, default=1.0, show_default=True,
              help="Weight of the temporal term of classical SISTA.")
@click.option("--plot", "plot_path", default="sparserec_demo.png", show_default=True,
              metavar="PNG", help="Where to write the figure (needs matplotlib).")
@click.option("--no-plot", is_flag=True, help="Print the PSNRs only.")
def demo(lam1, lam2, plot_path, no_plot):
    """Compress a photograph; recover it by classical SISTA and by the pre-trained SISTA-RNN.

    Each column of a 128x128 grey photograph (the astronaut, a test image that the
    network never saw in training) is one frame of a sequence, measured by the paper's A
    (32 x 128, compression 4). Classical SISTA recovers it to convergence in the paper's
    wavelet dictionary, with the paper's penalties; the pre-trained SISTA-RNN (three SISTA
    iterations per frame, with learned parameters) in one pass. Prints one line per
    method with its PSNR; writes a figure of original, measurements and both
    reconstructions when matplotlib is installed (replacing the demo's previous figure).

    \b
    Examples:
      sparserec demo
      sparserec demo --lam1 0.2 --plot demo.png
      sparserec demo --no-plot
    """
    from .datasets import sample_image
    from .estimators import load_pretrained
    from .matrices import paper_matrices
    from .metrics import psnr

    plot = not no_plot and _matplotlib_present()
    if plot:
        io.check_output(plot_path, force=True, suffix=".png")  # the demo's own figure
    model = load_pretrained("sista-rnn-images")
    norm = model.pretrained_["normalisation"]
    image = sample_image("astronaut")
    A, D, F = paper_matrices()
    frames = (image.T - norm["mean"]) / norm["std"]  # column t of the image is frame t
    x = frames @ A.T

    def pixels(Y):  # back to the image, 8-bit scale
        return np.clip((Y.T * norm["std"] + norm["mean"]) * 255.0, 0.0, 255.0)

    classical = sista(x, A, lam1, lam2, D=D, F=F, max_iter=2000, tol=1e-6)
    recovered = {f"classical SISTA (lam1={lam1:g}, lam2={lam2:g}, to convergence)":
                 pixels(classical.y_hat),
                 f"pre-trained SISTA-RNN ({model.n_layers} iterations per frame)":
                 pixels(model.predict(x[None])[0])}
    click.echo(f"astronaut {image.shape[0]}x{image.shape[1]} (a test image, never seen in "
               f"training), one frame per column, measured by A {A.shape[0]}x{A.shape[1]}")
    for name, picture in recovered.items():
        click.echo(f"{name}: PSNR {psnr(image * 255.0, picture, data_range=255.0):.2f} dB")
    if plot:
        _demo_figure(plot_path, image * 255.0, x.T, recovered)
        click.echo(f"wrote {plot_path}")
    elif not no_plot:
        click.echo("matplotlib is not installed: no figure (pip install 'sparserec[plot]')")


def _matplotlib_present():
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _demo_figure(path, image, measurements, recovered):
    from matplotlib.figure import Figure  # no pyplot: no global state, no display needed

    from .metrics import psnr

    figure = Figure(figsize=(12, 3.6), layout="constrained")
    panels = [(image, "original (128 x 128)"), (measurements, "measurements (32 x 128)")]
    for name, picture in recovered.items():
        value = psnr(image, picture, data_range=255.0)
        panels.append((picture, f"{name.split(' (')[0]}\nPSNR {value:.1f} dB"))
    for ax, (picture, title) in zip(figure.subplots(1, len(panels)), panels, strict=True):
        ax.imshow(picture, cmap="gray", aspect="auto" if picture is measurements else "equal",
                  **({} if picture is measurements else dict(vmin=0, vmax=255)))
        ax.set_title(title)
        ax.set_axis_off()
    with io.atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=100)


# ----------------------------------------------------------------------------------------
# fit and predict: the options are the chosen network's estimator's hyperparameters


#: The hyperparameters that are not options of fit: the data file gives them, or -v does
#: (and a warm start needs a fitted model in memory).
_NOT_OPTIONS = ("measurement_matrix", "dictionary", "transition", "verbose", "warm_start")


def _estimator_options():
    """One option per hyperparameter of the learned estimators, typed and described by
    the estimators' docstrings (imported only when fit runs or shows its help: scikit-learn
    takes most of a second to load, which solve must not pay for)."""
    from .estimators import ESTIMATORS

    described, kinds = {}, {}  # parameter -> {text: {default: [networks]}}; type line
    for name, cls in ESTIMATORS.items():
        for parameter, (kind, text) in _numpydoc_parameters(cls.__doc__).items():
            if parameter not in _NOT_OPTIONS:
                kinds.setdefault(parameter, kind)
                default = None if kind.startswith("bool") else _default_text(kind)
                described.setdefault(parameter, {}).setdefault(text, {}).setdefault(
                    default, []).append(name)
    options = []
    for parameter, texts in described.items():
        kind = kinds[parameter]
        parts = []
        for text, defaults in texts.items():
            networks = [network for group in defaults.values() for network in group]
            tag = f"[{', '.join(networks)}] " if len(networks) < len(ESTIMATORS) else ""
            shown = {default: group for default, group in defaults.items()
                     if default not in (None, "None")}
            if len(defaults) == 1 and shown:
                text += f" (default: {next(iter(shown))})"
            elif shown:
                text += " (default: " + "; ".join(
                    f"{default} for {', '.join(group)}" for default, group in shown.items()) + ")"
            parts.append(tag + text)
        help_text = " ".join(parts).replace("``", "").replace(":func:", "")
        flag = f"--{parameter.replace('_', '-')}"
        if kind.startswith("bool"):
            options.append(click.Option([f"{flag}/--no-{flag[2:]}", parameter], default=None,
                                        help=help_text))
        else:
            options.append(click.Option([flag, parameter], type=_click_type(kind),
                                        default=None, help=help_text))
    return options


def _numpydoc_parameters(doc):
    """``{name: (type line, first sentence of the description)}`` of the Parameters
    section of a numpydoc docstring."""
    lines = inspect.cleandoc(doc).splitlines()
    start = lines.index("Parameters") + 2
    parameters, current = {}, None
    for line in lines[start:]:
        if line and not line.startswith(" "):
            if " : " not in line:
                break  # the next section
            names, kind = line.split(" : ", 1)
            current = [name.strip() for name in names.split(",")]
            for name in current:
                parameters[name] = [kind, ""]
        elif current and line.strip():
            for name in current:
                parameters[name][1] = (parameters[name][1] + " " + line.strip()).strip()
    return {name: (kind, text.split(". ")[0].rstrip(".") + ".")
            for name, (kind, text) in parameters.items()}


def _click_type(kind):
    """The click type of a numpydoc type line."""
    if kind.startswith("{"):
        return click.Choice(re.findall(r"'([^']*)'", kind.split("}")[0]))
    if kind.startswith("tuple of"):
        return _CommaList(float if "float" in kind else str)
    return click.INT if kind.startswith("int") else click.FLOAT


def _default_text(kind):
    found = re.search(r"default=(.*)$", kind)
    text = found.group(1) if found else "None"
    return text.strip("(),").replace(", ", ",").replace("'", "") if text.startswith("(") \
        else text


class _CommaList(click.ParamType):
    """A comma-separated list, as a tuple."""

    def __init__(self, item):
        self.item = item
        self.name = "NAME,..." if item is str else "X,..."

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        try:
            return tuple(self.item(part.strip()) for part in value.split(",") if part.strip())
        except ValueError:
            self.fail(f"{value!r} is not a comma-separated list of numbers", param, ctx)


class _FitCommand(click.Command):
    """fit, with the estimators' options added when it is parsed or shows its help."""

    def get_params(self, ctx):
        if not getattr(self, "_estimator_options_added", False):
            self.params.extend(_estimator_options())
            self._estimator_options_added = True
        return super().get_params(ctx)


def _network_data(path, data, network):
    """x and y of a data file as the network takes them, or an InputError: vectors (B, M)
    and (B, N), or sequences (B, T, M) and (B, T, N) (a 2-D x is one sequence)."""
    x, y = data["x"], data.get("y")
    if network.input_ndim == 3:
        return (x[None], None if y is None else y[None]) if x.ndim == 2 else (x, y)
    if x.ndim != 2:
        raise io.InputError(f"{path}: array 'x' has shape {x.shape}; expected (B, M) "
                            f"vectors, one signal per row, for --network {network.name}")
    return x, y


@cli.command(cls=_FitCommand, context_settings=CONTEXT)
@click.argument("train", metavar="TRAIN.npz")
@click.option("-o", "--output", required=True, metavar="MODEL.npz", help="The model file.")
@click.option("-n", "--network", "network_name", default="sista-rnn", show_default=True,
              help="The network to train: sista-rnn, lista, lamp, alista or lista-cpss "
                   "(sparserec.estimators.ESTIMATORS).")
@click.option("--validation", metavar="VALID.npz",
              help="Pairs to choose the best epoch on (instead of --validation-fraction).")
@click.option("--dictionary", metavar="SPEC", default=None, callback=_check_dictionary,
              help="sista-rnn: the initial dictionary: identity, dct, wavelet, "
                   "wavelet:NAME[:LEVEL]. Default: TRAIN's D, else identity.")
@click.option("-v", "--verbose", is_flag=True, help="Print the loss of every epoch.")
@click.option("--force", is_flag=True, help="Replace an existing model file.")
def fit(train, output, network_name, validation, dictionary, verbose, force, **options):
    """Train a network on TRAIN.npz and save it to MODEL.npz.

    TRAIN.npz holds the measurements x, the measurement matrix A (M, N) and the targets
    y. For the SISTA-RNN (the default network) x and y are sequences, (B, T, M) and
    (B, T, N) (or one sequence, (T, M) and (T, N)), and the file may hold an initial
    dictionary D and transition F; for the one-shot networks (lista, lamp, alista,
    lista-cpss) x and y are vectors, one signal per row, (B, M) and (B, N). Without y
    the model is the untrained classical solver. The options are the hyperparameters of
    the network's estimator (sparserec.SISTARegressor, LISTARegressor, ...), with its
    defaults; an option marked [lista, ...] belongs to those networks only.

    \b
    Examples:
      sparserec fit train.npz -o model.npz
      sparserec fit train.npz -o model.npz --validation valid.npz --max-epochs 20 -v
      sparserec fit train.npz -o model.npz --dictionary wavelet --learn D,alpha,lam1
      sparserec fit vectors.npz -o lamp.npz --network lamp --denoiser bg --n-layers 8
      sparserec fit vectors.npz -o alista.npz --network alista --n-layers 16
    """
    from .estimators import ESTIMATORS

    if network_name not in ESTIMATORS:
        raise click.BadParameter(f"unknown network {network_name!r}; choose among "
                                 f"{', '.join(ESTIMATORS)}", param_hint="'--network'")
    cls = ESTIMATORS[network_name]
    own = cls().get_params()
    given = {name: value for name, value in options.items() if value is not None}
    foreign = [name for name in given if name not in own]
    if foreign:
        flags = ", ".join(f"--{name.replace('_', '-')}" for name in foreign)
        raise click.UsageError(f"{flags}: not an option of --network {network_name}")
    io.check_output(output, force=force, inputs=[p for p in (train, validation) if p])
    data = io.read_data(train)
    extra = {"verbose": verbose}
    if "dictionary" in own:
        extra.update(dictionary=dictionary or data.get("D", "identity"),
                     transition=data.get("F"))
    elif dictionary is not None:
        raise click.UsageError(f"--dictionary: not an option of --network {network_name}")
    model = cls(measurement_matrix=data["A"], **extra, **given)
    try:
        model._check_hyperparameters()
    except ValueError as error:
        name = next((n for n in given if str(error).startswith(n)), None)
        flag = f"--{name.replace('_', '-')}: " if name else ""
        raise click.UsageError(f"{flag}{error}") from None
    network = cls._network
    X, Y = _network_data(train, data, network)
    fit_arguments = {}
    if validation is not None:
        fit_arguments["validation_data"] = _validation_set(validation, data, network)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model.fit(X, Y, **fit_arguments)
    except (ValueError, FloatingPointError) as error:
        raise io.InputError(f"{train}: {error}") from None
    for warning in caught:  # one line each
        click.echo(f"warning: {train}: {warning.message}", err=True)
    model.save(output)
    unit = "sequence" if network.input_ndim == 3 else "signal"
    trained = (f"trained {model.n_epochs_} epochs, kept epoch {model.best_epoch_}"
               if Y is not None else "no y: the untrained solver")
    click.echo(f"{train}: {_count(len(X), unit)}, {trained}; {_params_text(model)} -> {output}")
    if model.stop_reason_ == "interrupted":
        click.echo("interrupted: the model holds the best parameters so far", err=True)
        sys.exit(130)


def _validation_set(path, train, network):
    data = io.read_data(path, require_A=False)
    M, N = train["A"].shape
    x, y = _network_data(path, data, network)
    if x.shape[-1] != M or y is None or y.shape[-1] != N:
        lead = "(B, T, " if network.input_ndim == 3 else "(B, "
        raise io.InputError(f"{path}: arrays x and y have shapes {data['x'].shape} and "
                            f"{data['y'].shape if 'y' in data else 'none'}; expected "
                            f"{lead}{M}) and {lead}{N}) as in the training file")
    return x, y


@cli.command(context_settings=CONTEXT)
@click.option("--model", "model_path", required=True, metavar="MODEL.npz",
              help="A model written by sparserec fit, or the name of one that ships with "
                   "sparserec: sista-rnn-images.")
@click.argument("input", metavar="INPUT.npz")
@click.option("-o", "--output", metavar="OUTPUT.npz",
              help="Output file. Default: INPUT_predict.npz next to the input.")
@click.option("--force", is_flag=True, help="Replace an existing output.")
def predict(model_path, input, output, force):
    """Reconstruct the signals of INPUT.npz with a trained model.

    INPUT.npz holds measurements x: for a SISTA-RNN sequences, (T, M) or (B, T, M) (A, D,
    F come from the model); for the one-shot networks (LISTA, LAMP, ALISTA, LISTA-CPSS)
    vectors, (M,) or (B, M). Optionally the signals y for scoring. The output holds y_hat, of shape
    x's leading shape and N, the settings as JSON, and snr_db, psnr_db when y is given.

    The pre-trained sista-rnn-images takes the paper's measurements (x_t = A y_t with
    sparserec.paper_matrices()'s A) of image columns normalised as its description says
    (sparserec.load_pretrained).

    \b
    Examples:
      sparserec predict --model model.npz test.npz
      sparserec predict --model sista-rnn-images columns.npz
      sparserec predict --model model.npz test.npz -o recovered.npz --force
    """
    from .metrics import psnr, snr

    output = output or str(batch.output_path(input, None, "predict"))
    io.check_output(output, force=force, inputs=[input, model_path])
    model = _load_model(model_path)
    vectors = model._network.input_ndim == 2
    data = io.read_data(input, require_A=False, x_ndim=(1, 2) if vectors else (2, 3))
    M, N = model.measurement_matrix_.shape
    unit = "signal" if vectors else "frame"
    if data["x"].shape[-1] != M:
        raise io.InputError(f"{input}: array 'x' has M = {data['x'].shape[-1]} measurements per "
                            f"{unit}; expected M = {M}, as the model {model_path}")
    if "y" in data and data["y"].shape[-1] != N:
        raise io.InputError(f"{input}: array 'y' has N = {data['y'].shape[-1]}; expected "
                            f"N = {N}, as the model {model_path}")
    try:
        y_hat = model.predict(data["x"])
    except (ValueError, FloatingPointError) as error:
        raise io.InputError(f"{input}: {error}") from None
    arrays = dict(y_hat=y_hat)
    if "y" in data:
        arrays["snr_db"] = np.float64(snr(data["y"], y_hat))
        arrays["psnr_db"] = np.float64(psnr(data["y"], y_hat))
    settings = dict(model=Path(model_path).name, input=Path(input).name, version=__version__,
                    parameters=_params_text(model))
    arrays["settings"] = np.array(json.dumps(settings))
    io.write_npz(output, arrays)
    score = f", SNR {float(arrays['snr_db']):.2f} dB" if "snr_db" in arrays else ""
    count = int(np.prod(data["x"].shape[:-1]))
    click.echo(f"{input}: {_count(count, unit)} predicted{score} -> {output}")


_KINDS = dict(data="a data file", result="a result of sparserec solve",
              prediction="a result of sparserec predict", unknown="not a sparserec file")


def _load_model(path):
    """A fitted model from a model file or a pretrained model's name, or an InputError
    saying what the file is."""
    from .estimators import PRETRAINED, load_model, load_pretrained

    if path in PRETRAINED and not Path(path).exists():
        return load_pretrained(path)
    kind = io.file_kind(io.read_headers(path))  # safe reading first: clear messages
    if kind != "model":
        raise io.InputError(f"{path}: is {_KINDS[kind]}, not a model; expected a model "
                            "written by sparserec fit")
    try:
        return load_model(path)
    except io.InputError:
        raise
    except ValueError as error:
        raise io.InputError(f"{error}; expected a model written by sparserec fit") from None


_LAYERS_SHOWN = 16  # per-layer values that info prints


def _count(n, unit):
    return f"{n} {unit}" + ("" if n == 1 else "s")


def _params_text(model):
    """The model's main parameters in one line."""
    M, N = model.measurement_matrix_.shape
    if hasattr(model, "alpha_"):  # a SISTA-RNN
        learned = f", alpha_={model.alpha_:.4g}, lam1_={model.lam1_:.4g}, lam2_={model.lam2_:.4g}"
    else:
        learned = f", denoiser={model.denoiser}" if hasattr(model, "denoiser") else ""
    best = (f", validation NMSE {min(model.validation_scores_):.2f} dB"
            if model.validation_scores_ else "")
    unstable = (f", UNSTABLE on {model.n_unstable_} validation samples"
                if model.n_unstable_ else "")
    return (f"n_layers={model.n_layers}{learned}, M={M}, N={N}, epochs={model.n_epochs_}"
            f"{best}{unstable}")


# ----------------------------------------------------------------------------------------
# phase


_MAX_GRID = 1000  # points along one axis of a phase diagram


def _grid(ctx, param, value):
    """A list of ratios in (0, 1]: 'START:STOP:STEP' (STOP included) or 'A,B,C'."""
    if value is None:
        return None
    try:
        if ":" in value:
            start, stop, step = (float(part) for part in value.split(":"))
            if not step > 0:
                raise ValueError
            if (stop - start) / step > _MAX_GRID:  # before the grid is built
                raise click.BadParameter(f"{value!r} has more than {_MAX_GRID} points", ctx,
                                         param)
            values = np.arange(start, stop + step / 2, step).round(10)
        else:
            values = np.array([float(part) for part in value.split(",")])
    except ValueError:
        raise click.BadParameter(f"{value!r} is not START:STOP:STEP or a comma-separated list "
                                 "of numbers", ctx, param) from None
    if values.size == 0 or not np.all((values > 0) & (values <= 1)):
        raise click.BadParameter(f"{value!r}: expected ratios in (0, 1]", ctx, param)
    return values.tolist()


@cli.command(context_settings=CONTEXT)
@click.option("-s", "--solver", type=click.Choice(list(SOLVERS)), default="amp",
              show_default=True, help="The solver (or --model).")
@click.option("--model", "model_path", metavar="MODEL.npz", default=None,
              help="A trained model (SISTA-RNN, LISTA or LAMP, saved by sparserec fit or "
                   "the estimators' save), instead of --solver (its A fixes N and delta).")
@click.option("-o", "--output", metavar="OUTPUT.npz", default=None,
              help="The grid. Default: phase_SOLVER.npz.")
@click.option("--plot", "plot_path", metavar="PNG", default=None,
              help="The diagram. Default: OUTPUT with .png (needs matplotlib).")
@click.option("--no-plot", is_flag=True, help="Write the grid only.")
@click.option("-n", "--n", "n", type=click.IntRange(min=2, max=MAX_N), default=500,
              show_default=True,
              help="Signal length N.")
@click.option("--deltas", metavar="GRID", callback=_grid, default="0.05:0.95:0.05",
              show_default=True, help="delta = M/N: START:STOP:STEP or a list A,B,C.")
@click.option("--rhos", metavar="GRID", callback=_grid, default="0.05:0.95:0.05",
              show_default=True, help="rho = K/M: START:STOP:STEP or a list A,B,C.")
@click.option("--trials", type=click.IntRange(min=1, max=MAX_TRIALS), default=20,
              show_default=True,
              help="Random signals per cell (solved in one batched call).")
@click.option("--success-tol", type=POSITIVE, default=1e-2, show_default=True,
              help="A trial succeeds when ||y_hat - y|| <= TOL ||y||.")
@click.option("--snr-db", type=float, default=None,
              help="Measurement SNR in dB (default noise-free).")
@click.option("--lam1", type=NON_NEGATIVE, default=None,
              help="Penalty of the lasso solvers and sista. Default: 1e-4 max|A^T x| per "
                   "cell.")
@click.option("--tau", type=TAU, default=None,
              help="Threshold of amp: 'sure', 'minimax' (default) or a number.")
@click.option("--damping", type=_Finite(min=0, max=1, max_open=True), default=None,
              help="Damping of amp (default 0.2).")
@click.option("--max-iter", type=COUNT, default=None,
              help="Iteration limit per signal (default: per solver, see the docs).")
@click.option("--dtype", type=click.Choice(["float64", "float32"]), default="float64",
              show_default=True, help="Precision of the solves.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option("--force", is_flag=True, help="Replace existing outputs.")
@click.option("--workers", type=COUNT, default=None, metavar="N",
              help="One Dask task per cell on a local cluster of N processes.")
@click.option("--scheduler", metavar="ADDRESS", default=None,
              help="One Dask task per cell on the running Dask scheduler at ADDRESS.")
@click.pass_context
def phase(ctx, solver, model_path, output, plot_path, no_plot, n, deltas, rhos, trials,
          success_tol, snr_db, lam1, tau, damping, max_iter, dtype, seed, force, workers,
          scheduler):
    """Draw the phase diagram of a solver: recovery success over delta = M/N and rho = K/M.

    Each cell measures --trials random K-sparse signals of length N with one Gaussian
    matrix (M x N, N(0, 1/M) entries), recovers them in one batched solve, and counts the
    trials with relative error at most --success-tol. Writes the grid (npz: deltas, rhos,
    success, errors, theory, settings) and the diagram (PNG) with the Donoho-Tanner l1
    curve, and prints the empirical 50% boundary beside the theory.

    \b
    Examples:
      sparserec phase --solver amp --trials 20
      sparserec phase --solver fista -n 200 --deltas 0.1:0.9:0.1 --rhos 0.05:0.95:0.05
      sparserec phase --solver omp --rhos 0.025:0.6:0.025   # told the true K per cell
      sparserec phase --model model.npz --rhos 0.02:0.5:0.02 -o model_phase.npz
      sparserec phase --solver fista --workers 2
    """
    from .phase import phase_transition
    from .theory import donoho_tanner_rho

    executor = _dask_executor(ctx, workers, scheduler)
    if snr_db is not None and not math.isfinite(snr_db):
        raise click.BadParameter(f"{snr_db} is not a finite number", ctx,
                                 param_hint="--snr-db")
    name = "model" if model_path else solver
    given = {key for key in ("solver", "lam1", "tau", "damping", "max_iter")
             if ctx.get_parameter_source(key) == ParameterSource.COMMANDLINE}
    takes = set() if model_path else {"solver", *SOLVERS[solver].options}
    unused = given - takes
    if unused:
        raise click.UsageError(f"--{sorted(unused)[0].replace('_', '-')} is not used "
                               f"by {'--model' if model_path else '--solver ' + solver}", ctx)
    output = output or f"phase_{name}.npz"
    io.check_output(output, force=force, inputs=[model_path] if model_path else [])
    plot = not no_plot and _matplotlib_present()
    if plot:
        plot_path = plot_path or str(Path(output).with_suffix(".png"))
        io.check_output(plot_path, force=force, suffix=".png")
    options = {key: value for key, value in dict(lam1=lam1, tau=tau, damping=damping,
                                                  max_iter=max_iter).items()
               if value is not None}
    target = _load_model(model_path) if model_path else solver
    if not model_path:
        _compile_notice(solver)
    if model_path:
        deltas = None  # the model's own
    cells = (1 if model_path else len(deltas)) * len(rhos)
    try:
        with executor as client, _progress(cells, f"phase {name}") as bar:
            result = phase_transition(target, n=n, deltas=deltas, rhos=rhos, n_trials=trials,
                                      tol=success_tol, snr_db=snr_db, solver_options=options,
                                      dtype=dtype, random_state=seed, client=client,
                                      on_cell=lambda i, j, rate: bar.update(1))
    except ValueError as error:
        raise io.InputError(f"{model_path or 'phase'}: {error}") from None
    result.save(output, force=True)  # checked above, before the work
    click.echo(f"{name}: N = {result.n}, {trials} trials per cell, "
               f"{result.settings['seconds']:.1f} s -> {output}")
    theory = donoho_tanner_rho(result.deltas)
    for delta, empirical, rho in zip(result.deltas, result.curve(), theory, strict=True):
        found = "not crossed on the grid" if np.isnan(empirical) else f"{empirical:.3f}"
        click.echo(f"  delta {delta:.3f}: empirical 50% rho {found}, l1 theory {rho:.3f}")
    if plot:
        result.plot(plot_path)
        click.echo(f"wrote {plot_path}")
    elif not no_plot:
        click.echo("matplotlib is not installed: no figure (pip install 'sparserec[plot]')")


def main():
    """Run the command (``sparserec.__main__`` calls it once it is loaded)."""
    cli(prog_name="sparserec")
