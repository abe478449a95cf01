"""Reproduce the SISTA-RNN paper's image experiment (Wisdom et al., 2016) on 2 CPU cores.

Compares, on test images never seen in training (see :func:`sparserec.datasets.paper_task`):

- SISTA, untrained: 3 iterations per frame (the SISTA-RNN's starting point, alpha = 1) and
  to convergence (alpha at the Lipschitz bound);
- the SISTA-RNN, trained (D, F, alpha, lam1, lam2), with the paper's hyperparameters;
- a generic stacked RNN with soft-threshold units: the same graph with free matrices and a
  random initialisation (:mod:`sparserec.learned.generic_rnn`), same kernels and optimiser;
- a stacked LSTM, 4 x 128 units, in PyTorch (``examples/lstm_baseline.py``; skipped
  without torch).

The learned models get the same training time budget, counted in CPU seconds of this
process (``time.process_time``: the machine may be shared, and waiting for the CPU should
not count) without validation; each stops at the end of the epoch that reaches it, and
keeps its best validation epoch. Scores are on
8-bit pixels after undoing the normalisation. Writes results.csv, results.json and the
figures to ``--out-dir`` and the data files in the CLI's format to ``--data-dir``.

Run (300 CPU seconds of training per learned model, one thread each: about 20 minutes
on a quiet 2-core machine)::

    python examples/reproduce_paper.py

A tiny, fast configuration for a smoke test::

    python examples/reproduce_paper.py --tiny --out-dir /tmp/paper
"""

import argparse
import json
import os
import sys
import time
from dataclasses import asdict, dataclass

# One BLAS thread per process: the networks' products are small (50 x 128 by 128 x 128),
# and on a machine shared with other jobs two BLAS threads per product ran 20 to 30 times
# slower than one (busy-waiting threads). Set before numpy is imported.
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import numpy as np  # noqa: E402

from sparserec import sista  # noqa: E402
from sparserec.datasets import paper_task  # noqa: E402
from sparserec.learned import SISTAParams, forward, train  # noqa: E402
from sparserec.learned.generic_rnn import GenericRNNParams  # noqa: E402
from sparserec.learned.generic_rnn import forward as generic_forward  # noqa: E402
from sparserec.learned.generic_rnn import train as train_generic  # noqa: E402
from sparserec.metrics import psnr  # noqa: E402

try:
    from skimage.metrics import structural_similarity
except ImportError:  # SSIM is reported as NaN without scikit-image
    structural_similarity = None


@dataclass
class Config:
    """The experiment's settings; the defaults are the ~20-minute run."""

    n_train: int = 1000
    n_val: int = 100
    n_test: int = 100
    size: int = 128
    measurement: str = "paper"
    noise_std: float = 0.0
    budget_seconds: float = 300.0  # CPU seconds of training of each learned model
    max_epochs: int = 1000  # set with budget_seconds=0 for a run that does not depend on speed
    n_layers: int = 3
    lam1: float = 0.5
    lam2: float = 1.0
    alpha: float = 1.0
    learning_rate: float = 1e-4  # SISTA-RNN and generic RNN (the paper's)
    guard: bool = True  # sparserec.learned.train's stability guard, for the SISTA-RNN
    lstm_learning_rate: float = 1e-3
    lstm_hidden: int = 128
    lstm_layers: int = 4
    threads: int = 1  # torch's intra-op threads, as the one BLAS thread of the others
    batch_size: int = 50
    sista_max_iter: int = 1000
    seed: int = 0
    lstm: bool = True

    @classmethod
    def tiny(cls):
        """A configuration that runs end to end in seconds (for tests)."""
        return cls(n_train=20, n_val=6, n_test=6, size=32, measurement="bernoulli",
                   budget_seconds=0.0, max_epochs=2, lstm_hidden=8, lstm_layers=2,
                   batch_size=10, sista_max_iter=50)


