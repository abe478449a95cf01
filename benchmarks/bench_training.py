"""Training: one epoch of the SISTA-RNN, hand-written backprop against PyTorch autograd.

The paper's size (N=128, M=32, T=128, K=3, batch 50), the same network written in PyTorch
(weights built from theta = {D, F, alpha, lam1, lam2} inside the graph, autograd for the
gradients), the same data, dtype and thread count, the same optimiser (RMSprop, decay 0.9).
Before timing, the loss and the gradients of both are compared on one batch (float64,
relative error ``||g_torch - g_ours|| / ||g_torch||`` per parameter). Both run with
``--threads`` threads and with one: sparserec splits each batch's sequences across numba's
threads (``numba.set_num_threads``; BLAS on one thread inside them, as sparserec always
runs it around the network's small products), PyTorch uses its intra-op pool; numpy's
BLAS elsewhere gets the same count through threadpoolctl.

Needs PyTorch (``pip install torch==2.13.0``, the CPU build; ``pip install
sparserec[baselines]``).

Run: ``python benchmarks/bench_training.py [--repeats 3] [--sequences 500]``
"""

import argparse

import numba
import numpy as np
from threadpoolctl import threadpool_limits

import sparserec
from sparserec.learned import SISTARNN, SISTAParams, loss_and_grad, train

try:
    from benchmarks._common import machine, median_time, print_table
except ImportError:
    from _common import machine, median_time, print_table

K, BATCH = 3, 50
NAMES = ("D", "F", "alpha", "lam1", "lam2")


def data(n_sequences=500, T=128, density=0.1, seed=0):
    A, D, F = sparserec.paper_matrices()
    rng = np.random.default_rng(seed)
    N = A.shape[1]
    # scaled so that about 16% of the codes are active (not a dead network)
    H = rng.standard_normal((n_sequences, T, N)) * (rng.random((n_sequences, T, N)) < density)
    H *= 5
    Y = H @ D.T
    return SISTAParams.initial(A, D, F, None, 0.5, 1.0), Y @ A.T, Y


def torch_loss(torch, theta, A, h0, X, Y):
    """The SISTA-RNN's mean squared error in PyTorch, from theta (a dict of tensors)."""
    D, F, alpha, lam1, lam2 = (theta[name] for name in NAMES)
    N = D.shape[0]
    eye = torch.eye(N, dtype=D.dtype)
    S = eye - D.T @ (A.T @ A + lam2 * eye) @ D / alpha
    V = (A @ D).T / alpha
    P = D.T @ F @ D
    W = lam2 / alpha * P
    W1 = S @ P + W
    b = lam1 / alpha
    Vx = X @ V.T
    h = h0.expand(X.shape[0], N)
    codes = []
    for t in range(X.shape[1]):
        previous = h
        z = previous @ W1.T + Vx[:, t]
        h = torch.sign(z) * torch.clamp(z.abs() - b, min=0)
        for _ in range(1, K):
            z = previous @ W.T + h @ S.T + Vx[:, t]
            h = torch.sign(z) * torch.clamp(z.abs() - b, min=0)
        codes.append(h)
    return ((torch.stack(codes, 1) @ D.T - Y) ** 2).mean()


def compare_gradients(torch, params, X, Y):
    """Loss and relative gradient differences, ours against autograd, on one batch."""
    loss, grads = loss_and_grad(params, X, Y, K, learn=NAMES, dtype=np.float64)
    theta = {name: torch.tensor(np.asarray(getattr(params, name), np.float64),
                                requires_grad=True) for name in NAMES}
    reference = torch_loss(torch, theta, torch.tensor(params.A), torch.tensor(params.h0),
                           torch.tensor(X), torch.tensor(Y))
    reference.backward()
    errors = {}
    for name in NAMES:
        g = theta[name].grad.numpy()
        errors[name] = float(np.linalg.norm(np.asarray(grads[name]) - g)
                             / max(np.linalg.norm(g), 1e-300))
    return abs(loss - reference.item()) / abs(reference.item()), errors


