"""Phase diagrams of FISTA and AMP at N = 500, with the Donoho-Tanner l1 curve.

Writes ``docs/_static/phase_fista_amp.png`` (the figure of ``docs/phase_transitions.rst``)
and the two grids as npz next to it. Noise-free Gaussian measurements, success when
``||h_hat - h|| <= 0.01 ||h||``. Along each delta, cells above the first one with no
success are skipped (``stop_after=1``): FISTA runs to its iteration limit there, and the
diagram is already decided.

Run: ``python examples/phase_diagram.py [--trials 10] [--out docs/_static]`` (about ten
minutes on two busy cores; ``--workers 2`` runs the deltas on a local Dask cluster).
"""

import argparse
import time
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

import sparserec
from sparserec import io


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--out", default=str(Path(__file__).parents[1] / "docs" / "_static"))
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--only", choices=["fista", "amp"], default=None,
                        help="Recompute this solver only; read the other's grid from --out.")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    deltas = np.round(np.arange(0.1, 0.91, 0.1), 2)
    rhos = np.round(np.arange(0.05, 0.951, 0.05), 2)
    runs = {
        # FISTA: max_iter below the default, so that cells just above the transition
        # (which converge slowly) stay affordable; see the docs page.
        "fista": dict(solver_options=dict(max_iter=3000)),
        "amp": dict(),
    }
    if args.workers:
        from sparserec.batch import local_client
        context = local_client(args.workers)
    else:
        from contextlib import nullcontext
        context = nullcontext()
    results = {}
    with context as client:
        for name, extra in runs.items():
            if args.only and name != args.only:
                results[name] = sparserec.load_phase_transition(out / f"phase_{name}.npz")
                continue
            start = time.perf_counter()
            results[name] = sparserec.phase_transition(
                name, n=args.n, deltas=deltas, rhos=rhos, n_trials=args.trials,
                stop_after=1, random_state=0, client=client, **extra)
            results[name].save(out / f"phase_{name}.npz", force=True)
            print(f"{name}: {time.perf_counter() - start:.0f} s")
            for delta, rho50, theory in zip(deltas, results[name].curve(),
                                            sparserec.donoho_tanner_rho(deltas), strict=True):
                print(f"  delta {delta:.2f}: empirical 50% rho {rho50:.3f}, theory {theory:.3f}")

    figure = Figure(figsize=(11, 4.4), layout="constrained")
    for ax, (name, result) in zip(figure.subplots(1, 2), results.items(), strict=True):
        result.plot(ax=ax, title=f"{name.upper()}, N = {args.n}, {args.trials} trials per cell")
    path = out / "phase_fista_amp.png"
    with io.atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=100)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
