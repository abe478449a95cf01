"""Batched lasso: sparserec.lasso against scikit-learn, SPAMS, skglm and PyLops, side by side.

1000 signals, A Gaussian 250x500 with unit-norm columns, codes 10% sparse, SNR about 20 dB,
lam1 = 0.1 in 1/2||x - A h||^2 + lam1 ||h||_1. Every method gets the same data in the same
process; the table gives the median time per signal over repeats and the accuracy reached:
the largest relative duality gap ``gap / (1/2 ||x||^2)`` over the signals (computed here,
in float64, for every method alike) and how many signals are at or below ``--tol``.

Each peer is asked for the same accuracy where it has a knob for it: scikit-learn's Lasso
stops at ``gap <= tol ||x||^2`` (so tol / 2), skglm at a KKT violation (set small enough
that the gap is reached), PyLops' FISTA after a fixed number of iterations. SPAMS'
LARS is exact (a homotopy), so it has no tolerance.
``sparse_encode`` has no tolerance parameter (it uses Lasso's default, 1e-4): it is timed
as it comes, and its gap column shows what that buys.

Run: ``python benchmarks/bench_lasso.py [--repeats 3] [--signals 1000]``
"""

import argparse
import warnings

import numpy as np

import sparserec
from sparserec.solvers import lasso_duality_gap

try:
    from benchmarks._common import machine, median_time, print_table
except ImportError:  # run as a script from benchmarks/
    from _common import machine, median_time, print_table


def problem(n_signals=1000, m=250, n=500, density=0.1, snr_db=20.0, seed=0):
    """The benchmark's data: ``A`` (m, n) with unit-norm columns and ``X`` (n_signals, m)."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((m, n))
    A /= np.linalg.norm(A, axis=0)
    H = rng.standard_normal((n_signals, n)) * (rng.random((n_signals, n)) < density)
    clean = H @ A.T
    noise = rng.standard_normal(clean.shape)
    noise *= np.linalg.norm(clean) / np.linalg.norm(noise) * 10 ** (-snr_db / 20)
    return A, clean + noise


def relative_gaps(X, A, H, lam1):
    gap, _ = lasso_duality_gap(X, A, np.asarray(H, np.float64), lam1)
    return gap / (0.5 * (X**2).sum(axis=1))


def methods(A, X, lam1, tol):
    """The contenders: name -> function returning the codes (B, N)."""
    M = A.shape[0]
    X32, A32 = X.astype(np.float32), A.astype(np.float32)
    runs = {
        "sparserec.lasso float64": lambda: sparserec.lasso(X, A, lam1, tol=tol).h,
        "sparserec.lasso float32": lambda: sparserec.lasso(X32, A32, lam1, tol=tol).h,
        "sparserec.fista float64": lambda: sparserec.fista(X, A, lam1, tol=tol,
                                                           max_iter=20_000).h,
    }
    from sklearn.decomposition import sparse_encode
    from sklearn.linear_model import Lasso

    runs["sklearn sparse_encode lasso_cd"] = lambda: sparse_encode(
        X, A.T, algorithm="lasso_cd", alpha=lam1, max_iter=20_000)
    runs["sklearn sparse_encode lasso_cd n_jobs=2"] = lambda: sparse_encode(
        X, A.T, algorithm="lasso_cd", alpha=lam1, max_iter=20_000, n_jobs=2)
    runs["sklearn Lasso 2-D y (precompute)"] = lambda: Lasso(
        alpha=lam1 / M, fit_intercept=False, precompute=True, tol=tol / 2,
        max_iter=20_000).fit(A, X.T).coef_
    try:
        import spams  # pip install spams-bin (the `spams` sdist no longer builds)

        Xf, Af = np.asfortranarray(X.T), np.asfortranarray(A)
        for threads in (1, 2):
            # LARS-lasso (mode 2: 1/2||x - A h||^2 + lambda1 ||h||_1), exact by homotopy
            runs[f"SPAMS lasso (LARS) numThreads={threads}"] = (
                lambda threads=threads: spams.lasso(Xf, D=Af, lambda1=lam1, mode=2,
                                                    numThreads=threads).toarray().T)
    except ImportError:
        print("SPAMS is not installed: pip install spams-bin")
    try:
        from skglm import Lasso as SkglmLasso

        def skglm_run():
            model = SkglmLasso(alpha=lam1 / M, fit_intercept=False, tol=1e-9)
            return np.array([model.fit(A, x).coef_ for x in X])
        runs["skglm Lasso (loop over signals)"] = skglm_run
    except ImportError:
        print("skglm is not installed: pip install skglm")
    try:
        import pylops
        from pylops.optimization.sparsity import fista as pylops_fista

        def pylops_run(niter=600):
            # All signals as one operator on an (N, B) model; PyLops minimises
            # ||y - Op x||^2 + eps ||x||_1, so eps = 2 lam1.
            op = pylops.MatrixMult(A, otherdims=(X.shape[0],))
            h = pylops_fista(op, X.T.ravel(), niter=niter, eps=2 * lam1, tol=0.0)[0]
            return h.reshape(A.shape[1], X.shape[0]).T
        runs["PyLops fista (600 iterations, joint)"] = pylops_run
    except ImportError:
        print("pylops is not installed: pip install pylops")
    return runs


def run(repeats=3, n_signals=1000, tol=1e-6, quick=False):
    """Time every method; returns the rows of the table (dicts)."""
    lam1 = 0.1
    A, X = problem(n_signals)
    B = len(X)
    sparserec.lasso(X[:4], A, lam1)  # compile (or load the numba cache) outside the timing
    sparserec.lasso(X[:4].astype(np.float32), A.astype(np.float32), lam1)
    sparserec.fista(X[:2], A, lam1)
    rows = []
    for name, function in methods(A, X, lam1, tol).items():
        if quick and not name.startswith("sparserec.lasso") and "n_jobs" not in name:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            function() if name.startswith(("skglm", "PyLops")) else None  # their JIT warm-up
            seconds, H = median_time(function, repeats)
        # the gap of the problem each method was given (float32 data for float32 runs)
        data = (X.astype(np.float32), A.astype(np.float32)) if "float32" in name else (X, A)
        gaps = relative_gaps(*data, H, lam1)
        rows.append(dict(method=name, ms=1e3 * seconds / B, gap=float(gaps.max()),
                         reached=f"{np.count_nonzero(gaps <= tol)}/{B}"))
    ours = rows[0]["ms"]
    for row in rows:
        row["ratio"] = row["ms"] / ours
    return rows


COLUMNS = [("method", "method", "s"), ("ms", "ms/signal", ".3f"),
           ("ratio", "x sparserec", ".1f"), ("gap", "max rel. gap", ".1e"),
           ("reached", "gap<=tol", "s")]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--signals", type=int, default=1000)
    parser.add_argument("--tol", type=float, default=1e-6)
    args = parser.parse_args()
    print(machine())
    rows = run(args.repeats, args.signals, args.tol)
    print_table(f"Batched lasso, {args.signals} signals, A 250x500, lam1=0.1 "
                f"(median of {args.repeats})", rows, COLUMNS)


if __name__ == "__main__":
    main()
