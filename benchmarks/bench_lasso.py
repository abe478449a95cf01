"""Batched lasso: sparserec.fista against scikit-learn's sparse_encode(algorithm='lasso_cd').

1000 signals, A Gaussian 250x500 with unit-norm columns, codes 10% sparse, SNR about 20 dB,
lam1 = 0.1 in 1/2||x - A h||^2 + lam1 ||h||_1. Prints the median time per signal over
repeats and the largest relative duality gap each method reaches (gap / (1/2 ||x||^2)).

Run: ``python benchmarks/bench_lasso.py [--repeats 3] [--tol 1e-6]``
"""

import argparse
import time

import numpy as np
from sklearn.decomposition import sparse_encode

import sparserec
from sparserec.solvers import lasso_duality_gap


def problem(n_signals=1000, m=250, n=500, density=0.1, snr_db=20.0, seed=0):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((m, n))
    A /= np.linalg.norm(A, axis=0)
    H = rng.standard_normal((n_signals, n)) * (rng.random((n_signals, n)) < density)
    clean = H @ A.T
    noise = rng.standard_normal(clean.shape)
    noise *= np.linalg.norm(clean) / np.linalg.norm(noise) * 10 ** (-snr_db / 20)
    return A, clean + noise


def relative_gaps(X, A, H, lam1):
    gap, _ = lasso_duality_gap(X, A, H, lam1)
    return gap / (0.5 * (X**2).sum(axis=1))


def median_time(run, repeats):
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = run()
        times.append(time.perf_counter() - start)
    return float(np.median(times)), out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tol", type=float, default=1e-6)
    args = parser.parse_args()
    lam1 = 0.1
    A, X = problem()
    B = len(X)
    sparserec.fista(X[:2], A, lam1)  # compile (or load the numba cache) outside the timing

    rows = []
    for name, run in [
        ("sparserec.fista float64", lambda: sparserec.fista(X, A, lam1, tol=args.tol,
                                                            max_iter=20_000).h),
        ("sparserec.fista float32", lambda: sparserec.fista(X.astype(np.float32), A, lam1,
                                                            tol=args.tol, max_iter=20_000).h),
        ("sklearn sparse_encode lasso_cd", lambda: sparse_encode(X, A.T, algorithm="lasso_cd",
                                                                 alpha=lam1, max_iter=20_000)),
        ("sklearn sparse_encode lasso_cd n_jobs=2",
         lambda: sparse_encode(X, A.T, algorithm="lasso_cd", alpha=lam1, max_iter=20_000,
                               n_jobs=2)),
    ]:
        seconds, H = median_time(run, args.repeats)
        rows.append((name, seconds, relative_gaps(X, A, H.astype(np.float64), lam1).max()))
    reference = rows[0][1]
    print(f"{'method':42s} {'ms/signal':>10s} {'ratio':>7s} {'max rel. gap':>13s}")
    for name, seconds, gap in rows:
        print(f"{name:42s} {1e3 * seconds / B:10.3f} {seconds / reference:7.2f} {gap:13.2e}")


if __name__ == "__main__":
    main()
