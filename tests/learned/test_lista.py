"""Tests of LISTA: ISTA at its initial parameters, and its hand-written gradients."""

import warnings

import numpy as np
import pytest

from sparserec import ista
from sparserec.learned import lista
from sparserec.learned.lista import LISTA, LISTAParams

B, M, N, K = 5, 8, 16, 3


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((M, N)) / np.sqrt(M)
    Y = rng.standard_normal((B, N)) * (rng.random((B, N)) < 0.3)
    X = Y @ A.T + 0.05 * rng.standard_normal((B, M))
    return A, X, Y


def _perturbed(A, seed=1, tied=True):
    """Initial parameters moved off ISTA, so that every gradient is exercised."""
    params = LISTAParams.initial(A, K, lam=0.05, tied=tied)
    rng = np.random.default_rng(seed)
    params.B += 0.05 * rng.standard_normal(params.B.shape)
    params.S += 0.05 * rng.standard_normal(params.S.shape)
    params.theta *= 1 + 0.3 * rng.random(K)
    return params


def _pre_activations(params, X, n):
    """Every layer's ``B x + S h_k``, for the distance to the kinks."""
    h = np.zeros((X.shape[0], params.S.shape[1]))
    out = []
    for k in range(n):
        z = X @ params.B.T + h @ params.S[0 if params.tied else k].T
        out.append(np.abs(np.abs(z) - max(params.theta[k], 0)).min())
        h = np.sign(z) * np.maximum(np.abs(z) - max(params.theta[k], 0), 0)
    return min(out)


def test_initial_lista_is_ista(problem):
    A, X, _ = problem
    lam = 0.1
    params = LISTAParams.initial(A, K, lam=lam)
    L = 1.001 * np.linalg.norm(A, 2) ** 2
    np.testing.assert_allclose(params.theta, lam / L)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tol=0: ista warns that it did not converge
        for n in (1, K):
            expected = ista(X, A, lam, alpha=L, max_iter=n, tol=0.0).h
            np.testing.assert_allclose(LISTA().forward(params, X, depth=n), expected,
                                       rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("tied", [True, False])
@pytest.mark.parametrize("n_layers", [K, 2, 1])
def test_every_gradient_matches_finite_differences(problem, n_layers, tied,
                                                   central_differences):
    A, X, Y = problem
    params = _perturbed(A, tied=tied)
    assert _pre_activations(params, X, n_layers) > 1e-4  # away from the kinks
    loss, grads = LISTA().loss_and_grad(params, X, Y, depth=n_layers)
    h = LISTA().forward(params, X, depth=n_layers)
    assert loss == pytest.approx(np.mean((h - Y) ** 2), rel=1e-12)
    eps = 1e-6
    for name in lista.PARAMETERS:
        a = getattr(params, name)
        assert grads[name].shape == a.shape and grads[name].dtype == np.float64
        numeric = central_differences(
            lambda: LISTA().loss_and_grad(params, X, Y, depth=n_layers)[0], a, eps)
        np.testing.assert_allclose(grads[name], numeric, rtol=1e-6,
                                   atol=1e-8 * np.abs(numeric).max(), err_msg=name)
    assert not grads["theta"][n_layers:].any()  # unused layers: exactly zero
    if n_layers == 1:
        assert not grads["S"].any()
    if not tied:  # S_0 multiplies h_0 = 0; the later layers' matrices are unused
        assert not grads["S"][0].any() and not grads["S"][n_layers:].any()


def test_loss_and_gradients_match_torch_autograd(problem):
    torch = pytest.importorskip("torch")
    A, X, Y = problem
    params = _perturbed(A)
    loss, grads = LISTA().loss_and_grad(params, X, Y)
    t = {name: torch.tensor(getattr(params, name), requires_grad=True)
         for name in lista.PARAMETERS}

    def soft(z, th):
        return torch.sign(z) * torch.relu(torch.abs(z) - torch.relu(th))

    x, y = torch.tensor(X), torch.tensor(Y)
    c = x @ t["B"].T
    h = soft(c, t["theta"][0])
    for k in range(1, K):
        h = soft(c + h @ t["S"][0].T, t["theta"][k])
    torch_loss = ((h - y) ** 2).mean()
    torch_loss.backward()
    assert loss == pytest.approx(torch_loss.item(), rel=1e-12)
    for name in lista.PARAMETERS:
        np.testing.assert_allclose(grads[name], t[name].grad.numpy(), rtol=1e-10,
                                   atol=1e-14, err_msg=name)


def test_bad_inputs_are_refused(problem):
    A, X, Y = problem
    params = LISTAParams.initial(A, K)
    bad = params.copy()
    bad.S = bad.S[:, :3]
    with pytest.raises(ValueError, match=r"params.S must have shape \(K, N, N\) = \(3, 16, 16\) "
                                         r"or \(1, 16, 16\)"):
        LISTA().forward(bad, X)
    bad = params.copy()
    bad.theta[1] = np.nan
    with pytest.raises(ValueError, match="params.theta contains NaN or Inf"):
        LISTA().forward(bad, X)
    bad = params.copy()
    bad.B[0, 0] = np.inf
    with pytest.raises(ValueError, match="params.B contains NaN or Inf"):
        LISTA().loss_and_grad(bad, X, Y)


@pytest.mark.parametrize("tied", [True, False])
@pytest.mark.parametrize("rows", [B, 300])
def test_sparse_products_and_threads_give_the_dense_results(problem, monkeypatch, rows, tied):
    A, X, Y = problem
    rng = np.random.default_rng(3)
    X = np.concatenate([X, rng.standard_normal((rows - B, M))]) if rows > B else X
    Y = np.concatenate([Y, rng.standard_normal((rows - B, N))]) if rows > B else Y
    params = _perturbed(A, tied=tied)
    params.theta[1:] *= 4  # sparser codes in the later layers: mixed paths
    monkeypatch.setattr(lista, "SPARSE_DENSITY", 0.0)  # BLAS only
    loss, grads = LISTA().loss_and_grad(params, X, Y)
    h = LISTA().forward(params, X)
    for density in (0.3, 1.1):
        monkeypatch.setattr(lista, "SPARSE_DENSITY", density)
        np.testing.assert_allclose(LISTA().forward(params, X), h, rtol=1e-12, atol=1e-14)
        other_loss, other = LISTA().loss_and_grad(params, X, Y)
        assert other_loss == pytest.approx(loss, rel=1e-12)
        for name in lista.PARAMETERS:
            np.testing.assert_allclose(other[name], grads[name], rtol=1e-10, atol=1e-14)
