"""Reproduce the SISTA-RNN paper's image experiment (Wisdom et al., 2016), authors' settings.

Compares, on test images never seen in training (:func:`sparserec.datasets.paper_task`,
each crop's columns one sequence, 32 measurements of 128 pixels per column):

- the classical baselines of the authors' code, lam1 = 0.5, lam2 = 1, F = I: ISTA on
  SISTA's per-frame problem (:func:`sparserec.sista`, alpha = 1) and SpaRSA on the same
  problem (:func:`sparserec.sista_sparsa`), each for 3 iterations and to convergence
  (tolerance 1e-4), each with the first frame's code known (the oracle) or estimated by a
  plain lasso of its own;
- the SISTA-RNN with the authors' settings (:data:`sparserec.learned.sista_rnn.PAPER_SETTINGS`:
  D, Dinv, F, A, h0, alpha, lam1, lam2 trained, raw scalars, RMSprop 1e-4, batch 50);
- the SISTA-RNN with sparserec's defaults (D, F, alpha, lam1, lam2; logarithmic scalars,
  atoms kept at unit norm), from the same start;
- the authors' generic RNN, a conventional 3-layer stacked RNN
  (:mod:`sparserec.learned.stacked_rnn`), RMSprop 1e-4, batch 50;
- their LSTM: 4 stacked layers of 128, Keras's initialisation, RMSprop 1e-4 with the
  gradient norm clipped at 1 (PyTorch, ``examples/lstm_baseline.py``);
- two references of ours: the SISTA graph untied (:mod:`sparserec.learned.generic_rnn`)
  and a ridge regression from ``(x_t, x_{t-1})`` to ``y_t``, fitted in closed form.

Every learned model trains for ``--steps`` mini-batch steps (the authors trained 49,000)
and keeps its best validation epoch. Scores are on 8-bit pixels after undoing the
normalisation, averaged over the test crops.

Each training run is cached in ``--runs-dir`` (its test reconstructions, learning curve
and parameters), so runs can go in parallel processes and a stopped experiment resumes::

    python examples/reproduce_paper.py run lstm --steps 20000 &      # one core
    python examples/reproduce_paper.py run sista-rnn --steps 20000   # the other
    python examples/reproduce_paper.py all --steps 20000 --seed-steps 500

``all`` runs whatever is not cached yet (the long runs on seed 0, the untied SISTA graph
for 5000 steps only; then the models of the paper for ``--seed-steps`` steps on seeds 0, 1,
2, each with its own split of the images), then
writes results.csv, results.json, findings.rst, seeds.csv and the figures to
``--out-dir``, and the pre-trained SISTA-RNN shipped with sparserec to ``--model-out``.
``--tiny`` is a seconds-long smoke run.
"""

import argparse
import json
import math
import os
import sys
import time
import warnings
from dataclasses import asdict, dataclass

# One BLAS thread per process: the networks' products are small, and two processes share
# the two cores. Set before numpy is imported.
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import numba  # noqa: E402
import numpy as np  # noqa: E402

from sparserec import (ConvergenceWarning, StepSizeWarning, sista, sista_sparsa,  # noqa: E402
                       sparsa)
from sparserec.datasets import natural_images, paper_task  # noqa: E402
from sparserec.learned import (SISTARNN, GenericRNN, SISTAParams, StackedRNN, forward,  # noqa: E402
                               stacked_rnn, train)
from sparserec.learned import generic_rnn  # noqa: E402
from sparserec.learned.sista_rnn import PAPER_SETTINGS  # noqa: E402
from sparserec.metrics import psnr  # noqa: E402

try:
    from skimage.metrics import structural_similarity
except ImportError:  # SSIM is reported as NaN without scikit-image
    structural_similarity = None

#: The learned models: name -> label in the tables.
MODELS = {"sista-rnn-authors": "SISTA-RNN (authors' settings)",
          "sista-rnn": "SISTA-RNN (sparserec defaults)",
          "stacked-rnn": "stacked RNN (authors' generic RNN)",
          "lstm": "LSTM (authors' settings)",
          "untied-sista": "untied SISTA graph (generic_rnn)"}

#: The models trained on every seed (the others only on seed 0).
SEED_MODELS = ("sista-rnn-authors", "sista-rnn", "stacked-rnn", "lstm")

#: The SISTA-RNN's starting point, as a classical solver.
UNTRAINED = "ISTA, 3 iterations, h0 = 0 (alpha = 1)"

#: Fewer steps for our extra reference (to fit two cores in a working session).
MAX_STEPS = {"untied-sista": 5000}


