"""The one-shot learned networks: NMSE against layers beside the classical solvers, the
worst codes, and training time.

Three parts, on the standard problem of the AMP literature (Borgerding, Schniter and
Rangan, *AMP-inspired deep networks for sparse linear inverse problems*, IEEE TSP 65(16),
2017): A with i.i.d. N(0, 1/M) entries, M = 250, N = 500, Bernoulli-Gaussian codes
(nonzero with probability 0.1, standard normal values), white noise at SNR 40 dB
(:func:`sparserec.make_bernoulli_gaussian`); NMSE over a test batch of 1000 codes.

``layers``: test NMSE after 1, 2, ..., K iterations of ISTA, FISTA (both on the lasso that
AMP's fixed point solves), AMP (default threshold), AMP with the minimax threshold and
AMP with the MMSE denoiser of the codes' Bernoulli-Gaussian prior (LAMP's two starting
points), and of every network of ``NETWORKS`` (LISTA tied and untied, LAMP with the soft
threshold and with the Bernoulli-Gaussian MMSE denoiser, LISTA-CPSS, ALISTA), trained
layer by layer (each stage ending after ``--patience`` epochs without a 0.01 dB gain on
1000 validation codes or after ``--max-epochs``; ``--train`` training codes, drawn fresh
after every epoch (``--data fixed``: the same codes throughout), batches of 100, Adam,
each network's learning rates of ``NETWORKS``), measured on the test batch at every depth
once that depth is trained, with each network's training time and number of trained
parameters, and the time to compute ALISTA's analytic weight. (The LAMP paper
trains much longer, on fresh batches of 1000 until 5000 steps bring no gain.) Also
printed: where the l1 solution lies (AMP run to convergence, "l1 floor"), and the
published figures that exist in text (see ``PUBLISHED``).

``worst``: the networks trained by ``layers``, on the test codes: the NMSE of the batch
beside the median, 99th percentile and worst error of single codes.

``time``: seconds per training epoch of LISTA and LAMP at full depth (``--train`` codes in
batches of 100, Adam), sparserec (hand-written backpropagation, numba kernels) against
the same network written in PyTorch with autograd, the same data, dtype and number of
threads; the two losses on one batch are compared first.

Run: ``python benchmarks/bench_unfolded.py layers [--layers 16] [--train 10000]`` (about 75
minutes on 2 cores; ``--networks ""``: the classical solvers only), ``python
benchmarks/bench_unfolded.py worst`` (seconds) and ``python benchmarks/bench_unfolded.py
time [--layers 10] [--train 5000]`` (ten minutes; needs PyTorch, ``pip install
sparserec[baselines]``; it also times the networks trained by ``layers`` with
``--layers 10``).
"""

import argparse
import csv
import time
import warnings
from pathlib import Path

import numpy as np

from sparserec import (ConvergenceWarning, amp, fista, ista, lipschitz_constant,
                       make_bernoulli_gaussian, nmse_db)
from sparserec.learned import (ALISTA, LAMP, LISTA, LISTACPSS, alista, lamp, lista, lista_cpss,
                               train)

try:
    from benchmarks._common import machine, median_time
except ImportError:
    from _common import machine, median_time

#: The figures of Borgerding, Schniter and Rangan's experiment that exist as text: their
#: code's README (github.com/mborgerding/onsager_deep_learning) and plotting script. The
#: per-layer curves of LAMP are published as figures only.
PUBLISHED = {
    "LISTA, 1 layer (README's training log)": -6.461,
    "support oracle (make_lamp_vamp_plots.py)": -45.97,
    "AMP after 100 iterations (README, ista_fista_amp.m)": -36.73,
}
PUBLISHED_ITERATIONS_TO_35DB = {"amp": 25, "fista": 202, "ista": 3420}

#: Every network measured: the network, its initial parameters for A and K layers, and its
#: training settings (learning rate of a new layer, factors of the refinement stages; None:
#: ``--refinements``). LISTA-CPSS and ALISTA train with their authors' settings.
NETWORKS = {
    "lista": (LISTA(), lambda A, K: lista.LISTAParams.initial(A, K, lam=0.1), (1e-3, None)),
    "lista-untied": (LISTA(), lambda A, K: lista.LISTAParams.initial(A, K, lam=0.1,
                                                                     tied=False), (1e-3, None)),
    "lamp-soft": (LAMP(), lambda A, K: lamp.LAMPParams.initial(A, K, denoiser="soft"),
                  (1e-3, None)),
    "lamp-bg": (LAMP(), lambda A, K: lamp.LAMPParams.initial(A, K, denoiser="bg",
                                                             sparsity=0.1), (1e-3, None)),
    "lista-cpss": (LISTACPSS(), lambda A, K: lista_cpss.LISTACPSSParams.initial(A, K, lam=0.4),
                   (5e-4, (0.2, 0.02))),
    "alista": (ALISTA(), lambda A, K: alista.ALISTAParams.initial(A, K, lam=0.4),
               (5e-4, (0.2, 0.02))),
}

