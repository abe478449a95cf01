"""Learning with the defaults: what ``sparserec fit`` with no option gains on a user's kind
of data, against PyTorch Adam at its best learning rate, from the same start.

The task: sequences whose codes in an orthonormal DCT basis have 3 active atoms that
change slowly (``sparserec.make_sparse_sequences``), N 48, M 20, T 20, noise of standard
deviation 0.01 on the measurements, 500 training sequences and 200 test sequences drawn
apart (seeds ``--seed`` and ``--seed + 1``). The start is the one ``sparserec fit`` takes
from a file without D: the identity dictionary, lam1 0.5, lam2 1, alpha at the stability
bound.

Rows: ``SISTARegressor`` with the defaults (what ``sparserec fit`` runs), sparserec's
Adam at 1e-3, 3e-3 and 1e-2 for ``--epochs`` epochs (every other setting the default),
and the same SISTA-RNN in PyTorch (``bench_training.torch_loss``, autograd, no constraint)
trained by ``torch.optim.Adam`` at the same rates and epochs, batches of 50. The gain is
the untrained test NMSE minus the trained one (dB, higher is better), from the parameters
each run ends with (sparserec's: those of its best validation epoch); "worst" is the gain
of the worst test sequence (negative: it ends worse than the untrained start).

Targets (the defaults): at least 0.8 times the best PyTorch gain, a fit of at most 60 s,
no test sequence worse than the untrained start.

Run: ``python benchmarks/bench_defaults.py [--epochs 300] [--seed 10] [--no-torch]``
(about five minutes with PyTorch).
"""

import argparse
import time
import warnings

import numpy as np

import sparserec
from sparserec.datasets import make_sparse_sequences
from sparserec.learned import SISTAParams

try:
    from benchmarks._common import machine, print_table
except ImportError:
    from _common import machine, print_table

COLUMNS = [("method", "method", "s"), ("gain", "test gain (dB)", ".2f"),
           ("worst", "worst sequence (dB)", ".2f"), ("seconds", "s", ".1f"),
           ("ratio", "x best PyTorch gain", ".2f")]
RATES = (1e-3, 3e-3, 1e-2)


def task(seed=10):
    """Training and test sequences, and A."""
    X, Y, A, _ = make_sparse_sequences(500, 20, 48, 20, 3, noise_std=0.01, random_state=seed)
    X_test, Y_test, _, _ = make_sparse_sequences(200, 20, 48, 20, 3, noise_std=0.01,
                                                 random_state=seed + 1)
    return A, X, Y, X_test, Y_test


def _gains(Y_test, untrained, predicted):
    per_sequence = (sparserec.nmse_db(Y_test, untrained, axis=(1, 2))
                    - sparserec.nmse_db(Y_test, predicted, axis=(1, 2)))
    total = sparserec.nmse_db(Y_test, untrained) - sparserec.nmse_db(Y_test, predicted)
    return float(total), float(np.min(per_sequence))


def run(epochs=300, seed=10, use_torch=True):
    A, X, Y, X_test, Y_test = task(seed)
    untrained_model = sparserec.SISTARegressor(A).fit(X[:2])  # not trained: the start
    untrained = untrained_model.predict(X_test)
    rows = []
    configs = [("sparserec fit defaults", {})] + [
        (f"sparserec Adam {rate:g}, {epochs} epochs",
         dict(optimizer="adam", learning_rate=rate, max_epochs=epochs)) for rate in RATES]
    for name, settings in configs:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            start = time.perf_counter()
            model = sparserec.SISTARegressor(A, random_state=0, **settings).fit(X, Y)
            seconds = time.perf_counter() - start
        gain, worst = _gains(Y_test, untrained, model.predict(X_test))
        rows.append(dict(method=name, gain=gain, worst=worst, seconds=seconds))
    if use_torch:
        import torch

        from bench_learning import torch_train
        import bench_learning

        bench_learning.BATCH = 50  # sparserec fit's batches
        params = SISTAParams.initial(A, np.eye(A.shape[1]), lam1=0.5, lam2=1.0)
        for rate in RATES:
            start = time.perf_counter()
            final, _ = torch_train(torch, params, X, Y, ("D", "F", "alpha", "lam1", "lam2"),
                                   epochs, rate, X_test[:50], Y_test[:50])
            seconds = time.perf_counter() - start
            predicted = sparserec.learned.forward(final, X_test, 3)
            if not np.isfinite(predicted).all():
                rows.append(dict(method=f"PyTorch Adam {rate:g}, {epochs} epochs",
                                 gain=-np.inf, worst=-np.inf, seconds=seconds))
                continue
            gain, worst = _gains(Y_test, untrained, predicted)
            rows.append(dict(method=f"PyTorch Adam {rate:g}, {epochs} epochs", gain=gain,
                             worst=worst, seconds=seconds))
        best = max(r["gain"] for r in rows if r["method"].startswith("PyTorch"))
        for row in rows:
            row["ratio"] = row["gain"] / best if best > 0 else None
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--seed", type=int, default=10)
    parser.add_argument("--no-torch", action="store_true")
    args = parser.parse_args()
    print(machine())
    rows = run(args.epochs, args.seed, not args.no_torch)
    print_table(f"Test gain over the untrained start, DCT task (N 48, M 20, T 20, seed "
                f"{args.seed})", rows, COLUMNS)


if __name__ == "__main__":
    main()
