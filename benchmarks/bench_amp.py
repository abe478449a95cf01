"""Iterations to reach NMSE -35 dB: AMP against ISTA and FISTA on the standard set-up.

The set-up of the AMP literature (e.g. Borgerding, Schniter and Rangan, *AMP-inspired deep
networks for sparse linear inverse problems*, IEEE TSP 2017): A with i.i.d. N(0, 1/M)
entries, M = 250, N = 500, Bernoulli-Gaussian codes (nonzero with probability 0.1, standard
normal values), white noise at SNR 40 dB. NMSE is over the whole batch,
``||H_hat - H||^2 / ||H||^2``. Published figures for this set-up: AMP about 25 iterations,
FISTA about 200, ISTA about 3400.

AMP's threshold factor ``tau`` and damping are chosen on a separate draw (the fewest
iterations to -35 dB over a small grid), then used on the test draw; the default
(``tau='sure'``) and the minimax ``tau`` are reported beside them. ISTA and FISTA solve the lasso
that AMP's fixed point solves (the mean of ``lam1_effective``), so the three reach the
same kind of estimate. ISTA is memoryless,
so its path is followed by warm-started chunks; FISTA's momentum is not, so its count is
found by bisection on ``max_iter`` (NMSE falls along the path here; checked).

Run: ``python benchmarks/bench_amp.py [--signals 100] [--seed 0] [--plot PATH]`` (a few
minutes); ``--plot`` also draws NMSE against iterations for ISTA, FISTA and AMP (default);
``--seeds 10`` prints only the default's NMSE after 30 iterations on ten draws.
"""

import argparse
import time
import warnings

import numpy as np

import sparserec
from sparserec import amp, fista, ista, lipschitz_constant, make_bernoulli_gaussian, nmse_db
from sparserec import ConvergenceWarning

TARGET = -35.0


def amp_path(A, H, X, tau, damping=0.0, t_max=80):
    """NMSE after 1, 2, ..., t_max iterations (AMP is deterministic: rerun to each t)."""
    return np.array([nmse_db(H, amp(X, A, tau=tau, damping=damping, max_iter=t, tol=0.0).h)
                     for t in range(1, t_max + 1)])


def first_below(path):
    hits = np.flatnonzero(path <= TARGET)
    return int(hits[0]) + 1 if hits.size else None


def ista_iterations(A, H, X, lam1, alpha, t_max, chunk=50):
    """Follow ISTA by warm-started chunks, then step by one through the crossing chunk."""
    h, done = np.zeros_like(H), 0
    while done < t_max:
        nxt = ista(X, A, lam1, alpha=alpha, h_init=h, max_iter=chunk, tol=0.0).h
        if nmse_db(H, nxt) <= TARGET:
            for step in range(1, chunk + 1):
                h = ista(X, A, lam1, alpha=alpha, h_init=h, max_iter=1, tol=0.0).h
                if nmse_db(H, h) <= TARGET:
                    return done + step, nmse_db(H, nxt)
        h, done = nxt, done + chunk
    return None, nmse_db(H, h)