@dataclass
class Config:
    """The experiment's settings."""

    n_train: int = 5000  # 100 steps per epoch
    n_val: int = 100
    n_test: int = 100
    size: int = 128
    measurement: str = "paper"
    batch_size: int = 50
    n_layers: int = 3
    lam1: float = 0.5
    lam2: float = 1.0
    classical_tol: float = 1e-4  # "to convergence", the authors' tolerance
    classical_max_iter: int = 1000
    lstm_hidden: int = 128
    lstm_layers: int = 4

    @classmethod
    def tiny(cls):
        """A configuration that runs end to end in seconds (for tests)."""
        return cls(n_train=20, n_val=6, n_test=6, size=32, measurement="bernoulli",
                   batch_size=10, classical_max_iter=50, lstm_hidden=8, lstm_layers=2)


def make_task(config, seed, images=None):
    """The task of a seed: seed 0 the default split (test: astronaut, camera, coffee;
    validation: chelsea, rocket), another seed its own random split by image."""
    splits = {}
    if seed:
        names = sorted(images or natural_images())
        picked = np.random.default_rng(seed).permutation(names)
        splits = dict(test_images=tuple(picked[:3]), validation_images=tuple(picked[3:5]))
    return paper_task(config.n_train, config.n_val, config.n_test, size=config.size,
                      measurement=config.measurement, images=images, random_state=seed,
                      **splits)


def scores(task, Y_hat):
    """MSE, PSNR and SSIM of the test crops on the 8-bit scale, averaged over the crops."""
    true, pred = task.to_pixels(task.Y_test), task.to_pixels(Y_hat)
    mse = np.mean((true - pred) ** 2, axis=(1, 2))
    out = {"mse": float(mse.mean()),
           "psnr": float(np.mean(psnr(true, pred, data_range=255.0, axis=(1, 2))))}
    out["ssim"] = (float(np.mean([structural_similarity(t, p, data_range=255.0)
                                  for t, p in zip(true, pred, strict=True)]))
                   if structural_similarity is not None else float("nan"))
    return out


def validation_psnr(task, Y_hat):
    true, pred = task.to_pixels(task.Y_val), task.to_pixels(Y_hat)
    return float(np.mean(psnr(true, pred, data_range=255.0, axis=(1, 2))))


# ----------------------------------------------------------------------------------------
# learned models: each returns (test reconstructions, curve, trained parameters, extra)


def initial_sista(task, config, alpha=1.0):
    """The SISTA-RNN's starting point: the paper's matrices, F = I, alpha = 1."""
    return SISTAParams.initial(task.A, task.D, task.F, alpha=alpha, lam1=config.lam1,
                               lam2=config.lam2)


def _train_sista(task, config, epochs, seed, log, authors):
    X, Y = task.X_train.astype(np.float32), task.Y_train.astype(np.float32)
    X_val = task.X_val.astype(np.float32)
    if authors:
        settings = dict(PAPER_SETTINGS)
        start = SISTAParams.initial(task.A, task.D, task.F, alpha=settings.pop("alpha"),
                                    lam1=settings.pop("lam1"), lam2=settings.pop("lam2"))
        network = SISTARNN(config.n_layers, keep_atom_norms=settings.pop("keep_atom_norms"),
                           log_scalars=settings.pop("log_scalars"))
    else:  # sparserec's defaults from the paper's start
        start = initial_sista(task, config)
        network = SISTARNN(config.n_layers)
        settings = dict(optimizer="rmsprop", learning_rate=1e-4, batch_size=config.batch_size)
    names = network.check_names(settings.pop("learn", None))
    result = train(network, start, X, Y, names=names, max_epochs=epochs,
                   dtype=np.float32, random_state=seed,
                   clock=time.process_time, callback=_progress(log, "SISTA-RNN"),
                   score=lambda p: -validation_psnr(task, forward(p, X_val, config.n_layers)),
                   **settings)
    trained = result.params
    arrays = {name: np.asarray(getattr(trained, name)) for name in
              ("D", "F", "A", "h0", "alpha", "lam1", "lam2")}
    if trained.Dinv is not None:
        arrays["Dinv"] = trained.Dinv
    n_params = network.n_parameters(trained, names)
    return (forward(trained, task.X_test, config.n_layers), _curve(result), arrays,
            {"parameters": int(n_params), "n_rejected": result.n_rejected,
             "alpha": trained.alpha, "lam1": trained.lam1, "lam2": trained.lam2})