def ours_epoch(params, X, Y, dtype):
    return lambda: train(SISTARNN(K), params, X, Y, names=NAMES, optimizer="rmsprop",
                         learning_rate=1e-4, batch_size=BATCH, max_epochs=1, dtype=dtype,
                         random_state=0, guard=False)


def torch_epoch(torch, params, X, Y, dtype):
    tdtype = torch.float64 if dtype == np.float64 else torch.float32
    A = torch.tensor(params.A, dtype=tdtype)
    h0 = torch.tensor(params.h0, dtype=tdtype)
    Xt, Yt = torch.tensor(X, dtype=tdtype), torch.tensor(Y, dtype=tdtype)

    def epoch():
        # log-parameters for the positive scalars, as sparserec.learned.train does
        theta = {"D": torch.tensor(params.D, dtype=tdtype, requires_grad=True),
                 "F": torch.tensor(params.F, dtype=tdtype, requires_grad=True)}
        logs = {name: torch.tensor(np.log(getattr(params, name)), dtype=tdtype,
                                   requires_grad=True) for name in ("alpha", "lam1", "lam2")}
        optimizer = torch.optim.RMSprop(list(theta.values()) + list(logs.values()), lr=1e-4,
                                        alpha=0.9)
        order = np.random.default_rng(0).permutation(len(X))
        for start in range(0, len(X), BATCH):
            batch = torch.from_numpy(order[start:start + BATCH])
            optimizer.zero_grad()
            full = dict(theta, **{name: value.exp() for name, value in logs.items()})
            loss = torch_loss(torch, full, A, h0, Xt[batch], Yt[batch])
            loss.backward()
            optimizer.step()
        return loss.item()
    return epoch


def run(repeats=3, n_sequences=500, threads=2):
    import torch
    torch.set_num_threads(threads)
    numba_threads = numba.get_num_threads()
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    params, X, Y = data(n_sequences)
    loss_error, errors = compare_gradients(torch, params, X[:BATCH], Y[:BATCH])
    rows = []
    for dtype in (np.float64, np.float32):
        Xd, Yd = X.astype(dtype), Y.astype(dtype)
        ours = ours_epoch(params, Xd, Yd, dtype)
        reference = torch_epoch(torch, params, Xd, Yd, dtype)
        ours(), reference()  # compile / warm up
        name = np.dtype(dtype).name
        # The same thread count on both sides: sparserec's numba threads (at most numba's
        # maximum, the row says how many), numpy's BLAS and PyTorch's intra-op pool.
        for n in sorted({threads, 1}, reverse=True):
            torch.set_num_threads(n)
            numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
            with threadpool_limits(n, user_api="blas"):
                t_ours, _ = median_time(ours, repeats)
                t_torch, _ = median_time(reference, repeats)
            rows.append(dict(method=f"sparserec (hand-written backprop) {name}",
                             threads=numba.get_num_threads(), seconds=t_ours, ratio=1.0))
            rows.append(dict(method=f"PyTorch {torch.__version__} autograd {name}", threads=n,
                             seconds=t_torch, ratio=t_torch / t_ours))
    torch.set_num_threads(threads)
    numba.set_num_threads(numba_threads)
    return rows, loss_error, errors


COLUMNS = [("method", "method", "s"), ("threads", "threads", "d"), ("seconds", "s/epoch", ".2f"),
           ("ratio", "x sparserec", ".2f")]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sequences", type=int, default=500)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    print(machine())
    rows, loss_error, errors = run(args.repeats, args.sequences, args.threads)
    print(f"\nfloat64, one batch: loss relative difference {loss_error:.1e}; gradients: "
          + ", ".join(f"{k} {v:.1e}" for k, v in errors.items()))
    print_table(f"SISTA-RNN training, one epoch of {args.sequences} sequences, batch {BATCH} "
                f"(median of {args.repeats})", rows, COLUMNS)


if __name__ == "__main__":
    main()
