"""Where learned solvers recover and fail: LISTA, LAMP and a SISTA-RNN against the l1 curve.

For each undersampling ``delta = M / N`` (N = ``--n``), trains networks of ``--layers``
layers on noise-free codes with ``K = round(rho_train M)`` nonzeros at random places and
standard normal values (the signals of :func:`sparserec.phase_transition`'s cells), then
measures every network and the classical solvers with as many iterations along
``rho = K / M`` (:func:`sparserec.phase_transition`, which takes the trained models):

- ``lista``, ``lamp-soft``, ``lamp-bg``: LISTARegressor and LAMPRegressor (soft threshold,
  Bernoulli-Gaussian denoiser), trained layer by layer with their defaults;
- ``sista-rnn``: SISTARegressor on one-frame sequences with lam2 = 0 (so SISTA is ISTA and
  the network is LISTA whose weights are functions of a learned dictionary, step and
  penalty), identity dictionary to start, trained end to end;
- ``amp`` and ``fista``: ``--layers`` iterations (plain AMP, no damping, the minimax
  threshold of phase diagrams; FISTA with a small penalty, 1e-4 max|A^T x|);
- ``amp (converged)``: AMP run to convergence, the l1 reference.

Writes to ``--out``: ``learned_phase.png`` (the median relative error against rho, one
panel per delta, with the Donoho-Tanner rho of l1), ``learned_phase.csv`` (the rho where
the success rate falls through 50%, for success at a relative error of 1% and of 10%,
beside the theory); every grid to ``build/learned_phase`` (``--replot`` redraws from them).

Run: ``python examples/learned_phase.py [--n 200] [--layers 10] [--out docs/images]``
(about 15 minutes on 2 cores per delta).
"""

import argparse
import csv
import dataclasses
import time
import warnings
from pathlib import Path

import numpy as np

import sparserec
from sparserec import (LAMPRegressor, LISTARegressor, SISTARegressor, donoho_tanner_rho,
                       phase_transition)


def exact_sparse(n_samples, A, rho, rng):
    """Codes with round(rho M) nonzeros (standard normal) at random places, measured."""
    M, N = A.shape
    K = max(1, round(rho * M))
    H = np.zeros((n_samples, N))
    for row in H:
        row[rng.choice(N, K, replace=False)] = rng.standard_normal(K)
    return H @ A.T, H


def train_models(A, layers, rho_train, n_train, seed):
    rng = np.random.default_rng(seed)
    X, H = exact_sparse(n_train, A, rho_train, rng)
    options = dict(n_layers=layers, random_state=seed)
    models = {
        "lista": LISTARegressor(A, **options),
        "lamp-soft": LAMPRegressor(A, **options),
        "lamp-bg": LAMPRegressor(A, denoiser="bg", **options),
    }
    seconds = {}
    for name, model in models.items():
        start = time.perf_counter()
        model.fit(X, H)
        seconds[name] = time.perf_counter() - start
    start = time.perf_counter()
    models["sista-rnn"] = OneFrame(SISTARegressor(
        A, n_layers=layers, lam1=0.05, lam2=0.0, learn=("D", "alpha", "lam1"),
        optimizer="adam", learning_rate=1e-3, max_epochs=100, n_iter_no_change=5,
        random_state=seed).fit(X[:, None, :], H[:, None, :]))
    seconds["sista-rnn"] = time.perf_counter() - start
    return models, seconds


