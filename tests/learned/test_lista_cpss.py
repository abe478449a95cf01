"""Tests of LISTA-CPSS: ISTA without support selection, a numpy reference of its equations
(ties included), and its hand-written gradients."""

import warnings

import numba
import numpy as np
import pytest

from sparserec import ista
from sparserec.learned import _cpss_kernels as kernels
from sparserec.learned import lista_cpss
from sparserec.learned.lista_cpss import LISTACPSS, LISTACPSSParams, support_sizes

B, M, N, K = 5, 6, 20, 3
#: The support selection of most tests: n_k = 2, 4, 5 of the N = 20 entries.
P, P_MAX = 10.0, 25.0


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((M, N)) / np.sqrt(M)
    Y = rng.standard_normal((B, N)) * (rng.random((B, N)) < 0.3)
    X = Y @ A.T + 0.05 * rng.standard_normal((B, M))
    return A, X, Y


def _perturbed(A, seed=12, tied=False):
    """Initial parameters moved off ISTA, so that every gradient is exercised (the seed:
    one whose codes stay 1e-4 clear of the kinks and jumps, for the central differences)."""
    params = LISTACPSSParams.initial(A, K, lam=0.1, tied=tied)
    rng = np.random.default_rng(seed)
    params.W += 0.05 * rng.standard_normal(params.W.shape)
    params.theta *= 1 + 0.3 * rng.random(K)
    return params


def _eta_ss(z, theta, n):
    """The support-selecting threshold, row by row, and its mask (True: passed)."""
    t = max(theta, 0.0)
    out = np.sign(z) * np.maximum(np.abs(z) - t, 0.0)
    passed = np.zeros(z.shape, bool)
    for b in range(z.shape[0]):
        top = np.argsort(-np.abs(z[b]), kind="stable")[:n]  # ties: the lower index first
        passed[b, top[np.abs(z[b, top]) > t]] = True
    out[passed] = z[passed]
    return out, passed


def _reference(A, W, theta, X, sizes, n):
    """The equations in plain numpy: the codes, and every layer's ``z`` and mask."""
    h = np.zeros((X.shape[0], A.shape[1]))
    zs, masks = [], []
    for k in range(n):
        z = h + (X - h @ A.T) @ W[0 if W.shape[0] == 1 else k]
        h, passed = _eta_ss(z, theta[k], sizes[k])
        zs.append(z)
        masks.append(passed)
    return h, zs, masks


def _margin(zs, theta, sizes):
    """The distance to the kinks and jumps: of every |z| to its threshold, and of the
    n_k-th largest |z| of every row to the next."""
    gaps = []
    for z, th, n in zip(zs, theta, sizes, strict=False):
        gaps.append(np.abs(np.abs(z) - max(th, 0)).min())
        if 0 < n < z.shape[1]:
            s = -np.sort(-np.abs(z), axis=1)
            gaps.append((s[:, n - 1] - s[:, n]).min())
    return min(gaps)


@pytest.mark.parametrize("tied", [False, True])
def test_initial_without_selection_is_ista(problem, tied):
    A, X, _ = problem
    lam = 0.1
    params = LISTACPSSParams.initial(A, K, lam=lam, tied=tied)
    L = 1.001 * np.linalg.norm(A, 2) ** 2
    np.testing.assert_allclose(params.theta, lam / L)
    assert params.W.shape == ((1 if tied else K), M, N) and params.tied == tied
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tol=0: ista warns that it did not converge
        for n in (1, K):
            expected = ista(X, A, lam, alpha=L, max_iter=n, tol=0.0).h
            np.testing.assert_allclose(LISTACPSS(p=0).forward(params, X, depth=n),
                                       expected, rtol=1e-12, atol=1e-13)
            np.testing.assert_allclose(LISTACPSS(p=0).forward(params, X, depth=n), expected,
                                       rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("tied", [False, True])
def test_forward_matches_the_numpy_reference(problem, tied):
    A, X, _ = problem
    X = np.concatenate([X, np.zeros((1, M))])  # a zero row: zero codes throughout
    params = _perturbed(A, tied=tied)
    sizes = support_sizes(N, K, P, P_MAX)
    assert sizes == [2, 4, 5]
    for n in (1, K):
        expected, _, masks = _reference(params.A, params.W, params.theta, X, sizes, n)
        assert masks[-1].any()  # the selection acts
        out = LISTACPSS(p=P, p_max=P_MAX).forward(params, X, depth=n)
        np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-14)
        assert not out[-1].any()


