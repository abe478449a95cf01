"""Memory and scaling: peak memory of each workload, and time and memory against size.

Every measurement runs in a fresh subprocess (``python benchmarks/bench_memory.py --one
KIND SIZE``), which reports its wall time, its peak resident memory (``VmHWM``, which
includes the interpreter and the libraries) and the peak of Python-level allocations
(``tracemalloc``: numpy arrays, not numba's internal ones). Sweeps: the lasso against N
(B=1000, M=N/2) and against the batch size B (N=500); SISTA against T (B=1000); training
against the batch size (one batch of the paper's size). The plot goes to ``--plot``
(default benchmarks/memory.png).

Run: ``python benchmarks/bench_memory.py [--plot benchmarks/memory.png]``
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import tracemalloc

import numpy as np

try:
    from benchmarks._common import machine, print_table
except ImportError:
    from _common import machine, print_table

HERE = os.path.dirname(os.path.abspath(__file__))
SWEEPS = {  # kind: (the size that varies, values, the default for the summary table)
    "lasso-N": ("N", [100, 250, 500, 1000, 2000], 500),
    "lasso-B": ("B", [100, 300, 1000, 3000, 10000], 1000),
    "sista-T": ("T", [16, 32, 64, 128, 256], 128),
    "training-B": ("batch", [10, 25, 50, 100, 200], 50),
}


def workload(kind, size):
    """Build the data, then return the function to measure."""
    import sparserec
    rng = np.random.default_rng(0)
    if kind.startswith("lasso"):
        N, B = (size, 1000) if kind == "lasso-N" else (500, size)
        M = N // 2
        A = rng.standard_normal((M, N))
        A /= np.linalg.norm(A, axis=0)
        H = rng.standard_normal((B, N)) * (rng.random((B, N)) < 0.1)
        X = H @ A.T + 0.05 * rng.standard_normal((B, M))
        sparserec.lasso(X[:2], A, 0.1)
        return lambda: sparserec.lasso(X, A, 0.1)
    A, D, F = sparserec.paper_matrices()
    if kind == "sista-T":
        X = rng.standard_normal((1000, size, A.shape[0]))
        sparserec.sista(X[:1, :2], A, 0.5, 1.0, D=D, F=F, alpha=1.0, n_iter=3)
        return lambda: sparserec.sista(X, A, 0.5, 1.0, D=D, F=F, alpha=1.0, n_iter=3)
    from sparserec.learned import SISTAParams, loss_and_grad
    params = SISTAParams.initial(A, D, F, None, 0.5, 1.0)
    Y = 5 * rng.standard_normal((size, 128, 128)) * (rng.random((size, 128, 128)) < 0.1)
    Y = Y @ D.T
    X = Y @ A.T
    loss_and_grad(params, X[:1, :2], Y[:1, :2])
    return lambda: loss_and_grad(params, X, Y)


def peak_rss():
    """Peak resident memory of this process in bytes.

    ``VmHWM`` from /proc, which starts afresh at exec; ``ru_maxrss`` does not (a child
    started by a large parent reports the parent's peak), so it is only the fallback.
    """
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM"))
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def measure_one(kind, size):
    run = workload(kind, size)
    tracemalloc.start()
    start = time.perf_counter()
    run()
    seconds = time.perf_counter() - start
    traced = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    rss = peak_rss()
    print(json.dumps(dict(kind=kind, size=size, seconds=seconds, rss=rss, traced=traced)))


def measure(kind, size):
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--one", kind, str(size)],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def run(sweeps=SWEEPS, plot=None):
    results = {kind: [measure(kind, size) for size in sizes]
               for kind, (_, sizes, _) in sweeps.items()}
    rows = []
    for kind, (name, _, default) in sweeps.items():
        r = next(r for r in results[kind] if r["size"] == default)
        rows.append(dict(workload=f"{kind.split('-')[0]} ({name}={default})", seconds=r["seconds"],
                         rss=r["rss"] / 2**20, traced=r["traced"] / 2**20))
    if plot:
        save_plot(results, sweeps, plot)
    return rows, results


def save_plot(results, sweeps, path):
    import matplotlib
    import matplotlib.ticker
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(2, len(sweeps), figsize=(4 * len(sweeps), 6), squeeze=False)
    for column, (kind, (name, _, _)) in enumerate(sweeps.items()):
        sizes = [r["size"] for r in results[kind]]
        axes[0, column].loglog(sizes, [r["seconds"] for r in results[kind]], "o-")
        axes[0, column].set_title(kind)
        axes[0, column].set_ylabel("seconds")
        axes[1, column].loglog(sizes, [r["rss"] / 2**20 for r in results[kind]], "o-",
                               label="peak RSS")
        axes[1, column].loglog(sizes, [max(r["traced"], 1) / 2**20 for r in results[kind]],
                               "s--", label="peak traced (numpy)")
        axes[1, column].set_ylabel("MiB")
        axes[1, column].set_xlabel(name)
        for ax in axes[:, column]:  # the measured sizes as ticks, no crowded minor labels
            ax.set_xticks(sizes, [str(size) for size in sizes])
            ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    axes[1, 0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


COLUMNS = [("workload", "workload", "s"), ("seconds", "seconds", ".3f"),
           ("rss", "peak RSS MiB", ".0f"), ("traced", "peak traced MiB", ".1f")]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--one", nargs=2, metavar=("KIND", "SIZE"), help=argparse.SUPPRESS)
    parser.add_argument("--plot", default=os.path.join(HERE, "memory.png"))
    args = parser.parse_args()
    if args.one:
        measure_one(args.one[0], int(args.one[1]))
        return
    print(machine())
    rows, _ = run(plot=args.plot)
    print_table("Peak memory, one run per fresh process", rows, COLUMNS)
    print(f"\nplot: {args.plot}")


if __name__ == "__main__":
    main()