def scores(task, Y_true, Y_hat):
    """MSE, PSNR and SSIM per test image on the 8-bit scale, averaged over the images."""
    true, pred = task.to_pixels(Y_true), task.to_pixels(Y_hat)
    mse = np.mean((true - pred) ** 2, axis=(1, 2))
    out = {"mse": float(mse.mean()),
           "psnr": float(np.mean(psnr(true, pred, data_range=255.0, axis=(1, 2))))}
    out["ssim"] = (float(np.mean([structural_similarity(t, p, data_range=255.0)
                                  for t, p in zip(true, pred, strict=True)]))
                   if structural_similarity is not None else float("nan"))
    return out


def validation_psnr(task, Y_hat):
    """Mean PSNR of the validation images, 8-bit scale."""
    true, pred = task.to_pixels(task.Y_val), task.to_pixels(Y_hat)
    return float(np.mean(psnr(true, pred, data_range=255.0, axis=(1, 2))))


def train_sista_rnn(task, config, initial, log):
    """The paper's training on the time budget, keeping the best validation PSNR epoch."""
    X, Y = task.X_train.astype(np.float32), task.Y_train.astype(np.float32)
    X_val = task.X_val.astype(np.float32)

    def progress(result):
        params = result.final_params
        log(f"SISTA-RNN epoch {result.n_epochs:3d}  loss {result.loss_curve[-1]:.4f}  "
            f"val PSNR {-result.validation_scores[-1]:6.2f} dB  "
            f"{result.train_seconds[-1]:6.1f} s  alpha {params.alpha:.4f} "
            f"lam1 {params.lam1:.4f} lam2 {params.lam2:.4f}")

    result = train(initial, X, Y, n_layers=config.n_layers, learning_rate=config.learning_rate,
                   batch_size=config.batch_size, max_epochs=config.max_epochs,
                   max_seconds=config.budget_seconds or None, clock=time.process_time,
                   dtype=np.float32, random_state=config.seed, guard=config.guard,
                   score=lambda p: -validation_psnr(task, forward(p, X_val, config.n_layers)),
                   callback=progress)
    curve = _curve(-result.initial_validation_score, [-v for v in result.validation_scores],
                   result.train_seconds)
    return result.params, curve, {"best_epoch": result.best_epoch,
                                  "n_alpha_raised": result.n_projected}