def test_exact_ties_go_to_the_lower_index():
    """Integer data: every product is exact, so ties are exact in the network too."""
    rng = np.random.default_rng(5)
    Mi, Ni, Bi = 4, 10, 12
    A = rng.integers(-1, 2, (Mi, Ni)).astype(float)
    W = rng.integers(-1, 2, (K, Mi, Ni)).astype(float)
    X = rng.integers(-2, 3, (Bi, Mi)).astype(float)
    X[0] = 0
    theta = np.array([0.5, 1.0, 0.5])
    params = LISTACPSSParams(A=A, W=W, theta=theta)
    sizes = support_sizes(Ni, K, 20, 50)
    assert sizes == [2, 4, 5]
    expected, zs, _ = _reference(A, W, theta, X, sizes, K)
    ties = 0
    for z, n, th in zip(zs, sizes, theta, strict=True):  # rows whose cut falls in a tie
        s = -np.sort(-np.abs(z), axis=1)
        ties += np.sum((s[:, n - 1] == s[:, n]) & (s[:, n - 1] > th))
    assert ties >= 5
    out = LISTACPSS(p=20, p_max=50).forward(params, X)
    np.testing.assert_array_equal(out, expected)


def test_the_selection_kernel_on_ties_and_edge_sizes():
    rng = np.random.default_rng(2)
    Z = rng.integers(-3, 4, (40, 9)).astype(float)  # many ties
    Z[0] = 0
    Z[1] = [3, -3, 3, 1, 0.5, -3, 0, 2, -2]
    for n in range(0, 11):
        for theta in (0.0, 1.0, 1.5, 2.5, 3.5):
            H = np.empty_like(Z)
            mask = np.empty(Z.shape, np.int8)
            kernels.ss_layer(Z, Z, True, 1.0, theta, n, H, mask)
            expected, passed = _eta_ss(Z, theta, min(n, Z.shape[1]))
            np.testing.assert_array_equal(H, expected, err_msg=f"n={n}, theta={theta}")
            np.testing.assert_array_equal(mask == kernels.PASSED, passed)
            np.testing.assert_array_equal(mask[~passed], np.sign(H[~passed]))
    H = np.empty_like(Z)
    kernels.ss_layer(Z, Z, True, 1.0, 0.2, 2, H, np.empty(Z.shape, np.int8))
    np.testing.assert_array_equal(H[1], [3, -3, 2.8, 0.8, 0.3, -2.8, 0, 1.8, -1.8])


def test_nth_largest():
    rng = np.random.default_rng(3)
    heap = np.empty(300)
    for size in (1, 2, 7, 50, 300):
        for values in ("normal", "few", "equal"):
            z = {"normal": rng.standard_normal(size), "few": rng.integers(-3, 4, size) * 1.0,
                 "equal": np.full(size, -2.0)}[values]
            for floor in (-1.0, 0.5):
                candidates = -np.sort(-np.abs(z[np.abs(z) > floor]))
                for n in range(1, len(candidates) + 1):
                    expected = candidates[n - 1]
                    assert kernels.nth_largest_abs(z, n, floor, heap) == expected
                    buf = rng.permutation(candidates)
                    assert kernels.nth_largest(buf, len(buf), n, heap) == expected
                    np.testing.assert_array_equal(np.sort(buf), np.sort(candidates))


@pytest.mark.parametrize("tied, n_layers, p", [(False, K, P), (False, 2, P), (True, K, P),
                                               (True, 1, P), (False, K, 0.0)])
def test_every_gradient_matches_central_differences(problem, tied, n_layers, p,
                                                    central_differences):
    A, X, Y = problem
    params = _perturbed(A, tied=tied)
    sizes = support_sizes(N, K, p, P_MAX)
    h, zs, masks = _reference(params.A, params.W, params.theta, X, sizes, n_layers)
    assert _margin(zs, params.theta, sizes) > 1e-4  # away from the kinks and the jumps
    assert p == 0 or any(m.any() for m in masks)
    loss, grads = LISTACPSS(p=p, p_max=P_MAX).loss_and_grad(params, X, Y, depth=n_layers)
    assert loss == pytest.approx(np.mean((h - Y) ** 2), rel=1e-12)

    def mse():
        out = LISTACPSS(p=p, p_max=P_MAX).forward(params, X, depth=n_layers)
        return np.mean((out - Y) ** 2)

    for name in lista_cpss.PARAMETERS:
        a = getattr(params, name)
        assert grads[name].shape == a.shape and grads[name].dtype == np.float64
        numeric = central_differences(mse, a, 1e-6)
        np.testing.assert_allclose(grads[name], numeric, rtol=1e-6,
                                   atol=1e-8 * np.abs(numeric).max(), err_msg=name)
    assert not grads["theta"][n_layers:].any()  # unused layers: exactly zero
    if not tied:
        assert not grads["W"][n_layers:].any()


