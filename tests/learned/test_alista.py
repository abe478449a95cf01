"""Tests of ALISTA: its analytic weight, LISTA-CPSS with ``W_k = gamma_k W``, and its
hand-written gradients."""

import warnings

import numpy as np
import pytest

from sparserec import ista
from sparserec.learned import alista
from sparserec.learned.alista import ALISTA, ALISTAParams, analytic_weight
from sparserec.learned.lista_cpss import LISTACPSS, LISTACPSSParams, support_sizes

B, M, N, K = 5, 10, 20, 3
#: The support selection of most tests: n_k = 2, 4, 5 of the N = 20 entries.
P, P_MAX = 10.0, 25.0


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((M, N))
    A /= np.linalg.norm(A, axis=0)
    Y = rng.standard_normal((B, N)) * (rng.random((B, N)) < 0.2)
    X = Y @ A.T + 0.02 * rng.standard_normal((B, M))
    return A, X, Y


def _perturbed(A, seed=0):
    """Initial parameters moved off their start (the seed: one whose codes stay 1e-4 clear
    of the kinks and jumps, for the central differences)."""
    params = ALISTAParams.initial(A, K, lam=0.1)
    rng = np.random.default_rng(seed)
    params.gamma = 0.6 + 0.2 * rng.random(K)
    params.theta *= 1 + 0.3 * rng.random(K)
    return params


def _eta_ss(z, theta, n):
    """The support-selecting threshold, row by row (ties: the lower index first)."""
    t = max(theta, 0.0)
    out = np.sign(z) * np.maximum(np.abs(z) - t, 0.0)
    for b in range(z.shape[0]):
        top = np.argsort(-np.abs(z[b]), kind="stable")[:n]
        top = top[np.abs(z[b, top]) > t]
        out[b, top] = z[b, top]
    return out


def _reference(params, X, sizes, n):
    """ALISTA's equations in plain numpy: the codes and every layer's ``z``."""
    h = np.zeros((X.shape[0], params.A.shape[1]))
    zs = []
    for k in range(n):
        z = h + params.gamma[k] * (X - h @ params.A.T) @ params.W
        h = _eta_ss(z, params.theta[k], sizes[k])
        zs.append(z)
    return h, zs


def _margin(zs, theta, sizes):
    """The distance of every |z| to its threshold and of the n_k-th largest |z| of every
    row to the next."""
    gaps = []
    for z, th, n in zip(zs, theta, sizes, strict=False):
        gaps.append(np.abs(np.abs(z) - max(th, 0)).min())
        if 0 < n < z.shape[1]:
            s = -np.sort(-np.abs(z), axis=1)
            gaps.append((s[:, n - 1] - s[:, n]).min())
    return min(gaps)


def _projected_gradient(A, steps):
    """The analytic weight's problem solved by projected gradient descent."""
    W = A.copy()
    eye = np.eye(A.shape[1])
    norms = np.sum(A * A, axis=0)
    for _ in range(steps):
        W = W - 0.1 * A @ (A.T @ W - eye)
        W = W + (1 - np.sum(A * W, axis=0)) * A / norms
    return W


def _off_diagonal(C):
    return C[~np.eye(C.shape[0], dtype=bool)]


def test_analytic_weight_solves_its_problem():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((25, 50))
    A /= np.linalg.norm(A, axis=0)
    W = analytic_weight(A)
    assert W.shape == A.shape and W.dtype == np.float64
    np.testing.assert_allclose(np.diag(W.T @ A), 1.0, rtol=0, atol=1e-10)
    np.testing.assert_allclose(W, _projected_gradient(A, 2000), rtol=0, atol=1e-8)
    # the Frobenius norm is what it minimises, A itself being feasible
    assert np.linalg.norm(_off_diagonal(W.T @ A)) < 0.8 * np.linalg.norm(_off_diagonal(A.T @ A))