def fista_iterations(A, H, X, lam1, t_max):
    nmse = lambda t: nmse_db(H, fista(X, A, lam1, max_iter=t, tol=0.0).h)  # noqa: E731
    if nmse(t_max) > TARGET:
        return None
    low, high = 0, t_max  # nmse(low) > TARGET >= nmse(high)
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (low, mid) if nmse(mid) <= TARGET else (mid, high)
    return high


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--signals", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plot", metavar="PATH", help="also draw NMSE against iterations")
    parser.add_argument("--seeds", type=int, default=0,
                        help="only print the default's NMSE after 30 iterations on this many "
                             "draws, of 100 and of 1000 signals")
    args = parser.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)  # tol=0: every run hits max_iter
    if args.seeds:
        return seeds(args.seeds)

    # the draw that chooses tau and damping
    X, H, A = make_bernoulli_gaussian(args.signals, random_state=args.seed + 1)
    grid = [(tau, damping) for damping in (0.0, 0.1) for tau in (1.0, 1.1, 1.2, 1.3)]
    counts = {key: first_below(amp_path(A, H, X, *key, t_max=50)) for key in grid}
    tau, damping = min(grid, key=lambda key: counts[key] or np.inf)
    print("iterations to -35 dB on a separate draw (tau, damping): " + ", ".join(
        f"{key}: {counts[key] or '>50'}" for key in grid) + f" -> tau={tau}, damping={damping}")

    X, H, A = make_bernoulli_gaussian(args.signals, random_state=args.seed)
    rows = []
    start = time.perf_counter()
    path = amp_path(A, H, X, tau, damping)
    rows.append((f"amp (tau={tau}, damping={damping})", first_below(path), path[-1],
                 time.perf_counter() - start))
    start = time.perf_counter()
    path_default = amp_path(A, H, X, "sure")
    rows.append(("amp (default, tau='sure')", first_below(path_default), path_default[-1],
                 time.perf_counter() - start))
    minimax = sparserec.minimax_threshold(A.shape[0] / A.shape[1])
    start = time.perf_counter()
    path_minimax = amp_path(A, H, X, "minimax")
    rows.append((f"amp (tau='minimax'={minimax:.3f})", first_below(path_minimax),
                 path_minimax[-1], time.perf_counter() - start))

    fixed_point = amp(X, A, tau=tau, damping=damping, max_iter=2000, tol=1e-10)
    lam1 = float(fixed_point.lam1_effective.mean())
    start = time.perf_counter()
    n_fista = fista_iterations(A, H, X, lam1, 2000)
    final = nmse_db(H, fista(X, A, lam1, tol=1e-10, max_iter=20_000).h)
    rows.append(("fista", n_fista, final, time.perf_counter() - start))
    start = time.perf_counter()
    alpha = 1.001 * lipschitz_constant(A)
    n_ista, _ = ista_iterations(A, H, X, lam1, alpha, 20_000)
    rows.append(("ista", n_ista, final, time.perf_counter() - start))

    print(f"M=250, N=500, p=0.1, SNR 40 dB, {args.signals} signals; lasso lam1 = {lam1:.4g} "
          f"(AMP's fixed point); target NMSE {TARGET:g} dB")
    print(f"{'method':34s} {'iterations':>10s} {'ratio to amp':>12s} {'final NMSE':>11s} "
          f"{'seconds':>8s}")
    reference = rows[0][1]
    for name, count, nmse, seconds in rows:
        ratio = f"{count / reference:.1f}" if count and reference else "-"
        print(f"{name:34s} {count or 'never':>10} {ratio:>12s} {nmse:10.2f}  {seconds:8.1f}")
    print("published (Borgerding et al. 2017): amp ~25, fista ~200, ista ~3400")
    if args.plot:
        plot(args.plot, A, H, X, lam1, alpha)


def seeds(n_seeds):
    """The default's batch NMSE after 30 iterations on draws 0..n_seeds-1."""
    for n_signals in (100, 1000):
        values = [nmse_db(H, amp(X, A, max_iter=30, tol=0.0).h) for X, H, A in (
            make_bernoulli_gaussian(n_signals, random_state=seed) for seed in range(n_seeds))]
        print(f"{n_signals} signals, NMSE after 30 iterations on seeds 0-{n_seeds - 1}: "
              + " ".join(f"{v:.2f}" for v in values)
              + f"; {sum(v <= TARGET for v in values)} of {n_seeds} at or below {TARGET:g} dB")


def plot(path, A, H, X, lam1, alpha, t_max=5000):
    """NMSE against iterations (log scale) for ISTA, FISTA and AMP with its default."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ts = np.unique(np.geomspace(1, t_max, 40).astype(int))
    fig, ax = plt.subplots(figsize=(6, 4))
    # AMP has converged long before 200 iterations: its curve stops there.
    amp_ts = np.unique(np.geomspace(1, 200, 40).astype(int))
    ax.plot(amp_ts, [nmse_db(H, amp(X, A, max_iter=t, tol=0.0).h) for t in amp_ts],
            label="AMP (default, tau='sure')")
    ax.plot(ts, [nmse_db(H, fista(X, A, lam1, max_iter=t, tol=0.0).h) for t in ts],
            label="FISTA")
    h, done, ista_path = np.zeros_like(H), 0, []
    for t in ts:  # ISTA is memoryless: warm-started chunks follow its path
        h = ista(X, A, lam1, alpha=alpha, h_init=h, max_iter=t - done, tol=0.0).h
        done = t
        ista_path.append(nmse_db(H, h))
    ax.plot(ts, ista_path, label="ISTA")
    ax.axhline(TARGET, color="grey", linestyle="--", linewidth=0.8, label=f"{TARGET:g} dB")
    ax.set(xscale="log", xlabel="iterations", ylabel="NMSE (dB)", xlim=(1, t_max),
           title=f"M={A.shape[0]}, N={A.shape[1]}, p=0.1, SNR 40 dB, {len(H)} signals")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