def train_sista_rnn_authors(task, config, epochs, seed, log):
    return _train_sista(task, config, epochs, seed, log, authors=True)


def train_sista_rnn(task, config, epochs, seed, log):
    return _train_sista(task, config, epochs, seed, log, authors=False)


def train_stacked(task, config, epochs, seed, log):
    X, Y = task.X_train.astype(np.float32), task.Y_train.astype(np.float32)
    X_val = task.X_val.astype(np.float32)
    start = stacked_rnn.StackedRNNParams.random(config.size, task.A.shape[0],
                                                n_layers=config.n_layers, random_state=seed)
    result = train(
        StackedRNN(), start, X, Y, optimizer="rmsprop", learning_rate=1e-4,
        batch_size=config.batch_size, max_epochs=epochs, explode_factor=np.inf,
        dtype=np.float32, random_state=seed, clock=time.process_time,
        callback=_progress(log, "stacked RNN"),
        score=lambda p: -validation_psnr(task, stacked_rnn.forward(p, X_val)))
    return (stacked_rnn.forward(result.params, task.X_test), _curve(result), {},
            {"parameters": start.n_parameters, "n_rejected": result.n_rejected})


def train_untied(task, config, epochs, seed, log):
    X, Y = task.X_train.astype(np.float32), task.Y_train.astype(np.float32)
    X_val = task.X_val.astype(np.float32)
    start = generic_rnn.GenericRNNParams.random(config.size, task.A.shape[0],
                                                random_state=seed)
    result = train(
        GenericRNN(config.n_layers), start, X, Y, optimizer="rmsprop", learning_rate=1e-4,
        batch_size=config.batch_size, max_epochs=epochs, explode_factor=np.inf,
        dtype=np.float32,
        random_state=seed, clock=time.process_time, callback=_progress(log, "untied SISTA"),
        score=lambda p: -validation_psnr(task, generic_rnn.forward(p, X_val, config.n_layers)))
    return (generic_rnn.forward(result.params, task.X_test, config.n_layers), _curve(result),
            {}, {"parameters": start.n_parameters, "n_rejected": result.n_rejected})


def train_lstm(task, config, epochs, seed, log):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    try:
        from lstm_baseline import train_lstm as train_torch_lstm
    finally:
        sys.path.pop(0)

    def progress(result):
        log(f"LSTM epoch {result.n_epochs:4d}  loss {result.loss_curve[-1]:.4f}  val PSNR "
            f"{result.validation_scores[-1]:6.2f} dB  {result.train_seconds[-1]:7.0f} s")

    result = train_torch_lstm(task.X_train, task.Y_train, task.X_val, task.Y_val,
                              hidden=config.lstm_hidden, n_layers=config.lstm_layers,
                              learning_rate=1e-4, clip_norm=1.0, init="keras",
                              batch_size=config.batch_size, max_epochs=epochs,
                              random_state=seed, threads=1, callback=progress,
                              score=lambda Y_val, Y_hat: validation_psnr(task, Y_hat))
    curve = {"val_psnr": [result.initial_score, *result.validation_scores],
             "seconds": [0.0, *result.train_seconds], "best_epoch": result.best_epoch}
    return (result.predict(task.X_test), curve, {},
            {"parameters": result.model.n_parameters, "n_rejected": 0})


TRAINERS = {"sista-rnn-authors": train_sista_rnn_authors, "sista-rnn": train_sista_rnn,
            "stacked-rnn": train_stacked, "lstm": train_lstm, "untied-sista": train_untied}


def _progress(log, name):
    def callback(result):
        log(f"{name} epoch {result.n_epochs:4d}  loss {result.loss_curve[-1]:.4f}  val PSNR "
            f"{-result.validation_scores[-1]:6.2f} dB  {result.train_seconds[-1]:7.0f} s")
    return callback


def _curve(result):
    """The validation PSNR from epoch 0 (the initial parameters) and the training time."""
    return {"val_psnr": [-result.initial_validation_score,
                         *(-v for v in result.validation_scores)],
            "seconds": [0.0, *result.train_seconds], "best_epoch": result.best_epoch}


def steps_per_epoch(config):
    return math.ceil(config.n_train / config.batch_size)


def run_path(runs_dir, name, seed, steps):
    return os.path.join(runs_dir, f"{name}-seed{seed}-steps{steps}")