def run(config, out_dir, data_dir=None, images=None, verbose=True):
    """Run the whole comparison; write the table, the curves and the figures.

    Parameters
    ----------
    config : Config
    out_dir : str
        Where results.csv, results.json and the figures go.
    data_dir : str, optional
        Where the train/validation/test npz files for the CLI go.
    images : dict, optional
        Source images (default the bundled natural images).
    verbose : bool, default=True

    Returns
    -------
    dict
        'rows' (one per method), 'curves', 'config', 'images', 'sista_rnn'.
    """
    def log(message):
        if verbose:
            print(message, flush=True)

    os.makedirs(out_dir, exist_ok=True)
    wall = time.perf_counter()
    task = paper_task(config.n_train, config.n_val, config.n_test, size=config.size,
                      measurement=config.measurement, noise_std=config.noise_std,
                      images=images, random_state=config.seed)
    log(f"data: {len(task.X_train)}/{len(task.X_val)}/{len(task.X_test)} sequences "
        f"(N = T = {config.size}, M = {task.A.shape[0]}), mean {task.mean:.4f} std "
        f"{task.std:.4f}; splits {task.images}")
    if data_dir:
        task.write_npz(data_dir)
    rows, curves, predictions = [], {}, {}

    def add(name, Y_hat, n_parameters, seconds, extra=None):
        predictions[name] = Y_hat
        rows.append({"method": name, **scores(task, task.Y_test, Y_hat),
                     "parameters": n_parameters, "train_seconds": seconds, **(extra or {})})
        log(f"{name}: " + ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                                    for k, v in rows[-1].items() if k != "method"))

    # untrained SISTA: the paper's initialisation, alpha = 1 (below the Lipschitz bound
    # with lam2, see the docs), and the classical solver to convergence at a valid step
    initial = SISTAParams.initial(task.A, task.D, task.F, alpha=config.alpha,
                                  lam1=config.lam1, lam2=config.lam2)
    add("SISTA, 3 iterations", forward(initial, task.X_test, config.n_layers), 0, 0.0)
    start = time.perf_counter()
    converged = sista(task.X_test, task.A, config.lam1, config.lam2, D=task.D, F=task.F,
                      max_iter=config.sista_max_iter)
    add("SISTA, to convergence", converged.y_hat, 0, 0.0,
        {"note": f"{np.mean(converged.converged):.0%} of frames converged, median "
                 f"{int(np.median(converged.n_iter))} iterations, "
                 f"{time.perf_counter() - start:.0f} s"})

    trained, curves["SISTA-RNN"], info = train_sista_rnn(task, config, initial, log)
    add("SISTA-RNN", forward(trained, task.X_test, config.n_layers),
        2 * config.size**2 + 3, curves["SISTA-RNN"]["seconds"][-1],
        {"best_epoch": info["best_epoch"]})

    generic = _train_generic(task, config, log)
    curves["generic RNN"] = generic["curve"]
    add("generic RNN", generic_forward(generic["params"], task.X_test, config.n_layers),
        generic["params"].n_parameters, generic["curve"]["seconds"][-1],
        {"best_epoch": generic["best_epoch"]})

    if config.lstm:
        lstm = _train_lstm(task, config, log)
        if lstm is not None:
            curves["LSTM"] = lstm["curve"]
            add("LSTM", lstm["result"].predict(task.X_test), lstm["result"].model.n_parameters,
                lstm["curve"]["seconds"][-1], {"best_epoch": lstm["result"].best_epoch})

    sista_rnn = {"alpha": trained.alpha, "lam1": trained.lam1, "lam2": trained.lam2,
                 "n_alpha_raised": info["n_alpha_raised"],
                 "lipschitz_initial": _lipschitz(initial),
                 "lipschitz_trained": _lipschitz(trained)}
    summary = {"config": asdict(config), "rows": rows, "curves": curves,
               "images": {k: list(v) for k, v in task.images.items()},
               "normalisation": {"mean": task.mean, "std": task.std},
               "sista_rnn": sista_rnn, "reach": _time_to_reach(curves),
               "wall_seconds": time.perf_counter() - wall}
    _write_tables(summary, out_dir)
    write_findings(summary, out_dir)
    _figures(task, config, initial, trained, predictions, curves, out_dir)
    log(f"done in {summary['wall_seconds']:.0f} s; results in {out_dir}")
    return summary


def _train_generic(task, config, log):
    X, Y = task.X_train.astype(np.float32), task.Y_train.astype(np.float32)
    X_val = task.X_val.astype(np.float32)
    params = GenericRNNParams.random(config.size, task.A.shape[0], random_state=config.seed)
    result = train_generic(
        params, X, Y, n_layers=config.n_layers, learning_rate=config.learning_rate,
        batch_size=config.batch_size, max_epochs=config.max_epochs,
        max_seconds=config.budget_seconds or None, random_state=config.seed,
        dtype=np.float32, clock=time.process_time,
        score=lambda p: -validation_psnr(task, generic_forward(p, X_val, config.n_layers)))
    curve = _curve(-result.initial_validation_score, [-v for v in result.validation_scores],
                   result.train_seconds, "generic RNN", log)
    return {"params": result.params, "curve": curve, "best_epoch": result.best_epoch}


def _train_lstm(task, config, log):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    try:
        from lstm_baseline import train_lstm
    except ImportError:
        log("LSTM skipped: PyTorch is not installed (pip install 'sparserec[baselines]')")
        return None
    finally:
        sys.path.pop(0)
    result = train_lstm(task.X_train, task.Y_train, task.X_val, task.Y_val,
                        hidden=config.lstm_hidden, n_layers=config.lstm_layers,
                        learning_rate=config.lstm_learning_rate,
                        batch_size=config.batch_size, max_epochs=config.max_epochs,
                        max_seconds=config.budget_seconds or None, random_state=config.seed,
                        threads=config.threads,
                        score=lambda Y_val, Y_hat: validation_psnr(task, Y_hat))
    curve = _curve(result.initial_score, result.validation_scores, result.train_seconds,
                   "LSTM", log)
    return {"result": result, "curve": curve}