#: Where ``layers`` leaves the trained parameters, which ``time`` also measures.
TRAINED = Path(__file__).resolve().parents[1] / "build" / "bench_unfolded"


def standard_problem(n_train, seed=0):
    X, H, A = make_bernoulli_gaussian(n_train, random_state=seed)
    X_val, H_val, _ = make_bernoulli_gaussian(1000, A, random_state=seed + 1)
    X_test, H_test, _ = make_bernoulli_gaussian(1000, A, random_state=seed + 2)
    return A, (X, H), (X_val, H_val), (X_test, H_test)


def classical_paths(A, X, H, K):
    """Test NMSE after 1..K iterations of ISTA, FISTA and AMP, and AMP converged."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        converged = amp(X, A, max_iter=2000, tol=1e-10)
        lam1 = float(converged.lam1_effective.mean())
        alpha = 1.001 * lipschitz_constant(A)
        paths = {
            "ista": [nmse_db(H, ista(X, A, lam1, alpha=alpha, max_iter=k, tol=0.0).h)
                     for k in range(1, K + 1)],
            "fista": [nmse_db(H, fista(X, A, lam1, max_iter=k, tol=0.0).h)
                      for k in range(1, K + 1)],
            "amp": [nmse_db(H, amp(X, A, max_iter=k, tol=0.0).h) for k in range(1, K + 1)],
        }
    # The networks before training: AMP with LAMP's starting thresholds (minimax), and
    # AMP with the MMSE denoiser of the codes' true Bernoulli-Gaussian prior.
    for name, label in (("lamp-soft", "amp-minimax"), ("lamp-bg", "amp-bg")):
        start = NETWORKS[name][1](A, K)
        paths[label] = [nmse_db(H, LAMP().forward(start, X, depth=k))
                        for k in range(1, K + 1)]
    return paths, nmse_db(H, converged.h)


def learned_path(name, A, pairs, val, test, K, args):
    """Train one network layer by layer: its test NMSE at every depth, the seconds, and the
    number of trained parameters."""
    path = []
    network, initial, (learning_rate, refinements) = NETWORKS[name]

    def on_depth(params, depth):
        path.append(nmse_db(test[1], network.forward(params, test[0], depth=depth)))
        print(f"  {name} depth {depth}: test NMSE {path[-1]:.2f} dB", flush=True)

    def resample(rng):  # fresh training codes every epoch, of the same model and A
        return make_bernoulli_gaussian(len(pairs[0]), A, random_state=rng)[:2]

    start = time.perf_counter()
    params = initial(A, K)
    result = train(network, params, *pairs, X_val=val[0], Y_val=val[1], layerwise=True,
                   resample=resample if args.data == "fresh" else None,
                   learning_rate=learning_rate, refinements=refinements or args.refinements,
                   batch_size=100, max_epochs=args.max_epochs, n_iter_no_change=args.patience,
                   tol=0.01, random_state=0, on_depth=on_depth, verbose=args.verbose)
    seconds = time.perf_counter() - start
    n_parameters = network.n_parameters(params)
    print(f"  {name}: {seconds / 60:.1f} min, {n_parameters} trained parameters", flush=True)
    TRAINED.mkdir(parents=True, exist_ok=True)  # for the timing part
    np.savez(TRAINED / f"{name}_K{K}.npz",
             **{key: getattr(result.params, key) for key in network.TRAINED})
    return path, seconds, n_parameters


def layers(args):
    A, pairs, val, test = standard_problem(args.train)
    K = args.layers
    paths, floor = classical_paths(A, *test, K)
    seconds, sizes = {}, {}
    for name in filter(None, args.networks.split(",")):
        paths[name], seconds[name], sizes[name] = learned_path(name, A, pairs, val, test, K,
                                                               args)
    codes = "fresh every epoch" if args.data == "fresh" else "the same every epoch"
    print(f"\nM=250, N=500, p=0.1, SNR 40 dB; {args.train} training codes, {codes}; "
          "test NMSE (dB)")
    names = list(paths)
    width = max(10, *map(len, names))
    print("layers " + " ".join(f"{name:>{width}s}" for name in names))
    for k in range(K):
        print(f"{k + 1:6d} " + " ".join(f"{paths[name][k]:{width}.2f}" for name in names))
    print(f"l1 floor (AMP converged, the lasso's solution): {floor:.2f} dB")
    for name, value in seconds.items():
        print(f"{name}: training {value / 60:.1f} min, {sizes[name]} trained parameters")
    if "alista" in seconds:
        start = time.perf_counter()
        alista.analytic_weight(A)
        print(f"alista's analytic weight: {time.perf_counter() - start:.2f} s to compute")
    print("published: " + "; ".join(f"{key} {value:.2f} dB" for key, value in
                                     PUBLISHED.items()))
    print("published iterations to -35 dB: " + ", ".join(
        f"{key} {value}" for key, value in PUBLISHED_ITERATIONS_TO_35DB.items()))
    if args.csv:
        with open(args.csv, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["layers"] + names)
            for k in range(K):
                writer.writerow([k + 1] + [f"{paths[name][k]:.3f}" for name in names])
        print(f"wrote {args.csv}")
    if args.plot:
        plot(paths, floor, args.plot)


def worst(args):
    """Every network trained by ``layers``, on the test codes: the mean NMSE and the
    worst codes' errors (``||h_hat - h||^2 / ||h||^2`` per code, in dB)."""
    A, _, _, (X_test, H_test) = standard_problem(args.train)
    K = args.layers
    print(f"test codes at {K} layers: NMSE (dB) of the whole batch, and per code: the "
          f"median, the 99th percentile and the worst")
    print(f"{'network':14s} {'NMSE':>7s} {'median':>7s} {'99%':>7s} {'worst':>7s}")
    for name, (network, initial, _) in NETWORKS.items():
        saved = TRAINED / f"{name}_K{K}.npz"
        if not saved.exists():
            print(f"{name:14s} (not trained: run the layers part first)")
            continue
        params = _load(initial(A, K), saved)
        H_hat = network.forward(params, X_test)
        per_code = 10 * np.log10(np.sum((H_hat - H_test) ** 2, axis=1)
                                 / np.maximum(np.sum(H_test ** 2, axis=1), 1e-300))
        print(f"{name:14s} {nmse_db(H_test, H_hat):7.2f} {np.median(per_code):7.2f} "
              f"{np.percentile(per_code, 99):7.2f} {per_code.max():7.2f}")