def run(name, config, seed, steps, runs_dir, log=print, task=None):
    """Train one learned model (unless cached) and cache its results; the cache's stem."""
    path = run_path(runs_dir, name, seed, steps)
    if os.path.exists(path + ".json"):
        return path
    task = task or make_task(config, seed)
    epochs = max(1, math.ceil(steps / steps_per_epoch(config)))
    log(f"{name}, seed {seed}: {epochs} epochs of {steps_per_epoch(config)} steps")
    Y_hat, curve, arrays, info = TRAINERS[name](task, config, epochs, seed, log)
    trained = len(curve["val_psnr"]) - 1  # (fewer than asked if training stopped early)
    record = {"name": name, "seed": seed, "steps": trained * steps_per_epoch(config),
              "asked_steps": epochs * steps_per_epoch(config), "epochs": trained,
              "train_seconds": curve["seconds"][-1], "curve": curve,
              **scores(task, Y_hat), **info}
    os.makedirs(runs_dir, exist_ok=True)
    np.savez_compressed(path + ".tmp.npz", Y_hat=Y_hat.astype(np.float32), **arrays)
    os.replace(path + ".tmp.npz", path + ".npz")
    with open(path + ".json.tmp", "w") as file:
        json.dump(record, file, indent=1, default=float)
    os.replace(path + ".json.tmp", path + ".json")
    log(f"{name}, seed {seed}: test PSNR {record['psnr']:.2f} dB")
    return path


def longest_run(runs_dir, name, seed=0):
    """The cached run of a model on a seed with the most steps (None if there is none)."""
    prefix = f"{name}-seed{seed}-steps"
    steps = [int(f[len(prefix):-len(".json")]) for f in os.listdir(runs_dir)
             if f.startswith(prefix) and f.endswith(".json")] if os.path.isdir(runs_dir) else []
    return run_path(runs_dir, name, seed, max(steps)) if steps else None


def load_run(path):
    with open(path + ".json") as file:
        record = json.load(file)
    # the epochs run (a record may count those asked for)
    per_epoch = record["steps"] // record["epochs"]
    record.setdefault("asked_steps", record["steps"])
    record["epochs"] = len(record["curve"]["val_psnr"]) - 1
    record["steps"] = record["epochs"] * per_epoch
    with np.load(path + ".npz", allow_pickle=False) as data:
        record["arrays"] = {key: data[key] for key in data.files}
    return record


# ----------------------------------------------------------------------------------------
# classical baselines and the ridge regression


def classical(task, config):
    """The authors' classical baselines: {ISTA, SpaRSA} x {3 iterations, to convergence}
    x {oracle first frame, estimated first frame}; name -> (reconstructions, note)."""
    with warnings.catch_warnings():
        # (3 iterations do not converge, by design; alpha = 1 is below the Lipschitz bound)
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", StepSizeWarning)
        return _classical(task, config)


def _classical(task, config):
    X, A, D, F = task.X_test, task.A, task.D, task.F
    lam1, lam2 = config.lam1, config.lam2
    oracle_h0 = task.Y_test[:, 0] @ D  # D^T y_1 for every sequence (D orthonormal)
    out = {}
    for method in ("ISTA", "SpaRSA"):
        for length in ("3 iterations", "to convergence"):
            # (to convergence ISTA needs a step within the Lipschitz bound: alpha=None)
            iterations = dict(n_iter=3, alpha=1.0) if length == "3 iterations" else dict(
                tol=config.classical_tol, max_iter=config.classical_max_iter, alpha=None)
            for oracle in (True, False):
                start = time.process_time()
                if oracle:  # frame 1 also has the temporal term, towards the true frame
                    first, rest, h0 = None, X, oracle_h0
                else:  # frame 1 is a plain lasso; the others follow it
                    first = _lasso(method, X[:, 0], A, D, lam1, iterations)
                    rest, h0 = X[:, 1:], first
                codes = _sequential(method, rest, A, D, F, lam1, lam2, h0, iterations)
                if first is not None:
                    codes = np.concatenate([first[:, None], codes], axis=1)
                name = f"{method}, {length}, {'oracle' if oracle else 'estimated'} first frame"
                out[name] = (codes @ D.T, f"{time.process_time() - start:.1f} CPU s")
    return out


def _lasso(method, x, A, D, lam1, iterations):
    if method == "SpaRSA":
        return sparsa(x, A, lam1, D=D, stop="objective", **_iterations(iterations)).h
    return sista(x[:, None], A, lam1, 0.0, D=D, **iterations).h[:, 0]