def _curve(initial, values, seconds, name=None, log=None):
    """The learning curve from epoch 0 (the initial parameters); logged if ``log`` is given."""
    for epoch, (value, elapsed) in enumerate(zip(values, seconds, strict=True), start=1):
        if log is not None:
            log(f"{name} epoch {epoch:3d}  val PSNR {value:6.2f} dB  {elapsed:6.1f} s")
    return {"epoch": list(range(len(values) + 1)), "seconds": [0.0, *seconds],
            "val_psnr": [initial, *values]}


def _lipschitz(params):
    from sparserec import lipschitz_constant
    return float(lipschitz_constant(params.A, params.D, params.lam2))


def _time_to_reach(curves):
    """For each pair: the training seconds a model needed to reach the other's best."""
    reach = {}
    for a, ca in curves.items():
        for b, cb in curves.items():
            if a == b:
                continue
            target = np.nanmax(cb["val_psnr"])
            hits = [s for s, v in zip(ca["seconds"], ca["val_psnr"], strict=True)
                    if v >= target]
            reach[f"{a} -> best of {b}"] = hits[0] if hits else None
    return reach


def _write_tables(summary, out_dir):
    with open(os.path.join(out_dir, "results.json"), "w") as file:
        json.dump(summary, file, indent=1, default=float)
    lines = ["Method,Test MSE,Test PSNR (dB),Test SSIM,Trained parameters,"
             "Training time (s),Best epoch"]
    for row in summary["rows"]:
        lines.append(f"{row['method']},{row['mse']:.1f},{row['psnr']:.2f},{row['ssim']:.3f},"
                     f"{row['parameters']},{row['train_seconds']:.0f},"
                     f"{row.get('best_epoch', '')}")
    with open(os.path.join(out_dir, "results.csv"), "w") as file:
        file.write("\n".join(lines) + "\n")


def write_findings(summary, out_dir):
    """The answers to the paper's claims, as reStructuredText (findings.rst) and returned."""
    rows = {row["method"]: row for row in summary["rows"]}
    rnn = rows["SISTA-RNN"]
    lines = [f"- Trained SISTA-RNN against untrained 3-iteration SISTA: "
             f"{rnn['psnr'] - rows['SISTA, 3 iterations']['psnr']:+.2f} dB test PSNR "
             f"({rnn['psnr']:.2f} against {rows['SISTA, 3 iterations']['psnr']:.2f} dB)."]
    for other in ("generic RNN", "LSTM"):
        if other not in rows:
            continue
        row = rows[other]
        lines.append(f"- SISTA-RNN against the {other}: {rnn['psnr'] - row['psnr']:+.2f} dB "
                     f"test PSNR, {rnn['ssim'] - row['ssim']:+.3f} SSIM, with "
                     f"{rnn['parameters']} against {row['parameters']} trained parameters.")
        reach = summary["reach"].get(f"SISTA-RNN -> best of {other}")
        back = summary["reach"].get(f"{other} -> best of SISTA-RNN")
        best = max(summary["curves"][other]["val_psnr"])
        rnn_best = max(summary["curves"]["SISTA-RNN"]["val_psnr"])
        lines.append(
            f"  Validation: the {other}'s best is {best:.2f} dB, the SISTA-RNN's "
            f"{rnn_best:.2f} dB; the SISTA-RNN reached the {other}'s best "
            + (f"after {reach:.0f} s" if reach is not None else "never")
            + f", the {other} reached the SISTA-RNN's best "
            + (f"after {back:.0f} s" if back is not None else "never")
            + f" (budget {summary['config']['budget_seconds']:.0f} s each).")
    learned = summary["sista_rnn"]
    lines.append(f"- Learned SISTA parameters: alpha {learned['alpha']:.4f}, lam1 "
                 f"{learned['lam1']:.4f}, lam2 {learned['lam2']:.4f} (from 1, 0.5, 1); "
                 f"Lipschitz bound {learned['lipschitz_trained']:.3f} "
                 f"(initially {learned['lipschitz_initial']:.3f}); alpha raised by the "
                 f"guard {learned['n_alpha_raised']} times.")
    text = "\n".join(lines) + "\n"
    with open(os.path.join(out_dir, "findings.rst"), "w") as file:
        file.write(text)
    return text