class OneFrame:
    """A SISTA-RNN seen as a one-shot solver of codes sparse in the identity (what it was
    trained on): phase_transition would otherwise draw signals sparse in its learned
    dictionary, the right choice when the true one is unknown, not here."""

    def __init__(self, model):
        self.model = model
        self.measurement_matrix_ = model.measurement_matrix_

    def predict(self, X):
        return self.model.predict(X[:, None, :])[:, 0]

    def __sklearn_tags__(self):
        return LISTARegressor().__sklearn_tags__()  # two-dimensional input


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--layers", type=int, default=10)
    parser.add_argument("--deltas", default="0.25,0.5")
    parser.add_argument("--rho-train", type=float, default=0.2)
    parser.add_argument("--train", type=int, default=4000)
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--replot", action="store_true",
                        help="redraw from the saved grids, without training")
    parser.add_argument("--out", default=str(Path(__file__).parents[1] / "docs" / "images"))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    deltas = [float(d) for d in args.deltas.split(",")]
    rhos = np.round(np.arange(0.05, 0.651, 0.05), 2)
    K = args.layers
    if args.replot:
        curves = {(d, name): sparserec.load_phase_transition(path)
                  for path in sorted(GRIDS.glob("learned_phase_*.npz"))
                  for d, name in [_key(path)] if d in deltas}
        return report(curves, deltas, args, out)
    classical = {"amp": ("amp", dict(max_iter=K, tol=0.0, damping=0.0)),
                 "fista": ("fista", dict(max_iter=K, tol=0.0)),
                 "amp (converged)": ("amp", {})}
    curves = {}
    for delta in deltas:
        A = sparserec.gaussian_matrix(round(delta * args.n), args.n, random_state=0)
        models, seconds = train_models(A, K, args.rho_train, args.train, seed=0)
        print(f"delta {delta}: trained " + ", ".join(f"{name} {s:.0f} s"
                                                      for name, s in seconds.items()))
        for name, model in models.items():
            curves[delta, name] = phase_transition(model, rhos=rhos, n_trials=args.trials,
                                                   random_state=1)
        for name, (solver, options) in classical.items():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                curves[delta, name] = phase_transition(
                    solver, n=args.n, deltas=[delta], rhos=rhos, n_trials=args.trials,
                    solver_options=options, random_state=1)
        GRIDS.mkdir(parents=True, exist_ok=True)
        for name in [*models, *classical]:
            curves[delta, name].save(GRIDS / f"learned_phase_{delta}_{name}.npz", force=True)
    report(curves, deltas, args, out)


def report(curves, deltas, args, out):
    """The 50% rho of every method at both tolerances, printed and as CSV; the figure."""
    methods = [m for m in METHODS if any(name == m for _, name in curves)]
    columns = [(delta, tol) for delta in deltas for tol in TOLS]
    found = {(m, delta, tol): rho_50(curves[delta, m], tol)
             for m in methods for delta, tol in columns}
    with open(out / "learned_phase.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["method"] + [f"delta {d:g}, error <= {t:g}" for d, t in columns])
        writer.writerow(["l1 (Donoho-Tanner)"] + [f"{donoho_tanner_rho(d):.3f}"
                                                  for d, _ in columns])
        for m in methods:
            writer.writerow([m] + ["-" if np.isnan(found[m, d, t]) else f"{found[m, d, t]:.3f}"
                                   for d, t in columns])
    for m in methods:
        print(f"{m:16s} 50% rho " + "  ".join(f"(delta {d:g}, error <= {t:g}) "
                                               f"{found[m, d, t]:.3f}" for d, t in columns))
    plot(curves, deltas, args, out / "learned_phase.png")


def _key(path):
    _, _, delta, name = path.stem.split("_", 3)
    return float(delta), name


#: The methods, in the order of the table and the legend.
METHODS = ("lista", "lamp-soft", "lamp-bg", "sista-rnn", "amp", "fista", "amp (converged)")

#: Where the grids are kept, for --replot (not in git).
GRIDS = Path(__file__).resolve().parents[1] / "build" / "learned_phase"

#: The success criteria: relative error at most 1% (the phase diagrams' default) and 10%.
TOLS = (0.01, 0.1)


def rho_50(pt, tol):
    """Where the success rate at ``tol`` falls through 50% (NaN: not on the grid)."""
    success = (pt.errors <= tol).mean(axis=2)
    return float(dataclasses.replace(pt, success=success).curve()[0])


def plot(curves, deltas, args, path):
    from matplotlib.figure import Figure

    figure = Figure(figsize=(4.2 * len(deltas), 3.8), layout="constrained")
    axes = figure.subplots(1, len(deltas), sharey=True, squeeze=False)[0]
    for ax, delta in zip(axes, deltas, strict=True):
        for name in METHODS:
            pt = curves.get((delta, name))
            if pt is not None:
                style = "--" if name in ("amp", "fista", "amp (converged)") else "-"
                ax.semilogy(pt.rhos, np.median(pt.errors[0], axis=1), style, marker="o",
                            ms=3, label=name)
        ax.axvline(donoho_tanner_rho(delta), color="k", lw=1, ls=":",
                   label="l1 transition (Donoho-Tanner)")
        ax.axvline(args.rho_train, color="grey", lw=0.8, ls="-.", label="trained at")
        for tol in TOLS:
            ax.axhline(tol, color="grey", lw=0.6)
        ax.set_title(f"delta = {delta}, N = {args.n}, {args.layers} layers")
        ax.set_xlabel(r"$\rho = K/M$")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("median relative error ||h_hat - h|| / ||h||")
    axes[-1].legend(fontsize=7)
    figure.savefig(path, dpi=110)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
