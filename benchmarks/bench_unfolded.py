"""LISTA and LAMP: one ``loss_and_grad`` call against PyTorch autograd of the same equations.

The standard size of the LAMP paper (M=250, N=500, batches of 1000, K=10): Bernoulli-Gaussian
codes with 10% nonzero entries, a Gaussian matrix of columns of unit mean norm, noise at
40 dB. Each network at its initial parameters (LISTA: ISTA with ``lam = 0.1``; LAMP: AMP),
and again after perturbing them (``--trained-like``: larger thresholds, as training tends
to give, so sparser codes). Before timing, the loss and the gradients of both are compared
(float64). Both sides run 2 threads (``torch.set_num_threads``; numpy's BLAS and our
kernels' threads through threadpoolctl and numba).

Run: ``python benchmarks/bench_unfolded.py [--repeats 5] [--dtypes float32 float64]``
"""

import argparse

import numba
import numpy as np
from threadpoolctl import threadpool_limits

from sparserec.learned import lamp, lista

try:
    from benchmarks._common import machine, median_time
except ImportError:
    from _common import machine, median_time

M, N, BATCH, K = 250, 500, 1000, 10


def data(seed=0, density=0.1):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((M, N)) / np.sqrt(M)
    Y = rng.standard_normal((BATCH, N)) * (rng.random((BATCH, N)) < density)
    X0 = Y @ A.T
    X = X0 + rng.standard_normal(X0.shape) * np.sqrt(np.mean(X0**2) * 1e-4)
    return A, X, Y


def torch_lista(torch, t, x, y):
    """LISTA's loss in PyTorch; ``t``: dict of tensors B, S, theta."""
    def soft(z, th):
        return torch.sign(z) * torch.relu(torch.abs(z) - torch.relu(th))
    c = x @ t["B"].T
    h = soft(c, t["theta"][0])
    for k in range(1, t["theta"].shape[0]):
        h = soft(c + h @ t["S"].T, t["theta"][k])
    return ((h - y) ** 2).mean()


def torch_lamp(torch, t, A, x, y, denoiser, floor=lamp.FLOOR):
    """LAMP's loss in PyTorch; ``t``: dict of tensors B (L, N, M) and theta (K, 2)."""
    Mx = x.shape[1]
    h = b = v = None
    n = t["theta"].shape[0]
    for s in range(n):
        v = x if s == 0 else x - h @ A.T + b[:, None] * v
        sigma = torch.sqrt((v * v).sum(1) / Mx).clamp_min(floor)[:, None]
        Bt = t["B"][0 if t["B"].shape[0] == 1 else s]
        r = v @ Bt.T if s == 0 else h + v @ Bt.T
        th0, th1 = t["theta"][s, 0], t["theta"][s, 1]
        if denoiser == "soft":
            tau = torch.relu(th0) * sigma
            h = th1 * torch.sign(r) * torch.relu(torch.abs(r) - tau)
            b = th1 * (torch.abs(r) > tau).sum(1).to(x.dtype) / Mx
        else:
            logs = 2 * torch.log(sigma)
            g = torch.sigmoid(th0 - logs)
            w = g * (r / sigma) ** 2
            u = th1 - 0.5 * torch.nn.functional.softplus(th0 - logs) + 0.5 * w
            p = torch.sigmoid(u)
            h = p * g * r
            b = (g * p + g * w * p * (1 - p)).sum(1) / Mx
    return ((h - y) ** 2).mean()


def cases(trained_like):
    A, X, Y = data()
    pl = lista.LISTAParams.initial(A, K, lam=0.1)
    soft = lamp.LAMPParams.initial(A, K)
    bg = lamp.LAMPParams.initial(A, K, denoiser="bg")
    if trained_like:  # larger thresholds: sparser codes
        pl.theta *= 10
        soft.theta[:, 0] = 2.0
    return A, X, Y, [("LISTA", pl), ("LAMP soft", soft), ("LAMP bg", bg)]


def ours(params, X, Y, dtype):
    if isinstance(params, lista.LISTAParams):
        return lista.loss_and_grad(params, X, Y, dtype=dtype)
    return lamp.loss_and_grad(params, X, Y, dtype=dtype)


def theirs(torch, params, A, X, Y, dtype):
    tdt = getattr(torch, dtype)
    x, y = torch.tensor(X, dtype=tdt), torch.tensor(Y, dtype=tdt)
    if isinstance(params, lista.LISTAParams):
        t = {k: torch.tensor(getattr(params, k), dtype=tdt, requires_grad=True)
             for k in ("B", "S", "theta")}
        loss = torch_lista(torch, t, x, y)
    else:
        t = {k: torch.tensor(getattr(params, k), dtype=tdt, requires_grad=True)
             for k in ("B", "theta")}
        loss = torch_lamp(torch, t, torch.tensor(A, dtype=tdt), x, y, params.denoiser)
    loss.backward()
    return loss.item(), {k: v.grad.numpy() for k, v in t.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--dtypes", nargs="+", default=["float32", "float64"])
    parser.add_argument("--trained-like", action="store_true")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    print(machine())
    A, X, Y, nets = cases(args.trained_like)
    with threadpool_limits(args.threads, user_api="blas"):
        for name, params in nets:
            lo, go = ours(params, X, Y, "float64")
            lt, gt = theirs(torch, params, A, X, Y, "float64")
            errs = ", ".join(f"{k} {np.linalg.norm(go[k] - gt[k]) / np.linalg.norm(gt[k]):.1e}"
                             for k in gt)
            print(f"{name}: loss {lo:.6g} vs torch {lt:.6g}; relative gradient errors {errs}")
        print(f"\nM={M} N={N} batch={BATCH} K={K}, {args.threads} threads, median of "
              f"{args.repeats}" + (" (trained-like thresholds)" if args.trained_like else ""))
        print(f"{'network':12s} {'dtype':8s} {'ours (s)':>9s} {'torch (s)':>10s} {'ratio':>6s}")
        for name, params in nets:
            for dtype in args.dtypes:
                Xd, Yd = X.astype(dtype), Y.astype(dtype)
                ours(params, Xd, Yd, dtype)  # compile / warm up
                theirs(torch, params, A, Xd, Yd, dtype)
                run = (params, Xd, Yd, dtype)
                t_ours, _ = median_time(lambda run=run: ours(*run), args.repeats)
                t_torch, _ = median_time(lambda run=run: theirs(torch, run[0], A, *run[1:]),
                                         args.repeats)
                print(f"{name:12s} {dtype:8s} {t_ours:9.4f} {t_torch:10.4f} "
                      f"{t_torch / t_ours:6.2f}")


if __name__ == "__main__":
    main()