def _sequential(method, X, A, D, F, lam1, lam2, h0, iterations):
    if method == "SpaRSA":
        return sista_sparsa(X, A, lam1, lam2, D=D, F=F, h0=h0, stop="objective",
                            **_without_alpha(iterations)).h
    return sista(X, A, lam1, lam2, D=D, F=F, h0=h0, **iterations).h


def _without_alpha(iterations):
    """SpaRSA chooses its own steps."""
    return {key: value for key, value in iterations.items() if key != "alpha"}


def _iterations(iterations):
    """:func:`sparsa` has no ``n_iter``: 3 iterations are ``max_iter=3`` with no tolerance."""
    if "n_iter" in iterations:
        return dict(max_iter=iterations["n_iter"], tol=0.0)
    return _without_alpha(iterations)


def ridge(task):
    """Ridge regression from ``(x_t, x_{t-1})`` to ``y_t``, its penalty chosen on the
    validation crops; the reconstructions of the test crops and the penalty."""
    def features(X):
        previous = np.concatenate([np.zeros_like(X[:, :1]), X[:, :-1]], axis=1)
        return np.concatenate([X, previous], axis=2).reshape(-1, 2 * X.shape[2])

    Z, Y = features(task.X_train), task.Y_train.reshape(-1, task.Y_train.shape[2])
    gram, cross = Z.T @ Z, Z.T @ Y
    best = None
    for penalty in np.geomspace(1e-3, 1e3, 13) * np.trace(gram) / len(gram):
        W = np.linalg.solve(gram + penalty * np.eye(len(gram)), cross)
        Y_val = (features(task.X_val) @ W).reshape(task.Y_val.shape)
        value = validation_psnr(task, Y_val)
        if best is None or value > best[0]:
            best = (value, W, penalty)
    _, W, penalty = best
    return (features(task.X_test) @ W).reshape(task.Y_test.shape), float(penalty)


# ----------------------------------------------------------------------------------------
# the report


def report(config, seed_steps, runs_dir, out_dir, model_out=None, log=print, images=None):
    """Write results.csv, seeds.csv, results.json, findings.rst and the figures."""
    os.makedirs(out_dir, exist_ok=True)
    task = make_task(config, 0, images)
    rows, predictions = [], {}

    def add(method, Y_hat, steps="", parameters=0, seconds=0.0, note=""):
        predictions[method] = Y_hat
        rows.append({"method": method, **scores(task, Y_hat), "steps": steps,
                     "parameters": parameters, "seconds": seconds, "note": note})

    for name, (Y_hat, note) in classical(task, config).items():
        add(name, Y_hat, note=note)
    add(UNTRAINED, forward(initial_sista(task, config), task.X_test, config.n_layers),
        note="the SISTA-RNN before training")
    Y_hat, penalty = ridge(task)
    add("ridge regression on (x_t, x_t-1)", Y_hat, parameters=2 * task.A.shape[0] * config.size,
        note=f"closed form, penalty {penalty:.3g}")
    runs = {}
    for name, label in MODELS.items():
        path = longest_run(runs_dir, name)
        if path is None:
            log(f"(no run of {name}: left out)")
            continue
        runs[name] = record = load_run(path)
        add(label, record["arrays"]["Y_hat"].astype(np.float64), record["steps"],
            record["parameters"], record["train_seconds"],
            f"best epoch {record['curve']['best_epoch']} of {record['epochs']}"
            + ("; stopped early: the loss kept exploding"
               if record["steps"] < record["asked_steps"] else ""))
    seeds = []
    for name in SEED_MODELS:
        for seed in (0, 1, 2):
            path = run_path(runs_dir, name, seed, seed_steps)
            if os.path.exists(path + ".json"):
                record = load_run(path)
                seeds.append({"method": MODELS[name], "seed": seed, "steps": record["steps"],
                              "psnr": record["psnr"], "ssim": record["ssim"]})
    summary = {"config": asdict(config), "seed_steps": seed_steps,
               "rows": rows, "seeds": seeds,
               "curves": {MODELS[n]: r["curve"] for n, r in runs.items()},
               "images": {k: list(v) for k, v in task.images.items()},
               "normalisation": {"mean": task.mean, "std": task.std},
               "learned_scalars": {MODELS[n]: _scalars(r) for n, r in runs.items()
                                   if "alpha" in r}}
    _write_tables(summary, out_dir)
    write_findings(summary, out_dir)
    _figures(task, predictions, summary["curves"], runs, out_dir)
    if model_out and "sista-rnn-authors" in runs:
        save_pretrained(task, config, runs, model_out)
    return summary


