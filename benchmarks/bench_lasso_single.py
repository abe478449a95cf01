"""One large lasso problem: sparserec against skglm, celer and scikit-learn, side by side.

The everyday use of a Lasso: one target, ``fit_intercept=False``, scikit-learn's objective
``1/(2n) ||y - X w||^2 + alpha ||w||_1`` with ``alpha = alpha_max / 20`` (a sparse but not
trivial solution), on problems of several shapes: n << p, n >> p, correlated columns,
sparse X and a real design. Every method gets the same data in the same process; the
table gives the best time over repeats (compilation excluded) and the relative duality
gap reached, ``gap / (1/2 ||y||^2)``, computed here alike for every method. Every method
must reach a relative gap of ``--tol``: sparserec is asked for it directly (its stopping
rule is this gap); each peer gets the loosest of its own tolerances, tried from 1e-2 down
by factors of 10, whose solution reaches it (skglm stops on a KKT violation, celer and
scikit-learn on gaps scaled their own ways), so that no one is timed doing more work than
the gap needs.

Model selection: ``LassoCV`` (5 folds, the same grid of 50 alphas, scikit-learn's default
``tol``) against scikit-learn's and celer's, on the 600 x 3000 and 150 x 15000 problems.

The crossover of ``sparserec.lasso``'s two paths (``--crossover``): the Gram matrix that
many signals share against coordinate descent on each signal's residual, timed side by
side for a growing number of signals B, for the cost model of ``method='auto'``.

Run: ``python benchmarks/bench_lasso_single.py [--repeats 3] [--tol 1e-6] [--crossover]``
"""

import argparse
import time
import warnings

import numpy as np
import scipy.sparse

import sparserec

try:
    from benchmarks._common import machine, print_table
except ImportError:  # run as a script from benchmarks/
    from _common import machine, print_table

COLUMNS = [("problem", "problem", "s"), ("method", "method", "s"), ("ms", "ms", ".1f"),
           ("ratio", "x skglm", ".2f"), ("gap", "rel. gap", ".1e"), ("tol", "tol asked", ".0e")]


def correlated(n, p, rho, rng):
    """Gaussian columns with correlation rho between neighbours (an AR(1) design)."""
    X = np.empty((n, p))
    X[:, 0] = rng.standard_normal(n)
    for j in range(1, p):
        X[:, j] = rho * X[:, j - 1] + np.sqrt(1 - rho**2) * rng.standard_normal(n)
    return X


def problems(seed=0):
    """The benchmark's problems: name -> (X, y)."""
    rng = np.random.default_rng(seed)
    out = {}

    def target(X, k):
        w = np.zeros(X.shape[1])
        w[rng.choice(X.shape[1], k, replace=False)] = rng.standard_normal(k)
        y = X @ w
        return y + 0.1 * np.std(y) * rng.standard_normal(X.shape[0])

    for name, (n, p) in {"600 x 3000": (600, 3000), "150 x 15000": (150, 15000),
                         "4000 x 400": (4000, 400)}.items():
        X = rng.standard_normal((n, p))
        out[name] = X, target(X, 20)
    for rho in (0.5, 0.9):
        X = correlated(800, 4000, rho, rng)
        out[f"800 x 4000, rho {rho}"] = X, target(X, 20)
    for density, (n, p) in {1e-2: (2000, 10000), 1e-3: (10000, 20000)}.items():
        X = scipy.sparse.random(n, p, density=density, format="csc", random_state=rng,
                                data_rvs=rng.standard_normal)
        out[f"{n} x {p}, sparse {density:g}"] = X, target(X, 20)
    from sklearn.datasets import load_diabetes
    from sklearn.preprocessing import PolynomialFeatures, StandardScaler

    X, y = load_diabetes(return_X_y=True)
    X = StandardScaler().fit_transform(PolynomialFeatures(3, include_bias=False)
                                       .fit_transform(X))
    out["diabetes, degree 3"] = X, y - y.mean()
    return out


def relative_gap(X, y, w, alpha):
    """The duality gap of sparserec's form of the problem over 1/2 ||y||^2."""
    lam = alpha * X.shape[0]
    r = y - X @ w
    dual_norm = np.abs(X.T @ r).max()
    s = min(1.0, lam / dual_norm)
    primal = 0.5 * r @ r + lam * np.abs(w).sum()
    dual = s * (y @ r) - 0.5 * s * s * (r @ r)
    return (primal - dual) / (0.5 * y @ y)


def methods(tol):
    """name -> fit(X, y, alpha, tol) returning w, for the installed methods."""
    from sklearn.linear_model import Lasso as SklearnLasso

    out = {
        # the relative gap gap / (1/2 ||y||^2) <= tol is Lasso's gap <= (tol / 2) ||y||^2
        "sparserec": lambda X, y, a, t: sparserec.Lasso(a, fit_intercept=False, tol=t / 2,
                                                        max_iter=100_000).fit(X, y).coef_,
        "scikit-learn": lambda X, y, a, t: SklearnLasso(a, fit_intercept=False, tol=t,
                                                        max_iter=100_000).fit(X, y).coef_,
    }
    try:
        from skglm import Lasso as SkglmLasso
        out["skglm"] = lambda X, y, a, t: SkglmLasso(a, fit_intercept=False, tol=t,
                                                     max_iter=1000).fit(X, y).coef_
    except ImportError:
        pass
    try:
        from celer import Lasso as CelerLasso
        out["celer"] = lambda X, y, a, t: CelerLasso(a, fit_intercept=False, tol=t,
                                                     max_iter=1000).fit(X, y).coef_
    except ImportError:
        pass
    return out


