"""Greedy recovery: OMP against SPAMS and scikit-learn, and exact recovery by NIHT, CoSaMP
and subspace pursuit.

OMP: 2,000 signals, A 250 x 500 with unit columns (Gaussian, normalised), 25 nonzeros of
standard normal values at random places, white noise of standard deviation 0.01, 25 atoms
per signal. sparserec's ``omp`` against SPAMS's ``omp`` (spams-bin) at the same thread
count, and scikit-learn's ``orthogonal_mp_gram`` (given the Gram matrix and the
correlations, which are not timed for it); the supports are compared with scikit-learn's.
Targets: no slower than SPAMS at 1 and 2 threads, at least 3x faster than scikit-learn.

Exact recovery: the same A and codes without noise; a signal is recovered when
``||h_hat - h|| <= 1e-6 ||h||``. Target: at least 95% of the signals for each of NIHT,
CoSaMP and subspace pursuit.

Run: ``python benchmarks/bench_greedy.py [--repeats 5] [--signals 2000]``
"""

import argparse
import warnings

import numba
import numpy as np

import sparserec
from _common import machine, median_time, print_table

COLUMNS = [("method", "method", "s"), ("threads", "threads", "d"), ("seconds", "s", ".4f"),
           ("ratio", "x sparserec's time", ".2f"), ("supports", "supports as sklearn", ".1%")]
RECOVERY_COLUMNS = [("method", "method", "s"), ("seconds", "s", ".3f"),
                    ("exact", "exact recovery", ".1%"),
                    ("worst", "worst rel. error", ".1e"), ("iterations", "median iter.", ".0f")]


def problem(signals=2000, M=250, N=500, K=25, noise=0.01, seed=0):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((M, N))
    A /= np.linalg.norm(A, axis=0)
    H = np.zeros((signals, N))
    for b in range(signals):
        H[b, rng.choice(N, K, replace=False)] = rng.standard_normal(K)
    X = H @ A.T
    return A, H, X, X + noise * rng.standard_normal(X.shape)


def _same_supports(H1, H2):
    return float(np.mean([(np.flatnonzero(a) == np.flatnonzero(b)).all()
                          if np.count_nonzero(a) == np.count_nonzero(b) else False
                          for a, b in zip(H1, H2, strict=True)]))


def run(repeats=5, signals=2000, K=25):
    """The OMP timings (rows) and the exact-recovery rows."""
    from sklearn.linear_model import orthogonal_mp_gram

    A, H, X, Xn = problem(signals, K=K)
    sparserec.omp(Xn[:2], A, n_nonzero=K)  # compiled (or loaded from the cache) first
    G, Cor = A.T @ A, A.T @ Xn.T
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t_sk, H_sk = median_time(lambda: orthogonal_mp_gram(G, Cor, n_nonzero_coefs=K).T,
                                 max(1, repeats // 2))
    rows = []
    threads = numba.get_num_threads()
    Xf, Af = np.asfortranarray(Xn.T), np.asfortranarray(A)  # SPAMS's layout: signals as columns
    for n in sorted({1, threads}):
        numba.set_num_threads(n)
        try:
            t_ours, result = median_time(lambda: sparserec.omp(Xn, A, n_nonzero=K), repeats)
        finally:
            numba.set_num_threads(threads)
        rows.append(dict(method="sparserec omp", threads=n, seconds=t_ours, ratio=1.0,
                         supports=_same_supports(result.h, H_sk)))
        try:
            import spams
        except ImportError:
            continue
        t_spams, out = median_time(lambda n=n: spams.omp(Xf, Af, L=K, numThreads=n), repeats)
        rows.append(dict(method="SPAMS omp", threads=n, seconds=t_spams,
                         ratio=t_spams / t_ours, supports=_same_supports(out.toarray().T, H_sk)))
    ours = min(r["seconds"] for r in rows if r["method"] == "sparserec omp")
    rows.append(dict(method="sklearn orthogonal_mp_gram", threads=1, seconds=t_sk,
                     ratio=t_sk / ours, supports=1.0))

    recovery = []
    for name, solver in [("omp", sparserec.omp), ("niht", sparserec.iht),
                         ("cosamp", sparserec.cosamp), ("subspace pursuit",
                                                        sparserec.subspace_pursuit)]:
        options = dict(n_nonzero=K) if name == "omp" else dict(n_nonzero=K, tol=1e-10)
        solver(X[:2], A, **options)
        seconds, result = median_time(lambda s=solver, o=options: s(X, A, **o),
                                      max(1, repeats // 2))
        error = np.linalg.norm(result.h - H, axis=1) / np.linalg.norm(H, axis=1)
        recovery.append(dict(method=name, seconds=seconds, exact=float(np.mean(error <= 1e-6)),
                             worst=float(error.max()),
                             iterations=float(np.median(result.n_iter))))
    return rows, recovery


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--signals", type=int, default=2000)
    args = parser.parse_args()
    print(machine())
    rows, recovery = run(args.repeats, args.signals)
    print_table(f"OMP, {args.signals} signals, A 250x500 unit columns, K=25, noise 0.01",
                rows, COLUMNS)
    print_table("Exact recovery, noiseless, K=25 (rel. error <= 1e-6)", recovery,
                RECOVERY_COLUMNS)


if __name__ == "__main__":
    main()