def _scalars(record):
    """A trained SISTA-RNN's scalars, its Lipschitz bound and the norm of its F."""
    from sparserec import lipschitz_constant

    arrays = record["arrays"]
    bound = float(lipschitz_constant(arrays["A"], arrays["D"], float(arrays["lam2"])))
    return {**{k: record[k] for k in ("alpha", "lam1", "lam2")}, "lipschitz": bound,
            "F_norm": float(np.linalg.norm(arrays["F"], 2))}


def save_pretrained(task, config, runs, path):
    """The better SISTA-RNN (on validation) as a SISTARegressor file, with the
    normalisation of its training images in the model's description."""
    from sparserec import SISTARegressor

    candidates = [n for n in ("sista-rnn-authors", "sista-rnn") if n in runs]
    name = max(candidates, key=lambda n: max(runs[n]["curve"]["val_psnr"]))
    arrays = runs[name]["arrays"]
    learn = (PAPER_SETTINGS["learn"] if name == "sista-rnn-authors"
             else ("D", "F", "alpha", "lam1", "lam2"))
    model = SISTARegressor(task.A, dictionary=task.D, n_layers=config.n_layers, lam1=config.lam1,
                           lam2=config.lam2, alpha=1.0, learn=learn, dtype="float32")
    model.fit(task.X_train[:1])  # sets up the untrained network, then the learned values
    model.dictionary_, model.transition_ = arrays["D"], arrays["F"]
    model.measurement_matrix_, model.h0_ = arrays["A"], arrays["h0"]
    model.alpha_, model.lam1_, model.lam2_ = (float(arrays[k]) for k in ("alpha", "lam1", "lam2"))
    model.inverse_dictionary_ = arrays.get("Dinv")
    model.n_epochs_ = runs[name]["epochs"]
    model.best_epoch_ = runs[name]["curve"]["best_epoch"]
    model.validation_scores_ = [-v for v in runs[name]["curve"]["val_psnr"][1:]]
    model.save(path)
    with open(os.path.splitext(path)[0] + ".json", "w") as file:
        json.dump({"model": MODELS[name], "steps": runs[name]["steps"],
                   "training_images": list(task.images["train"]),
                   "normalisation": {"mean": task.mean, "std": task.std,
                                     "rule": "signal = (pixel / 255 - mean) / std"},
                   "test_psnr_db": runs[name]["psnr"]}, file, indent=1)