def _load(params, path):
    """``params`` with the arrays saved by ``layers``."""
    with np.load(path, allow_pickle=False) as arrays:
        for key in arrays.files:
            setattr(params, key, arrays[key])
    return params


def plot(paths, floor, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.2, 4.8))
    colors = plt.get_cmap("tab20").colors  # one color each, for up to 20 curves
    for index, (name, values) in enumerate(paths.items()):
        style = "-" if name in NETWORKS else "--"  # learned solid, classical dashed
        ax.plot(np.arange(1, len(values) + 1), values, style, marker="o", ms=3, label=name,
                color=colors[2 * index % 20 + 2 * index // 20])
    ax.axhline(floor, color="grey", lw=0.8, ls=":", label="l1 floor (AMP converged)")
    ax.axhline(PUBLISHED["support oracle (make_lamp_vamp_plots.py)"], color="k", lw=0.8,
               ls=":", label="support oracle (published)")
    ax.plot([1], [PUBLISHED["LISTA, 1 layer (README's training log)"]], "k*", ms=9,
            label="LISTA, 1 layer (published)")
    ax.set_xlabel("layers (iterations)")
    ax.set_ylabel("test NMSE (dB)")
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"wrote {path}")


def torch_lista(torch, t, x, y):
    """LISTA's loss in PyTorch; ``t``: dict of tensors B, S, theta."""
    def soft(z, th):
        return torch.sign(z) * torch.relu(torch.abs(z) - torch.relu(th))
    c = x @ t["B"].T
    h = soft(c, t["theta"][0])
    for k in range(1, t["theta"].shape[0]):
        h = soft(c + h @ t["S"][0].T, t["theta"][k])
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


def timing(args):
    import numba
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(args.threads)
    numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    A, (X, H), _, _ = standard_problem(args.train)
    print(machine())
    check_gradients(A, X[:args.batch], H[:args.batch], args.layers)
    print(f"{args.train} codes per epoch in batches of {args.batch}, K={args.layers}, "
          f"{args.threads} threads, Adam; median of {args.repeats} epochs")
    print(f"{'network':10s} {'parameters':10s} {'dtype':8s} {'sparserec s':>11s} "
          f"{'pytorch s':>9s} {'ratio':>6s}")
    with threadpool_limits(args.threads, user_api="blas"):
        for name in args.networks.split(","):
            for label, params in candidates(name, A, args.layers):
                for dtype in args.dtypes:
                    Xd, Hd = X.astype(dtype), H.astype(dtype)
                    epoch = lambda p=params, Xd=Xd, Hd=Hd, n=name: train(  # noqa: E731
                        NETWORKS[n][0], p, Xd, Hd, max_epochs=1, batch_size=args.batch,
                        random_state=0)
                    reference = lambda p=params, Xd=Xd, Hd=Hd, n=name: torch_epoch(  # noqa: E731
                        torch, n, p, Xd, Hd, args.batch)
                    epoch(), reference()  # compile, warm up
                    ours, _ = median_time(epoch, args.repeats)
                    theirs, _ = median_time(reference, args.repeats)
                    print(f"{name:10s} {label:10s} {dtype:8s} {ours:11.3f} {theirs:9.3f} "
                          f"{theirs / ours:6.2f}", flush=True)


def candidates(name, A, K):
    """The network at its initial parameters, and as trained by ``layers`` if saved."""
    out = [("initial", NETWORKS[name][1](A, K))]
    saved = TRAINED / f"{name}_K{K}.npz"
    if saved.exists():
        out.append(("trained", _load(NETWORKS[name][1](A, K), saved)))
    return out


def check_gradients(A, X, H, K):
    """Loss and gradients of sparserec against PyTorch autograd, float64, one batch."""
    import torch

    for name in TORCH_NETWORKS:
        network, initial, _ = NETWORKS[name]
        params = initial(A, K)
        loss, grads = network.loss_and_grad(params, X, H)
        reference, t = torch_loss(torch, name, params, X, H, np.float64)
        reference.backward()
        errors = ", ".join(f"{k} {relative(grads[k], v.grad.numpy()):.1e}"
                           for k, v in t.items())
        print(f"{name}: loss {loss:.6g}, pytorch {reference.item():.6g}; relative gradient "
              f"differences {errors}")


#: The networks the ``time`` part writes in PyTorch.
TORCH_NETWORKS = ("lista", "lamp-soft", "lamp-bg")


def relative(a, b):
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300))


