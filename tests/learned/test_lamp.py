"""Tests of LAMP: AMP at its initial parameters, the Bernoulli-Gaussian denoiser, and the
hand-written gradients."""

import warnings

import numpy as np
import pytest
from scipy import integrate

from sparserec import amp
from sparserec.learned import _unfolded_kernels as kernels
from sparserec.learned import lamp
from sparserec.learned.lamp import LAMP, LAMPParams

B, M, N, K = 5, 8, 16, 3


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((M, N))
    A *= np.sqrt(N) / np.linalg.norm(A)  # columns of unit mean norm
    Y = rng.standard_normal((B, N)) * (rng.random((B, N)) < 0.25)
    X = Y @ A.T + 0.05 * rng.standard_normal((B, M))
    return A, X, Y


def _perturbed(A, denoiser, tied, seed=1):
    """Initial parameters moved off AMP, so that every gradient is exercised."""
    params = LAMPParams.initial(A, K, denoiser=denoiser, tied=tied)
    rng = np.random.default_rng(seed)
    params.B = params.B + 0.05 * rng.standard_normal(params.B.shape)
    params.theta = params.theta + 0.1 * rng.standard_normal(params.theta.shape)
    return params


def _torch_loss(torch, t, A, x, y, denoiser, n):
    """The equations in PyTorch, autograd for the gradients (second derivatives of the
    denoiser included, through the Onsager coefficient)."""
    h = b = v = None
    for s in range(n):
        v = x if s == 0 else x - h @ A.T + b[:, None] * v
        sigma = torch.sqrt((v * v).sum(1) / M).clamp_min(lamp.FLOOR)[:, None]
        r = (0 if s == 0 else h) + v @ t["B"][0 if t["B"].shape[0] == 1 else s].T
        th0, th1 = t["theta"][s, 0], t["theta"][s, 1]
        if denoiser == "soft":
            tau = torch.relu(th0) * sigma
            h = th1 * torch.sign(r) * torch.relu(torch.abs(r) - tau)
            b = th1 * (torch.abs(r) > tau).sum(1).to(x.dtype) / M
        else:
            nu, lam, s2 = torch.exp(th0), torch.sigmoid(th1), sigma**2
            on = lam * torch.exp(-r**2 / (2 * (nu + s2))) / torch.sqrt(nu + s2)
            off = (1 - lam) * torch.exp(-r**2 / (2 * s2)) / torch.sqrt(s2)
            p = on / (on + off)
            h = p * nu / (nu + s2) * r
            (d,) = torch.autograd.grad(h.sum(), r, create_graph=True)
            b = d.sum(1) / M
    return ((h - y) ** 2).mean()


def _distance_to_kinks(params, X, n):
    """The least ``||r| - alpha sigma|`` over the layers, by the equations in numpy."""
    h = np.zeros((X.shape[0], N))
    b = v = None
    out = []
    for t in range(n):
        v = X if t == 0 else X - h @ params.A.T + b[:, None] * v
        sigma = np.sqrt((v * v).sum(1) / M)[:, None]
        r = h + v @ params.B[0 if params.tied else t].T
        alpha, beta = params.theta[t]
        tau = max(alpha, 0) * sigma
        out.append(np.abs(np.abs(r) - tau).min())
        h = beta * np.sign(r) * np.maximum(np.abs(r) - tau, 0)
        b = beta * (np.abs(r) > tau).sum(1) / M
    return min(out)


