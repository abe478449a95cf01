"""Run every benchmark and print one table of ratios against the project's speed targets.

Each comparison runs side by side in this process (start-up and memory in fresh
subprocesses, as they must), on the same data, with medians over ``--repeats``; the
per-benchmark tables are printed first, the summary last.

Run: ``python benchmarks/run_all.py [--repeats 3] [--skip training,learning,memory]``
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bench_greedy  # noqa: E402
import bench_lasso  # noqa: E402
import bench_lasso_single  # noqa: E402
import bench_learning  # noqa: E402
import bench_memory  # noqa: E402
import bench_sista  # noqa: E402
import bench_startup  # noqa: E402
import bench_training  # noqa: E402
from _common import machine, print_table  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip", default="", help="comma-separated: lasso,single,greedy,"
                                                     "sista,training,learning,startup,memory")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    print(machine())
    summary = []

    def add(benchmark, measure, value, target, met):
        summary.append(dict(benchmark=benchmark, measure=measure, value=value, target=target,
                            met="yes" if met else "NO"))

    if "lasso" not in skip:
        rows = bench_lasso.run(args.repeats)
        print_table("1. Batched lasso (1000 signals, A 250x500, lam1=0.1)", rows,
                    bench_lasso.COLUMNS)
        by = {r["method"]: r for r in rows}
        ours = by["sparserec.lasso float64"]["ms"]  # the default precision, and the stricter
        all_reached = all(r["reached"].split("/")[0] == r["reached"].split("/")[1]
                          for r in rows if r["method"].startswith("sparserec.lasso"))
        add("1 lasso", "ms/signal, float64 (gap <= 1e-6 on all)", f"{ours:.3f}", "<= 0.15",
            ours <= 0.15 and all_reached)
        for peer, target in [("sklearn sparse_encode lasso_cd", 3.0),
                             ("sklearn sparse_encode lasso_cd n_jobs=2", 3.0),
                             ("SPAMS lasso (LARS) numThreads=1", 2.0),
                             ("SPAMS lasso (LARS) numThreads=2", 2.0),
                             ("sklearn Lasso 2-D y (precompute)", None),
                             ("skglm Lasso (loop over signals)", None),
                             ("PyLops fista (600 iterations, joint)", None)]:
            if peer in by:
                ratio = by[peer]["ms"] / ours
                add("1 lasso", f"x faster than {peer}", f"{ratio:.1f}",
                    f">= {target:g}" if target else "-", ratio >= target if target else True)
    if "single" not in skip:
        rows = bench_lasso_single.run(args.repeats)
        print_table("1b. One lasso problem (fit_intercept=False, alpha = alpha_max / 20)", rows,
                    bench_lasso_single.COLUMNS)
        ours = [r for r in rows if r["method"] == "sparserec"]
        at_gap = all(r["gap"] <= 1e-6 for r in ours)
        ratios = np.array([r["ratio"] for r in ours if "ratio" in r])
        by = {(r["problem"], r["method"]): r["ms"] for r in rows}
        sklearn = np.array([r["ms"] / by[(r["problem"], "scikit-learn")] for r in ours])
        add("1b lasso, one problem", "every problem at rel. gap <= 1e-6", "yes" if at_gap
            else "no", "yes", at_gap)
        if ratios.size:
            mean = float(np.exp(np.log(ratios).mean()))
            add("1b lasso, one problem", "x skglm's time, geometric mean", f"{mean:.2f}",
                "<= 1.0", mean <= 1.0)
            add("1b lasso, one problem", "x skglm's time, worst problem", f"{ratios.max():.2f}",
                "<= 2", ratios.max() <= 2)
        mean = float(np.exp(np.log(sklearn).mean()))
        add("1b lasso, one problem", "x scikit-learn's time, geometric mean", f"{mean:.2f}",
            "<= 0.5", mean <= 0.5)
        rows = bench_lasso_single.run_cv(args.repeats)
        print_table("1c. LassoCV, 5 folds, 50 alphas", rows, bench_lasso_single.CV_COLUMNS)
        for r in rows:
            if r["method"] == "scikit-learn" and "ratio" in r:
                add("1c LassoCV", f"x faster than scikit-learn's, {r['problem']}",
                    f"{r['ratio']:.1f}", ">= 3", r["ratio"] >= 3)
    if "greedy" not in skip:
        rows, recovery = bench_greedy.run(max(args.repeats, 5))
        print_table("1d. OMP (2000 signals, A 250x500 unit columns, K=25, noise 0.01)", rows,
                    bench_greedy.COLUMNS)
        print_table("1e. Exact recovery, noiseless, K=25", recovery,
                    bench_greedy.RECOVERY_COLUMNS)
        for r in rows:
            if r["method"] == "SPAMS omp":
                add("1d omp", f"x faster than SPAMS omp, {r['threads']} thr.",
                    f"{r['ratio']:.2f}", ">= 1", r["ratio"] >= 1)
            elif r["method"].startswith("sklearn"):
                add("1d omp", "x faster than sklearn orthogonal_mp_gram", f"{r['ratio']:.1f}",
                    ">= 3", r["ratio"] >= 3)
        for r in recovery:
            if r["method"] != "omp":
                add("1e exact recovery", f"{r['method']}: signals recovered",
                    f"{r['exact']:.1%}", ">= 95%", r["exact"] >= 0.95)
    if "sista" not in skip:
        rows = bench_sista.run(args.repeats)
        print_table("2. SISTA (1000 sequences, N=128 M=32 T=128 K=3)", rows,
                    bench_sista.COLUMNS)
        for r in rows:
            add("2 sista", f"{r['method']}: of own matmul ({r['rate']:.0f} seq/s)",
                f"{r['fraction']:.0%}", ">= 50%", r["fraction"] >= 0.5)
    if "training" not in skip:
        rows, loss_error, errors = bench_training.run(args.repeats)
        print(f"\ntraining gradients vs autograd (float64): loss {loss_error:.1e}, "
              + ", ".join(f"{k} {v:.1e}" for k, v in errors.items()))
        print_table("3. SISTA-RNN training, one epoch (500 sequences, batch 50)", rows,
                    bench_training.COLUMNS)
        for r in rows:
            if r["method"].startswith("PyTorch"):
                add("3 training", f"x faster than {r['method']}, {r['threads']} thr.",
                    f"{r['ratio']:.2f}", ">= 2", r["ratio"] >= 2)
        worst = max(errors.values())
        add("3 training", "gradient rel. error vs autograd", f"{worst:.0e}", "<= 1e-6",
            worst <= 1e-6)
    if "learning" not in skip:
        rows, agreement = bench_learning.run()
        bench_learning.print_agreement(agreement)
        print_table("3b. SISTA-RNN training gain, default vs unconstrained PyTorch autograd",
                    rows, bench_learning.COLUMNS)
        for r in rows:
            add("3b learning", f"gain default / torch, {r['task']} {r['learn']}",
                "-" if r.get("ratio") is None else f"{r['ratio']:.0%}", ">= 90%",
                r["met"] == "yes")
    if "startup" not in skip:
        rows, profile = bench_startup.run(max(args.repeats, 3))
        print_table("4. Start-up of `sparserec solve --method lasso`", rows,
                    [("what", "what", "s"), ("seconds", "seconds", ".2f")])
        print("slowest imports: " + ", ".join(f"{n} {m / 1e6:.2f}s" for m, n in profile[:6]))
        warm = rows[1]["seconds"]
        add("4 start-up", "warm `sparserec solve` (s)", f"{warm:.2f}", "< 1.5", warm < 1.5)
        add("4 start-up", "cold cache (s)", f"{rows[0]['seconds']:.1f}", "-", True)
    if "memory" not in skip:
        rows, _ = bench_memory.run(plot=os.path.join(bench_memory.HERE, "memory.png"))
        print_table("5. Peak memory (fresh process each)", rows, bench_memory.COLUMNS)
        for r in rows:
            add("5 memory", f"{r['workload']} peak RSS MiB", f"{r['rss']:.0f}", "-", True)

    print_table("Summary (against the speed targets)", summary,
                [("benchmark", "benchmark", "s"), ("measure", "measure", "s"),
                 ("value", "value", "s"), ("target", "target", "s"), ("met", "met", "s")])


if __name__ == "__main__":
    main()
