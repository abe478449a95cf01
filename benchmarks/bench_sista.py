"""Sequential solve: SISTA over many sequences of the paper's size, against the matmul floor.

1000 sequences, N=128, M=32, T=128, K=3 iterations per frame (``sparserec.sista(...,
n_iter=3)`` with ``sparserec.paper_matrices()``, lam1=0.5, lam2=1, alpha=1). SISTA's work is
one (B, M) x (M, N) product for ``V x`` and, per frame, K+1 products (B, N) x (N, N) (``P h``
and K times ``S h``); the same products in numpy, in the same run, give the machine's own
matmul speed, and the table shows the fraction of it that SISTA reaches: numpy's time for
the dense products over SISTA's whole time (its products, soft thresholds, reconstructions
and objectives). SISTA's kernel skips the zeros of the sparse codes, so it can pass 100%.

Run: ``python benchmarks/bench_sista.py [--repeats 3] [--sequences 1000]``
"""

import argparse
import warnings

import numpy as np

import sparserec

try:
    from benchmarks._common import machine, median_time, print_table
except ImportError:
    from _common import machine, median_time, print_table


def data(n_sequences=1000, T=128, seed=0):
    A, D, F = sparserec.paper_matrices()
    rng = np.random.default_rng(seed)
    y = rng.standard_normal((n_sequences, T, A.shape[1]))
    return A, D, F, (y @ A.T)


def matmul_floor(B, T, M, N, K, dtype, repeats):
    """Best time of SISTA's matrix products alone, in numpy (the best of the repeats, not
    the median: on a shared machine multithreaded OpenBLAS is at times several times
    slower, and the floor should be the machine's speed, not its bad moments)."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((B * T, M)).astype(dtype)
    V, S = rng.standard_normal((M, N)).astype(dtype), rng.standard_normal((N, N)).astype(dtype)
    h = rng.standard_normal((B, N)).astype(dtype)
    out = np.empty_like(h)

    def products():
        x @ V
        for _ in range(T):
            for _ in range(K + 1):
                np.dot(h, S, out=out)
    return min(median_time(products, 1)[0] for _ in range(repeats))


def run(repeats=3, n_sequences=1000, K=3):
    A, D, F, x = data(n_sequences)
    B, T, M = x.shape
    N = A.shape[1]
    rows = []
    # The paper's alpha = 1 is below the bound ||A||^2 + lam2 ~ 2: a warning, not a speed issue.
    warnings.filterwarnings("ignore", category=sparserec.StepSizeWarning)
    for dtype in (np.float64, np.float32):
        xd = x.astype(dtype)
        sparserec.sista(xd[:2], A, 0.5, 1.0, D=D, F=F, alpha=1.0, n_iter=K)  # compile
        seconds, _ = median_time(lambda xd=xd: sparserec.sista(xd, A, 0.5, 1.0, D=D, F=F,
                                                               alpha=1.0, n_iter=K), repeats)
        floor = matmul_floor(B, T, M, N, K, dtype, repeats)
        flops = 2 * B * T * (M * N + (K + 1) * N * N)
        rows.append(dict(method=f"sparserec.sista {np.dtype(dtype).name}", seconds=seconds,
                         rate=B / seconds, gflops=flops / seconds / 1e9,
                         floor=floor, fraction=floor / seconds))
    return rows


COLUMNS = [("method", "method", "s"), ("seconds", "seconds", ".3f"),
           ("rate", "sequences/s", ".0f"), ("gflops", "GFLOP/s", ".1f"),
           ("floor", "matmul s", ".3f"), ("fraction", "of matmul", ".0%")]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sequences", type=int, default=1000)
    args = parser.parse_args()
    print(machine())
    print_table(f"SISTA, {args.sequences} sequences, N=128 M=32 T=128 K=3 "
                f"(median of {args.repeats})", run(args.repeats, args.sequences), COLUMNS)


if __name__ == "__main__":
    main()