def _write_tables(summary, out_dir):
    import csv

    with open(os.path.join(out_dir, "results.json"), "w") as file:
        json.dump(summary, file, indent=1, default=float)
    with open(os.path.join(out_dir, "results.csv"), "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["Method", "Test PSNR (dB)", "Test SSIM", "Test MSE", "Training steps",
                         "Trained parameters", "Training time (s)", "Note"])
        for row in summary["rows"]:
            writer.writerow([row["method"], f"{row['psnr']:.2f}", f"{row['ssim']:.3f}",
                             f"{row['mse']:.1f}", row["steps"], row["parameters"],
                             f"{row['seconds']:.0f}", row["note"]])
    with open(os.path.join(out_dir, "claims.csv"), "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["The paper's claim: the SISTA-RNN has", "Measured here", "Verdict"])
        for claim in claims(summary):
            writer.writerow([claim["claim"], claim["measured"], claim["verdict"]])
    with open(os.path.join(out_dir, "seeds.csv"), "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["Method", "Seed", "Training steps", "Test PSNR (dB)", "Test SSIM"])
        for row in summary["seeds"]:
            writer.writerow([row["method"], row["seed"], row["steps"], f"{row['psnr']:.2f}",
                             f"{row['ssim']:.3f}"])


def claims(summary):
    """The paper's claims, each with what this run measured and a verdict."""
    rows = {row["method"]: row for row in summary["rows"]}
    curves = summary["curves"]
    rnn_label = MODELS["sista-rnn-authors"]
    rnn = rows.get(rnn_label)
    out = []
    if rnn is None:
        return out

    def verdict(flags):
        return "holds" if all(flags) else "does not hold" if not any(flags) else "holds in part"

    for name in ("lstm", "stacked-rnn"):
        other = rows.get(MODELS[name])
        if other is None:
            continue
        out.append({"claim": f"better test scores than the {MODELS[name]}",
                    "measured": f"PSNR {rnn['psnr']:.2f} against {other['psnr']:.2f} dB, SSIM "
                                f"{rnn['ssim']:.3f} against {other['ssim']:.3f}",
                    "verdict": verdict([rnn["psnr"] > other["psnr"],
                                        rnn["ssim"] > other["ssim"]])})
        mine, theirs = curves[rnn_label]["val_psnr"], curves[MODELS[name]]["val_psnr"]
        epochs = [e for e in (1, 10, 50, 100, 200) if e < min(len(mine), len(theirs))]
        ahead = [max(mine[:e + 1]) > max(theirs[:e + 1]) for e in epochs]
        shown = ", ".join(f"{max(mine[:e + 1]):.1f} / {max(theirs[:e + 1]):.1f}"
                          for e in epochs)
        out.append({"claim": f"trains faster than the {MODELS[name]}",
                    "measured": f"best validation PSNR so far, SISTA-RNN / other, after "
                                f"epochs {', '.join(map(str, epochs))} of "
                                f"{steps_per_epoch_of(summary)} steps: {shown} dB",
                    "verdict": verdict(ahead)})
    classical_rows = [r for r in summary["rows"] if not r["steps"] and "oracle" not in
                      r["method"] and not r["method"].startswith("ridge")]
    best = max(classical_rows, key=lambda r: r["psnr"])
    out.append({"claim": "better than the classical solvers it unfolds (ISTA, SpaRSA)",
                "measured": f"PSNR {rnn['psnr']:.2f} dB against {best['psnr']:.2f} dB "
                            f"({best['method']})",
                "verdict": verdict([rnn["psnr"] > best["psnr"]])})
    return out


def steps_per_epoch_of(summary):
    config = summary["config"]
    return math.ceil(config["n_train"] / config["batch_size"])


def write_findings(summary, out_dir):
    """The measured side of each of the paper's claims, as reStructuredText."""
    rows = {row["method"]: row for row in summary["rows"]}
    lines = []
    sista_rnn = rows.get(MODELS["sista-rnn-authors"])
    if sista_rnn is not None:
        untrained = rows[UNTRAINED]
        lines.append(f"- SISTA-RNN (authors' settings) against the network it starts from "
                     f"({UNTRAINED}): {sista_rnn['psnr'] - untrained['psnr']:+.2f} dB test "
                     f"PSNR ({sista_rnn['psnr']:.2f} against {untrained['psnr']:.2f} dB).")
        best_classical = max((r for r in summary["rows"] if not r["steps"]
                              and "oracle" not in r["method"] and "ridge" not in r["method"]),
                             key=lambda r: r["psnr"])
        lines.append(f"- Against the best classical baseline without an oracle "
                     f"({best_classical['method']}, {best_classical['psnr']:.2f} dB): "
                     f"{sista_rnn['psnr'] - best_classical['psnr']:+.2f} dB.")
        for name in ("stacked-rnn", "lstm", "sista-rnn", "untied-sista"):
            row = rows.get(MODELS[name])
            if row is not None:
                lines.append(f"- Against the {MODELS[name]}: "
                             f"{sista_rnn['psnr'] - row['psnr']:+.2f} dB test PSNR, "
                             f"{sista_rnn['ssim'] - row['ssim']:+.3f} SSIM, with "
                             f"{sista_rnn['parameters']} against {row['parameters']} trained "
                             f"parameters, after {sista_rnn['steps']} and {row['steps']} "
                             f"steps.")
    for label, curve in summary["curves"].items():
        values = curve["val_psnr"]
        lines.append(f"- {label}: validation PSNR {values[0]:.2f} dB at the start, "
                     f"{values[1]:.2f} after one epoch, best {max(values):.2f} (epoch "
                     f"{int(np.argmax(values))}).")
    for label, scalars in summary["learned_scalars"].items():
        lines.append(f"- {label} learned alpha {scalars['alpha']:.3f}, lam1 "
                     f"{scalars['lam1']:.3f}, lam2 {scalars['lam2']:.3f} (from 1, 0.5, 1); "
                     f"alpha is {scalars['alpha'] / scalars['lipschitz']:.2f} times the "
                     f"Lipschitz bound of its parameters (0.50 at the start), and "
                     f"||F|| = {scalars['F_norm']:.2f} (from 1).")
    by_method = {}
    for row in summary["seeds"]:
        by_method.setdefault(row["method"], []).append(row["psnr"])
    for method, values in by_method.items():
        lines.append(f"- {method}, {len(values)} seeds of {summary['seed_steps']} steps: "
                     f"test PSNR {np.mean(values):.2f} +- {np.std(values):.2f} dB "
                     f"(min {min(values):.2f}, max {max(values):.2f}).")
    text = "\n".join(lines) + "\n"
    with open(os.path.join(out_dir, "findings.rst"), "w") as file:
        file.write(text)
    return text


def _figures(task, predictions, curves, runs, out_dir):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.6))
    for label, curve in curves.items():
        epochs = np.arange(len(curve["val_psnr"]))
        ax.plot(epochs * math.ceil(len(task.Y_train) / 50), curve["val_psnr"], label=label)
    ax.set_xlabel("training steps")
    ax.set_ylabel("validation PSNR (dB)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "learning_curves.png"), dpi=100)
    plt.close(fig)

    shown = [m for m in predictions if "estimated" in m and "convergence" in m
             or m in (MODELS["sista-rnn-authors"], MODELS["stacked-rnn"], MODELS["lstm"])
             or m.startswith("ridge")]
    # the first crop of each test image (paper_task shares the crops out evenly, the
    # first images taking one more)
    n, k = len(task.Y_test), len(task.images["test"])
    picks = [i * (n // k) + min(i, n % k) for i in range(min(k, 3))]
    fig, axes = plt.subplots(len(picks), len(shown) + 1,
                             figsize=(1.6 * (len(shown) + 1), 1.9 * len(picks)), squeeze=False)
    originals = task.to_pixels(task.Y_test[picks])
    for row, i in enumerate(picks):
        panels = [("original", originals[row], None)]
        for name in shown:
            image = task.to_pixels(predictions[name][i:i + 1])[0]
            panels.append((name, image, psnr(originals[row], image, data_range=255.0)))
        for ax, (title, image, value) in zip(axes[row], panels, strict=True):
            ax.imshow(image, cmap="gray", vmin=0, vmax=255)
            ax.set_xticks([])
            ax.set_yticks([])
            if value is not None:
                ax.set_xlabel(f"{value:.1f} dB", fontsize=7)
            if row == 0:
                ax.set_title(title.replace(", ", ",\n").replace(" (", "\n("), fontsize=6)
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "reconstructions.png"), dpi=100)
    plt.close(fig)

    if "sista-rnn-authors" in runs:
        learned = runs["sista-rnn-authors"]["arrays"]["D"]
        atoms = np.unique(np.linspace(0, task.D.shape[1] - 1, 6).astype(int))
        fig, axes = plt.subplots(1, len(atoms), figsize=(2.2 * len(atoms), 2.2), sharey=True)
        for ax, j in zip(np.atleast_1d(axes), atoms, strict=True):
            ax.plot(task.D[:, j], color="grey", lw=1, label="initial (wavelet)")
            ax.plot(learned[:, j], color="C0", lw=1, label="learned")
            ax.set_title(f"atom {j}", fontsize=8)
            ax.set_xticks([])
        np.atleast_1d(axes)[0].legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(os.path.join(out_dir, "atoms.png"), dpi=100)
        plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["run", "report", "all"])
    parser.add_argument("model", nargs="?", choices=list(MODELS), help="For 'run'.")
    parser.add_argument("--steps", type=int, default=20000,
                        help="Training steps of the long runs (seed 0).")
    parser.add_argument("--seed-steps", type=int, default=500,
                        help="Training steps of the runs on seeds 0, 1, 2.")
    parser.add_argument("--seed", type=int, default=0, help="For 'run'.")
    parser.add_argument("--runs-dir", default="build/paper_runs")
    parser.add_argument("--out-dir", default="docs/images/paper")
    parser.add_argument("--model-out", default="sparserec/data/sista_rnn_images.npz",
                        help="Where the pre-trained SISTA-RNN goes ('' for nowhere).")
    parser.add_argument("--threads", type=int, default=1, help="numba threads per process.")
    parser.add_argument("--tiny", action="store_true", help="A seconds-long smoke run.")
    args = parser.parse_args(argv)
    numba.set_num_threads(args.threads)
    config = Config.tiny() if args.tiny else Config()

    def log(message):
        print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)

    if args.command == "run":
        if args.model is None:
            parser.error("run needs a model")
        run(args.model, config, args.seed, args.steps, args.runs_dir, log)
        return
    if args.command == "all":
        for name in MODELS:
            run(name, config, 0, min(args.steps, MAX_STEPS.get(name, args.steps)),
                args.runs_dir, log)
        for seed in (0, 1, 2):
            task = make_task(config, seed)
            for name in SEED_MODELS:
                run(name, config, seed, args.seed_steps, args.runs_dir, log, task)
    report(config, args.seed_steps, args.runs_dir, args.out_dir, args.model_out or None, log)


if __name__ == "__main__":
    main()
