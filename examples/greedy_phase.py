"""Phase diagrams of the greedy solvers at N = 500 beside l1, on one figure.

OMP, normalised IHT, CoSaMP and subspace pursuit, each told the true number of nonzeros
K of every cell, on noise-free Gaussian measurements (success when
``||h_hat - h|| <= 0.01 ||h||``), against FISTA's grid (l1, from ``examples/phase_diagram.py``,
read from ``--out``) and the Donoho-Tanner l1 curve. Along each delta, cells above the
first one with no success are skipped (``stop_after=1``).

Writes ``docs/_static/phase_greedy.png`` (the 50% boundary of each solver), the grids as
``phase_omp.npz``, ``phase_iht.npz``, ``phase_cosamp.npz`` and ``phase_sp.npz`` next to
it, and prints the boundaries as a table.

Run: ``python examples/greedy_phase.py [--trials 10] [--out docs/_static]`` (about ten
minutes on two cores); ``--only omp`` recomputes one solver and reads the others.
"""

import argparse
import time
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

import sparserec
from sparserec import io

SOLVERS = {"omp": "OMP", "iht": "NIHT", "cosamp": "CoSaMP", "sp": "subspace pursuit"}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--out", default=str(Path(__file__).parents[1] / "docs" / "_static"))
    parser.add_argument("--only", choices=list(SOLVERS), default=None)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    deltas = np.round(np.arange(0.1, 0.91, 0.1), 2)
    rhos = np.round(np.arange(0.025, 0.651, 0.025), 3)
    results = {}
    for name in SOLVERS:
        path = out / f"phase_{name}.npz"
        if args.only and name != args.only:
            results[name] = sparserec.load_phase_transition(path)
            continue
        start = time.perf_counter()
        results[name] = sparserec.phase_transition(name, n=args.n, deltas=deltas, rhos=rhos,
                                                   n_trials=args.trials, stop_after=1,
                                                   random_state=0)
        results[name].save(path, force=True)
        print(f"{name}: {time.perf_counter() - start:.0f} s")
    l1 = sparserec.load_phase_transition(out / "phase_fista.npz")

    curves = {label: results[name].curve() for name, label in SOLVERS.items()}
    curves["l1 (FISTA)"] = np.interp(deltas, l1.deltas, l1.curve())
    theory = sparserec.donoho_tanner_rho(deltas)
    print("delta  " + "  ".join(f"{label:>16}" for label in curves) + "  l1 theory")
    for i, delta in enumerate(deltas):
        print(f"{delta:5.2f}  " + "  ".join(f"{curve[i]:16.3f}" for curve in curves.values())
              + f"  {theory[i]:9.3f}")

    figure = Figure(figsize=(6.4, 4.4), layout="constrained")
    ax = figure.subplots()
    fine = np.linspace(0.02, 0.98, 97)
    ax.plot(fine, sparserec.donoho_tanner_rho(fine), "k--", label="l1 theory (Donoho-Tanner)")
    for label, curve in curves.items():
        ax.plot(deltas, curve, "o-", ms=3, label=label)
    ax.set(xlabel="delta = M / N", ylabel="rho = K / M at 50% success", xlim=(0, 1),
           ylim=(0, 0.7), title=f"Noise-free Gaussian A, N = {args.n}, {args.trials} trials")
    ax.legend(fontsize=8)
    path = out / "phase_greedy.png"
    with io.atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=100)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