def torch_loss(torch, name, params, X, Y, dtype):
    """The network's loss in PyTorch, and its parameters as tensors."""
    tdt = getattr(torch, np.dtype(dtype).name)
    names = ("B", "S", "theta") if name == "lista" else ("B", "theta")
    t = {k: torch.tensor(getattr(params, k), dtype=tdt, requires_grad=True) for k in names}
    x, y = torch.as_tensor(X, dtype=tdt), torch.as_tensor(Y, dtype=tdt)
    if name == "lista":
        return torch_lista(torch, t, x, y), t
    return torch_lamp(torch, t, torch.tensor(params.A, dtype=tdt), x, y, params.denoiser), t


def torch_epoch(torch, name, params, X, Y, batch):
    """One epoch of Adam in PyTorch over the batches of sparserec's first epoch."""
    _, t = torch_loss(torch, name, params, X[:1], Y[:1], X.dtype)
    optimizer = torch.optim.Adam(list(t.values()), lr=1e-3)
    order = np.random.default_rng(0).permutation(len(X))
    x_all, y_all = torch.from_numpy(X), torch.from_numpy(Y)
    for first in range(0, len(X), batch):
        rows = torch.from_numpy(order[first:first + batch])
        optimizer.zero_grad()
        x, y = x_all[rows], y_all[rows]
        if name == "lista":
            loss = torch_lista(torch, t, x, y)
        else:
            loss = torch_lamp(torch, t, torch.as_tensor(params.A, dtype=x.dtype), x, y,
                              params.denoiser)
        loss.backward()
        optimizer.step()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=["layers", "worst", "time"])
    parser.add_argument("--layers", type=int, default=None,
                        help="K (default 16 for layers, 10 for time)")
    parser.add_argument("--train", type=int, default=None,
                        help="training codes (default 10000 for layers, 5000 for time)")
    parser.add_argument("--networks", default=None,
                        help="default: every network for layers, those in PyTorch for time")
    parser.add_argument("--data", choices=["fresh", "fixed"], default="fresh",
                        help="layers: new training codes every epoch, or the same ones")
    parser.add_argument("--patience", type=int, default=2,
                        help="epochs without a 0.01 dB gain that end a stage")
    parser.add_argument("--max-epochs", type=int, default=10, help="per stage")
    parser.add_argument("--refinements", type=float, nargs="*", default=[0.1],
                        help="learning-rate factors of the stages that refine all layers")
    parser.add_argument("--dtypes", nargs="+", default=["float32", "float64"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--csv", default=None)
    parser.add_argument("--plot", default=None)
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    if args.networks is None:
        args.networks = ",".join(NETWORKS if args.part == "layers" else TORCH_NETWORKS)
    args.layers = args.layers or (10 if args.part == "time" else 16)
    if args.part in ("layers", "worst"):
        args.train = args.train or 10_000
        (layers if args.part == "layers" else worst)(args)
    else:
        args.train = args.train or 5000
        timing(args)


if __name__ == "__main__":
    main()