def _figures(task, config, initial, trained, predictions, curves, out_dir):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
    for name, curve in curves.items():
        axes[0].plot(curve["epoch"], curve["val_psnr"], marker=".", label=name)
        axes[1].plot(curve["seconds"], curve["val_psnr"], marker=".", label=name)
    for name in ("SISTA, 3 iterations",):
        value = validation_psnr(task, forward(initial, task.X_val, config.n_layers))
        for ax in axes:
            ax.axhline(value, color="grey", ls="--", lw=1, label=name)
    axes[0].set_xlabel("epoch")
    axes[1].set_xlabel("training time (s)")
    axes[0].set_ylabel("validation PSNR (dB)")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "learning_curves.png"), dpi=100)
    plt.close(fig)

    # one test crop per test image, the original first
    names = list(predictions)
    per_image = max(1, len(task.Y_test) // max(1, len(task.images["test"])))
    picks = list(range(0, len(task.Y_test), per_image))[:3]
    fig, axes = plt.subplots(len(picks), len(names) + 1,
                             figsize=(1.7 * (len(names) + 1), 1.9 * len(picks)), squeeze=False)
    originals = task.to_pixels(task.Y_test[picks])
    for row, i in enumerate(picks):
        panels = [("original", originals[row], None)]
        for name in names:
            image = task.to_pixels(predictions[name][i:i + 1])[0]
            panels.append((name, image, psnr(originals[row], image, data_range=255.0)))
        for ax, (title, image, value) in zip(axes[row], panels, strict=True):
            ax.imshow(image, cmap="gray", vmin=0, vmax=255)
            ax.set_xticks([])
            ax.set_yticks([])
            if value is not None:
                ax.set_xlabel(f"{value:.1f} dB", fontsize=8)
            if row == 0:
                ax.set_title(title, fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "reconstructions.png"), dpi=100)
    plt.close(fig)

    # learned atoms against the initial wavelets, from coarse to fine scales
    N = config.size
    atoms = np.unique(np.linspace(0, N - 1, 6).astype(int))
    fig, axes = plt.subplots(1, len(atoms), figsize=(2.2 * len(atoms), 2.2), sharey=True)
    for ax, j in zip(np.atleast_1d(axes), atoms, strict=True):
        ax.plot(initial.D[:, j], color="grey", lw=1, label="initial (wavelet)")
        ax.plot(trained.D[:, j], color="C0", lw=1, label="learned")
        ax.set_title(f"atom {j}", fontsize=8)
        ax.set_xticks([])
    np.atleast_1d(axes)[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "atoms.png"), dpi=100)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out-dir", default="docs/images/paper")
    parser.add_argument("--data-dir", default="build/paper_data",
                        help="Where train/validation/test.npz for the CLI go ('' for none).")
    parser.add_argument("--budget", type=float, default=Config.budget_seconds,
                        help="Training seconds per learned model (0: use --max-epochs).")
    parser.add_argument("--max-epochs", type=int, default=Config.max_epochs)
    parser.add_argument("--n-train", type=int, default=Config.n_train)
    parser.add_argument("--seed", type=int, default=Config.seed)
    parser.add_argument("--no-lstm", action="store_true")
    parser.add_argument("--no-guard", action="store_true",
                        help="Let the SISTA-RNN's alpha fall below its initial fraction of "
                             "the Lipschitz bound (the paper's code has no such guard).")
    parser.add_argument("--tiny", action="store_true", help="A seconds-long smoke run.")
    args = parser.parse_args(argv)
    config = Config.tiny() if args.tiny else Config(
        budget_seconds=args.budget, max_epochs=args.max_epochs, n_train=args.n_train)
    config.seed = args.seed
    config.lstm = not args.no_lstm
    config.guard = not args.no_guard
    run(config, args.out_dir, args.data_dir or None)


if __name__ == "__main__":
    main()