def test_depth_runs_the_first_layers(problem):
    A, X, Y = problem
    params = _perturbed(A)
    net = LISTACPSS(p=P, p_max=P_MAX)
    short = LISTACPSSParams(A=params.A, W=params.W[:2], theta=params.theta[:2])
    np.testing.assert_array_equal(net.forward(params, X, depth=2), net.forward(short, X))
    assert not np.allclose(net.forward(params, X), net.forward(short, X))
    loss, grads = net.loss_and_grad(params, X, Y, depth=2)
    short_loss, short_grads = net.loss_and_grad(short, X, Y)
    assert loss == pytest.approx(short_loss, rel=1e-14)
    np.testing.assert_allclose(grads["W"][:2], short_grads["W"], rtol=1e-12)
    np.testing.assert_allclose(grads["theta"][:2], short_grads["theta"], rtol=1e-12)


def test_threads_give_the_results_of_one(problem, numba_threads):
    A, X, Y = problem
    rng = np.random.default_rng(4)
    X = np.concatenate([X, rng.standard_normal((200, M))])
    Y = np.concatenate([Y, rng.standard_normal((200, N))])
    for tied in (False, True):
        params = _perturbed(A, tied=tied)
        results = []
        for threads in (1, numba_threads):
            numba.set_num_threads(threads)
            results.append((LISTACPSS(p=P).forward(params, X),
                            *LISTACPSS(p=P).loss_and_grad(params, X, Y)))
        (h1, l1, g1), (h2, l2, g2) = results
        np.testing.assert_array_equal(h1, h2)
        assert l1 == pytest.approx(l2, rel=1e-12)
        for name in lista_cpss.PARAMETERS:
            np.testing.assert_allclose(g1[name], g2[name], rtol=1e-10, atol=1e-14)


def test_the_network_class(problem):
    A, X, Y = problem
    net = LISTACPSS()
    assert (net.name, net.p, net.p_max) == ("lista-cpss", 1.2, 13.0)
    assert net.TRAINED == ("W", "theta") and net.LAYERED == ("theta", "W")
    params = _perturbed(A)
    assert net.n_layers(params) == K and net.n_parameters(params) == K * (M * N + 1)
    np.testing.assert_array_equal(net.forward(params, X), LISTACPSS().forward(params, X))
    loss, grads = net.loss_and_grad(params, X, Y, names="theta")
    assert list(grads) == ["theta"]
    assert loss == LISTACPSS().loss_and_grad(params, X, Y)[0]
    with pytest.raises(ValueError, match="lista-cpss cannot train"):
        net.loss_and_grad(params, X, Y, names=["A"])
    arrays = net.to_arrays(params)
    assert sorted(arrays) == ["A", "W", "theta"]
    np.testing.assert_array_equal(net.forward(net.from_arrays(arrays), X), net.forward(params, X))
    with pytest.raises(ValueError, match="p must be a finite number >= 0"):
        LISTACPSS(p=-1)
    with pytest.raises(ValueError, match="p_max must be a finite number >= 0 and <= 100"):
        LISTACPSS(p_max=150)


def test_support_sizes():
    # 1.2 k 500 / 100 is 6 k, though 3 * 1.2 = 3.5999999999999996
    assert support_sizes(500, 12) == [6 * k for k in range(1, 11)] + [65, 65]
    assert support_sizes(40, 4) == [0, 0, 1, 1]
    assert support_sizes(7, 3, p=0) == [0, 0, 0]
    assert support_sizes(7, 2, p=60, p_max=100) == [4, 7]


def test_bad_inputs_are_refused(problem):
    A, X, Y = problem
    params = LISTACPSSParams.initial(A, K)
    with pytest.raises(ValueError, match="p must be a finite number"):
        LISTACPSS(p=np.nan).forward(params, X)
    bad = params.copy()
    bad.W = bad.W[:2]
    with pytest.raises(ValueError, match=r"params.W must have shape \(K, M, N\) = \(3, 6, 20\) "
                                         r"or \(1, 6, 20\)"):
        LISTACPSS().forward(bad, X)
    bad = params.copy()
    bad.theta[1] = np.nan
    with pytest.raises(ValueError, match="params.theta contains NaN or Inf"):
        LISTACPSS().forward(bad, X)
    with pytest.raises(ValueError, match="A is zero"):
        LISTACPSSParams.initial(np.zeros((M, N)), K)