def test_analytic_weight_mostly_lowers_the_mutual_coherence():
    # max_{i != j} |w_i^T a_j| is not what it minimises: lower than A's for most A, not all
    lower = 0
    for seed in range(20):
        A = np.random.default_rng(seed).standard_normal((25, 50))
        A /= np.linalg.norm(A, axis=0)
        W = analytic_weight(A)
        lower += np.abs(_off_diagonal(W.T @ A)).max() < np.abs(_off_diagonal(A.T @ A)).max()
    assert lower >= 16


def test_analytic_weight_refuses_bad_matrices():
    rng = np.random.default_rng(1)
    A = rng.standard_normal((6, 12))
    zero = A.copy()
    zero[:, 4] = 0
    with pytest.raises(ValueError, match=r"A has 1 zero column\(s\) \(e.g. column 4\)"):
        analytic_weight(zero)
    dependent = A.copy()
    dependent[5] = dependent[2] - 2 * dependent[0]
    with pytest.raises(ValueError, match="A must have full row rank .* singular"):
        analytic_weight(dependent)
    with pytest.raises(ValueError, match="more rows than columns"):
        analytic_weight(A.T)
    with pytest.raises(ValueError, match="A contains NaN or Inf"):
        analytic_weight(np.full((2, 3), np.nan))
    with pytest.raises(ValueError, match="A has 1 zero column"):
        ALISTAParams.initial(zero, K)


def test_initial_parameters(problem):
    A, _, _ = problem
    params = ALISTAParams.initial(A, K, lam=0.3)
    L = 1.001 * np.linalg.norm(A, 2) ** 2
    np.testing.assert_allclose(params.theta, 0.3 / L)
    np.testing.assert_array_equal(params.gamma, np.ones(K))
    np.testing.assert_array_equal(params.W, analytic_weight(A))
    assert params.n_layers == K
    given = ALISTAParams.initial(A, K, W=A)
    np.testing.assert_array_equal(given.W, A)
    with pytest.raises(ValueError, match=r"W must have the shape of A, \(10, 20\)"):
        ALISTAParams.initial(A, K, W=A[:, :3])


def test_with_ista_weight_and_no_selection_is_ista(problem):
    A, X, _ = problem
    lam = 0.1
    L = 1.001 * np.linalg.norm(A, 2) ** 2
    params = ALISTAParams.initial(A, K, lam=lam, W=A / L)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tol=0: ista warns that it did not converge
        for n in (1, K):
            expected = ista(X, A, lam, alpha=L, max_iter=n, tol=0.0).h
            np.testing.assert_allclose(ALISTA(p=0).forward(params, X, depth=n), expected,
                                       rtol=1e-12, atol=1e-13)


def test_forward_matches_the_numpy_reference(problem):
    A, X, _ = problem
    X = np.concatenate([X, np.zeros((1, M))])  # a zero row: zero codes throughout
    params = _perturbed(A)
    sizes = support_sizes(N, K, P, P_MAX)
    for n in (1, K):
        out = ALISTA(p=P, p_max=P_MAX).forward(params, X, depth=n)
        np.testing.assert_allclose(out, _reference(params, X, sizes, n)[0], rtol=1e-12,
                                   atol=1e-14)
        assert not out[-1].any()


def test_it_is_lista_cpss_with_scaled_weights(problem):
    A, X, Y = problem
    params = _perturbed(A)
    untied = LISTACPSSParams(A=A, W=params.gamma[:, None, None] * params.W,
                             theta=params.theta)
    np.testing.assert_allclose(ALISTA(p=P, p_max=P_MAX).forward(params, X),
                               LISTACPSS(p=P, p_max=P_MAX).forward(untied, X), rtol=1e-12,
                               atol=1e-14)
    loss, grads = ALISTA(p=P, p_max=P_MAX).loss_and_grad(params, X, Y)
    cpss_loss, cpss_grads = LISTACPSS(p=P, p_max=P_MAX).loss_and_grad(untied, X, Y)
    assert loss == pytest.approx(cpss_loss, rel=1e-12)
    np.testing.assert_allclose(grads["gamma"], np.einsum("kmn,mn->k", cpss_grads["W"], params.W),
                               rtol=1e-10)
    np.testing.assert_allclose(grads["theta"], cpss_grads["theta"], rtol=1e-10)