@pytest.mark.parametrize("tied", [False, True])
def test_initial_lamp_is_amp(problem, tied):
    A, X, _ = problem
    params = LAMPParams.initial(A, K, tied=tied)
    assert params.tied == tied and params.B.shape == ((1,) if tied else (K,)) + (N, M)
    alpha = params.theta[0, 0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tol=0: amp warns that it did not converge
        for n in (1, 2, K):
            expected = amp(X, A, tau=alpha, max_iter=n, tol=0.0, damping=0).h
            np.testing.assert_allclose(LAMP().forward(params, X, depth=n), expected,
                                       rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("denoiser", ["soft", "bg"])
@pytest.mark.parametrize("tied", [False, True])
@pytest.mark.parametrize("n_layers", [K, 2])
def test_every_gradient_matches_finite_differences(problem, denoiser, tied, n_layers,
                                                   central_differences):
    A, X, Y = problem
    params = _perturbed(A, denoiser, tied)
    if denoiser == "soft":
        assert _distance_to_kinks(params, X, n_layers) > 1e-4  # FD valid
    loss, grads = LAMP().loss_and_grad(params, X, Y, depth=n_layers)
    h = LAMP().forward(params, X, depth=n_layers)
    assert loss == pytest.approx(np.mean((h - Y) ** 2), rel=1e-12)
    eps = 1e-6
    for name in ("B", "theta"):
        a = getattr(params, name)
        assert grads[name].shape == a.shape and grads[name].dtype == np.float64
        numeric = central_differences(
            lambda: LAMP().loss_and_grad(params, X, Y, depth=n_layers)[0], a, eps)
        np.testing.assert_allclose(grads[name], numeric, rtol=1e-5,
                                   atol=1e-7 * np.abs(numeric).max(), err_msg=name)
    assert not grads["theta"][n_layers:].any()  # unused layers: exactly zero
    if not tied:
        assert not grads["B"][n_layers:].any()


def _bg_quadrature(r, sigma, nu, lam):
    """``E[x | r]`` by numerical integration over the Gaussian component."""
    def joint(x):  # N(x; 0, nu) N(r - x; 0, sigma^2)
        return (np.exp(-x * x / (2 * nu) - (r - x) ** 2 / (2 * sigma**2))
                / (2 * np.pi * np.sqrt(nu) * sigma))
    lo, hi = r - 12 * sigma, r + 12 * sigma  # where the integrand lives (sigma < nu here)
    num = lam * integrate.quad(lambda x: x * joint(x), lo, hi, epsabs=1e-14, epsrel=1e-12)[0]
    den = lam * integrate.quad(joint, lo, hi, epsabs=1e-14, epsrel=1e-12)[0]
    den += (1 - lam) * np.exp(-r * r / (2 * sigma**2)) / (np.sqrt(2 * np.pi) * sigma)
    return num / den


@pytest.mark.parametrize("r", [-2.3, -0.4, 0.0, 0.15, 0.9, 3.0])
@pytest.mark.parametrize("sigma, nu, lam", [(0.3, 1.0, 0.1), (0.5, 2.0, 0.4), (0.1, 0.5, 0.05)])
def test_bg_posterior_mean_and_its_derivatives(r, sigma, nu, lam):
    th = (np.log(nu), np.log(lam / (1 - lam)))
    values = kernels.bg_all(r, sigma, *th)
    assert values[0] == pytest.approx(_bg_quadrature(r, sigma, nu, lam), rel=1e-8, abs=1e-12)
    assert kernels.bg_value(r, sigma, *th) == pytest.approx(values[:2], rel=1e-14)
    # every partial derivative of eta and eta' against central differences
    eps = 1e-6
    args = np.array([r, sigma, *th])
    for i, (eta_i, d_i) in zip(range(4), [(1, 5), (2, 6), (3, 7), (4, 8)], strict=True):
        up, down = args.copy(), args.copy()
        up[i] += eps
        down[i] -= eps
        plus, minus = kernels.bg_all(*up), kernels.bg_all(*down)
        for k, which in ((0, eta_i), (1, d_i)):
            numeric = (plus[k] - minus[k]) / (2 * eps)
            assert values[which] == pytest.approx(numeric, rel=1e-6, abs=1e-8), (i, k)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bg_denoiser_stays_finite_for_extreme_inputs(dtype):
    big = 1e30 if dtype == np.float32 else 1e200
    rs = np.array([0.0, 1e-30, -1e-8, 1.0, -50.0, 1e6, -1e15, big], dtype)
    for sigma in (lamp.FLOOR, 1e-6, 1.0, 1e4):
        for th in [(0.0, -2.0), (30.0, 20.0), (-30.0, -20.0), (5.0, -40.0)]:
            R = np.tile(rs, (2, 1))
            Z = np.zeros_like(R)
            out = [np.empty_like(R), np.empty_like(R), np.empty(2, dtype)]
            sig = np.full(2, sigma, dtype)
            kernels.bg_layer(Z, R, sig, *th, M, *out)
            assert np.isfinite(out[1]).all() and np.isfinite(out[2]).all()
            Rbar, sbar = np.empty_like(R), np.empty(2, dtype)
            g = kernels.bg_layer_backward(np.ones_like(R) * dtype(1e-3), R, False, R, sig,
                                          *th, np.ones(2, dtype), M, Rbar, sbar)
            assert np.isfinite(g).all(), (sigma, th)
            # derivatives of eta at |r| ~ 1e30 and sigma = 1e-12 exceed float32's range
            small = np.abs(R) < 1e10
            assert np.isfinite(Rbar[small]).all() and np.isfinite(sbar).all() or sigma < 1e-5


def test_bg_denoiser_limits():
    # a large observation is kept, shrunk by nu / (nu + s); a tiny one is zeroed
    eta, d = kernels.bg_value(1e6, 1.0, np.log(4.0), 0.0)
    assert eta == pytest.approx(0.8e6) and d == pytest.approx(0.8)
    eta, d = kernels.bg_value(1e-3, 1e-3, 0.0, -5.0)
    assert abs(eta) < 1e-5 and 0 <= d < 0.1


@pytest.mark.parametrize("denoiser", ["soft", "bg"])
@pytest.mark.parametrize("tied", [False, True])
def test_loss_and_gradients_match_torch_autograd(problem, denoiser, tied):
    torch = pytest.importorskip("torch")
    A, X, Y = problem
    params = _perturbed(A, denoiser, tied)
    loss, grads = LAMP().loss_and_grad(params, X, Y)
    t = {name: torch.tensor(getattr(params, name), requires_grad=True)
         for name in ("B", "theta")}
    torch_loss = _torch_loss(torch, t, torch.tensor(A), torch.tensor(X), torch.tensor(Y),
                             denoiser, K)
    torch_loss.backward()
    assert loss == pytest.approx(torch_loss.item(), rel=1e-10)
    for name in ("B", "theta"):
        np.testing.assert_allclose(grads[name], t[name].grad.numpy(), rtol=1e-8,
                                   atol=1e-12, err_msg=name)


def test_a_zero_residual_is_floored(problem):
    A, X, Y = problem
    params = LAMPParams.initial(A, K, denoiser="bg")
    Z = np.zeros_like(X)
    Z[1] = X[1]
    h = LAMP().forward(params, Z)
    assert np.isfinite(h).all() and not h[0].any()
    loss, grads = LAMP().loss_and_grad(params, Z, Y)
    assert np.isfinite(loss) and all(np.isfinite(g).all() for g in grads.values())


def test_bad_inputs_are_refused(problem):
    A, X, Y = problem
    params = LAMPParams.initial(A, K)
    bad = params.copy()
    bad.B = bad.B[:2]
    with pytest.raises(ValueError, match=r"params.B must have shape \(K, N, M\) = \(3, 16, 8\)"):
        LAMP().forward(bad, X)
    bad = params.copy()
    bad.theta = bad.theta[:, :1]
    with pytest.raises(ValueError, match=r"params.theta must have shape \(K, 2\)"):
        LAMP().forward(bad, X)
    bad = params.copy()
    bad.theta[0, 1] = np.inf
    with pytest.raises(ValueError, match="params.theta contains NaN or Inf"):
        LAMP().forward(bad, X)
    bad = params.copy()
    bad.denoiser = "hard"
    with pytest.raises(ValueError, match="params.denoiser must be one of 'soft', 'bg'"):
        LAMP().forward(bad, X)
    with pytest.raises(ValueError, match="denoiser must be one of"):
        LAMPParams.initial(A, K, denoiser="relu")
    with pytest.raises(ValueError, match="sparsity in"):
        LAMPParams.initial(A, K, denoiser="bg", sparsity=1.5)


def test_initial_parameters(problem):
    A, _, _ = problem
    params = LAMPParams.initial(2 * A, 4, denoiser="bg", nu=2.0, sparsity=0.2)
    np.testing.assert_allclose(params.B[3], (2 * A).T / 4)  # unit mean column norm
    np.testing.assert_allclose(params.theta, [[np.log(2.0), np.log(0.25)]] * 4)
    assert params.n_layers == 4 and not params.tied
    other = params.copy()
    other.B[0, 0, 0] += 1
    assert other.B[0, 0, 0] != params.B[0, 0, 0] and other.denoiser == "bg"