def peer_tolerance(fit, X, y, alpha, target):
    """The loosest tolerance of a peer whose solution reaches the relative gap ``target``."""
    for tol in 10.0 ** -np.arange(2, 15):
        if relative_gap(X, y, fit(X, y, alpha, tol), alpha) <= target:
            return tol
    return tol


def run(repeats=3, tol=1e-6, only=None):
    rows = []
    fits = methods(tol)
    for name, (X, y) in problems().items():
        if only and only not in name:
            continue
        alpha = np.abs(X.T @ y).max() / X.shape[0] / 20
        times = {}
        for method, fit in fits.items():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fit(X[:, :50], y, alpha, tol)  # compile, import, warm up
                asked = tol if method == "sparserec" else peer_tolerance(fit, X, y, alpha, tol)
                best = np.inf
                for _ in range(repeats):
                    start = time.perf_counter()
                    w = fit(X, y, alpha, asked)
                    best = min(best, time.perf_counter() - start)
            times[method] = best
            rows.append(dict(problem=name, method=method, ms=1e3 * best, tol=asked,
                             gap=relative_gap(X, y, np.asarray(w), alpha)))
        for row in rows:
            if row["problem"] == name and "skglm" in times:
                row["ratio"] = row["ms"] / 1e3 / times["skglm"]
    return rows


CV_COLUMNS = [("problem", "problem", "s"), ("method", "method", "s"), ("s", "seconds", ".2f"),
              ("ratio", "x sparserec", ".2f"), ("alpha", "alpha_", ".4g")]


def run_cv(repeats=3):
    """LassoCV side by side on the same grid of 50 alphas."""
    from sklearn.linear_model import LassoCV as SklearnLassoCV

    fits = {"sparserec": lambda grid: sparserec.LassoCV(alphas=grid),
            "scikit-learn": lambda grid: SklearnLassoCV(alphas=grid)}
    try:
        from celer import LassoCV as CelerLassoCV
        fits["celer"] = lambda grid: CelerLassoCV(alphas=grid)
    except ImportError:
        pass
    rows, data = [], problems()
    for name in ("600 x 3000", "150 x 15000"):
        X, y = data[name]
        sparserec.LassoCV(alphas=5).fit(X[:, :20], y)  # compile
        alpha_max = np.abs((X - X.mean(0)).T @ (y - y.mean())).max() / X.shape[0]
        grid = np.geomspace(alpha_max, alpha_max * 1e-3, 50)
        times = {}
        for method, make in fits.items():
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    best = np.inf
                    for _ in range(repeats):
                        start = time.perf_counter()
                        model = make(grid).fit(X, y)
                        best = min(best, time.perf_counter() - start)
            except TypeError as error:  # (a peer that does not run with this scikit-learn)
                rows.append(dict(problem=name, method=f"{method}: {error}"[:60]))
                continue
            times[method] = best
            rows.append(dict(problem=name, method=method, s=best, alpha=model.alpha_))
        for row in rows:
            if row["problem"] == name and "s" in row:
                row["ratio"] = row["s"] / times["sparserec"]
    return rows


CROSSOVER_COLUMNS = [("shape", "M x N", "s"), ("B", "signals B", "d"),
                     ("gram", "gram ms/signal", ".3f"), ("residual", "residual ms/signal", ".3f"),
                     ("auto", "auto picks", "s")]


def run_crossover(repeats=3):
    """Both paths of sparserec.lasso per signal, for growing batches."""
    from sparserec.solvers.lasso import _choose

    rows = []
    rng = np.random.default_rng(1)
    for M, N in ((250, 500), (500, 2000), (200, 5000)):
        A = rng.standard_normal((M, N)) / np.sqrt(M)
        for B in (1, 4, 16, 64, 256, 1024):
            H = rng.standard_normal((B, N)) * (rng.random((B, N)) < 0.05)
            X = H @ A.T + 0.05 * rng.standard_normal((B, M))
            row = dict(shape=f"{M} x {N}", B=B, auto=_choose(B, M, N))
            for method in ("gram", "residual"):
                sparserec.lasso(X[:2], A, 0.1, method=method)  # compile
                best = np.inf
                for _ in range(repeats):
                    start = time.perf_counter()
                    sparserec.lasso(X, A, 0.1, method=method, tol=1e-6)
                    best = min(best, time.perf_counter() - start)
                row[method] = 1e3 * best / B
            rows.append(row)
    return rows


def print_summary(rows):
    """sparserec's time as a ratio of each peer's: geometric mean and worst over problems."""
    times = {(row["problem"], row["method"]): row["ms"] for row in rows if "ms" in row}
    problems = sorted({problem for problem, _ in times})
    for peer in ("skglm", "scikit-learn"):
        ratios = [times[p, "sparserec"] / times[p, peer] for p in problems
                  if (p, peer) in times and (p, "sparserec") in times]
        if ratios:
            print(f"sparserec / {peer}: geometric mean {np.exp(np.mean(np.log(ratios))):.2f}, "
                  f"worst {max(ratios):.2f} over {len(ratios)} problems")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tol", type=float, default=1e-6)
    parser.add_argument("--only", default=None, help="run the problems whose name has this")
    parser.add_argument("--crossover", action="store_true",
                        help="only the crossover of the Gram and residual paths")
    args = parser.parse_args()
    print(machine())
    if args.crossover:
        print_table("sparserec.lasso: the Gram path against the residual path",
                    run_crossover(args.repeats), CROSSOVER_COLUMNS)
        return
    rows = run(args.repeats, args.tol, args.only)
    print_table("One lasso problem (fit_intercept=False, alpha = alpha_max / 20)", rows,
                COLUMNS)
    print_summary(rows)
    print_table("LassoCV, 5 folds, 50 alphas", run_cv(args.repeats), CV_COLUMNS)


if __name__ == "__main__":
    main()