@pytest.mark.parametrize("n_layers, p", [(K, P), (2, P), (1, P), (K, 0.0)])
def test_every_gradient_matches_central_differences(problem, n_layers, p, central_differences):
    A, X, Y = problem
    params = _perturbed(A)
    sizes = support_sizes(N, K, p, P_MAX)
    h, zs = _reference(params, X, sizes, n_layers)
    assert _margin(zs, params.theta, sizes) > 1e-4  # away from the kinks and the jumps
    loss, grads = ALISTA(p=p, p_max=P_MAX).loss_and_grad(params, X, Y, depth=n_layers)
    assert loss == pytest.approx(np.mean((h - Y) ** 2), rel=1e-12)

    def mse():
        out = ALISTA(p=p, p_max=P_MAX).forward(params, X, depth=n_layers)
        return np.mean((out - Y) ** 2)

    for name in alista.PARAMETERS:
        a = getattr(params, name)
        assert grads[name].shape == (K,) and grads[name].dtype == np.float64
        numeric = central_differences(mse, a, 1e-6)
        np.testing.assert_allclose(grads[name], numeric, rtol=1e-6,
                                   atol=1e-8 * np.abs(numeric).max(), err_msg=name)
        assert not grads[name][n_layers:].any()  # unused layers: exactly zero


def test_depth_runs_the_first_layers(problem):
    A, X, Y = problem
    params = _perturbed(A)
    net = ALISTA(p=P, p_max=P_MAX)
    short = ALISTAParams(A=A, W=params.W, gamma=params.gamma[:2], theta=params.theta[:2])
    np.testing.assert_array_equal(net.forward(params, X, depth=2), net.forward(short, X))
    loss, grads = net.loss_and_grad(params, X, Y, depth=2)
    short_loss, short_grads = net.loss_and_grad(short, X, Y)
    assert loss == pytest.approx(short_loss, rel=1e-14)
    for name in alista.PARAMETERS:
        np.testing.assert_allclose(grads[name][:2], short_grads[name], rtol=1e-12)


def test_the_network_class(problem):
    A, X, Y = problem
    net = ALISTA()
    assert (net.name, net.p, net.p_max) == ("alista", 1.2, 13.0)
    assert net.TRAINED == ("gamma", "theta") and net.LAYERED == ("theta", "gamma")
    params = _perturbed(A)
    assert net.n_layers(params) == K and net.n_parameters(params) == 2 * K
    loss, grads = net.loss_and_grad(params, X, Y, names=["gamma"])
    assert list(grads) == ["gamma"]
    with pytest.raises(ValueError, match="alista cannot train"):
        net.loss_and_grad(params, X, Y, names="W")
    arrays = net.to_arrays(params)
    assert sorted(arrays) == ["A", "W", "gamma", "theta"]
    np.testing.assert_array_equal(net.forward(net.from_arrays(arrays), X), net.forward(params, X))
    other = params.copy()
    other.gamma[0] += 1
    assert other.gamma[0] != params.gamma[0] and other.W.dtype == np.float64


def test_bad_inputs_are_refused(problem):
    A, X, Y = problem
    params = _perturbed(A)
    bad = params.copy()
    bad.W = bad.W[:, :4]
    with pytest.raises(ValueError, match=r"params.W must have shape \(M, N\) = \(10, 20\)"):
        ALISTA().forward(bad, X)
    bad = params.copy()
    bad.gamma = bad.gamma[:2]
    with pytest.raises(ValueError, match=r"params.gamma must have shape \(K,\) = \(3,\)"):
        ALISTA().forward(bad, X)
    with pytest.raises(ValueError, match="p_max must be a finite number"):
        ALISTA(p_max=-1)
