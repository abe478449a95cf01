"""Tests of the SISTA-RNN (sparserec.learned.sista_rnn): its forward pass and its
hand-written gradients in theta."""

import numba
import numpy as np
import pytest

from sparserec import sista
from sparserec.learned import (LEARNABLE, SISTAParams, check_learn, effective_weights, forward,
                               loss_and_grad)
from sparserec.learned.sista_rnn import _preactivations


def random_problem(seed, B=3, T=5, M=4, N=6, lam1=0.3, lam2=0.7, untied=False):
    """A small random problem with a non-orthogonal D, a non-identity F and a nonzero h0
    (and, if ``untied``, an inverse dictionary of its own)."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((M, N)) / np.sqrt(M)
    D = np.eye(N) + 0.3 * rng.standard_normal((N, N))
    F = np.eye(N) + 0.2 * rng.standard_normal((N, N))
    Dinv = D.T + 0.2 * rng.standard_normal((N, N)) if untied else None
    params = SISTAParams.initial(A, D, F, lam1=lam1, lam2=lam2,
                                 h0=0.5 * rng.standard_normal(N), Dinv=Dinv)
    X = rng.standard_normal((B, T, M))
    Y = rng.standard_normal((B, T, N))
    return params, X, Y


def near_threshold_problem(seed, B=3, T=4, N=5, margin=1e-4, untied=False):
    """Most layer-1 pre-activations lie within ``margin`` (relative) of +-b.

    With a square A the first layer's input ``V x_t`` can be set freely: each frame's
    ``x_t`` is solved for, given the codes of the frames before it. The others are well
    above the threshold, so that the codes (and the gradients) are not all tiny.
    """
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((N, N)) / np.sqrt(N) + np.eye(N)
    params = SISTAParams.initial(A, np.eye(N) + 0.2 * rng.standard_normal((N, N)),
                                 np.eye(N) + 0.1 * rng.standard_normal((N, N)),
                                 lam1=0.4, lam2=0.5)
    if untied:
        params.Dinv = params.D.T + 0.1 * rng.standard_normal((N, N))
    weights = effective_weights(params)
    X = np.zeros((B, T, N))
    for t in range(T):
        h_prev = (np.broadcast_to(params.h0, (B, N)) if t == 0
                  else forward(params, X[:, :t], 3, return_codes=True)[1][:, -1])
        signs = rng.choice([-1.0, 1.0], size=(B, N))
        offsets = rng.choice([-1.0, 1.0], size=(B, N)) * rng.uniform(0.5, 1.0, (B, N))
        target = signs * weights.b * np.where(rng.random((B, N)) < 0.7, 1 + margin * offsets,
                                              rng.uniform(3.0, 6.0, (B, N)))
        X[:, t] = np.linalg.solve(weights.V, (target - h_prev @ weights.W1.T).T).T
    Y = rng.standard_normal((B, T, N))
    return params, X, Y


def perturbed(params, name, index, step):
    out = params.copy()
    if name in ("alpha", "lam1", "lam2"):
        setattr(out, name, getattr(out, name) + step)
    else:
        getattr(out, name)[index] += step
    return out


def finite_difference(params, X, Y, K, name, eps=1e-6):
    """Central differences of the loss, asserting that no pre-activation crosses +-b."""
    value = getattr(params, name)
    shape = () if np.isscalar(value) else value.shape
    Z0, b0 = _preactivations(params, X, K)
    active = np.abs(Z0) > b0
    grad = np.zeros(shape)
    for index in np.ndindex(*shape):
        step = eps * max(1.0, abs(float(np.asarray(value)[index])))
        losses = []
        for sign in (1, -1):
            p = perturbed(params, name, index, sign * step)
            Z, b = _preactivations(p, X, K)
            assert np.array_equal(np.abs(Z) > b, active), "a kink was crossed: smaller step"
            losses.append(loss_and_grad(p, X, Y, K, learn=())[0])
        grad[index] = (losses[0] - losses[1]) / (2 * step)
    return grad


def relative_error(expected, actual):
    return np.linalg.norm(np.subtract(expected, actual)) / np.linalg.norm(expected)


TIED = tuple(name for name in LEARNABLE if name != "Dinv")


@pytest.mark.parametrize("n_layers", [1, 3])
@pytest.mark.parametrize("name", LEARNABLE)
def test_gradient_matches_central_differences(name, n_layers):
    # D, F and the others with a tied inverse dictionary (D^T), and with one of its own
    for untied in ((True,) if name == "Dinv" else (False, True)):
        params, X, Y = random_problem(seed=LEARNABLE.index(name), untied=untied)
        _, grads = loss_and_grad(params, X, Y, n_layers, learn=LEARNABLE if untied else TIED)
        expected = finite_difference(params, X, Y, n_layers, name)
        assert relative_error(expected, grads[name]) < 1e-6


@pytest.mark.parametrize("name", LEARNABLE)
def test_gradient_matches_central_differences_near_threshold(name):
    params, X, Y = near_threshold_problem(seed=10 + LEARNABLE.index(name),
                                          untied=name == "Dinv")
    Z, b = _preactivations(params, X, 3)
    near = np.abs(np.abs(Z[:, 0]) - b) < 2e-4 * b
    assert near.mean() > 0.5 and 0 < (np.abs(Z[:, 0][near]) > b).mean() < 1
    _, grads = loss_and_grad(params, X, Y, 3, learn=[name])
    expected = finite_difference(params, X, Y, 3, name, eps=1e-7)
    assert relative_error(expected, grads[name]) < 1e-6


def test_untrained_network_with_three_layers_is_three_iteration_sista():
    params, X, _ = random_problem(seed=3, B=4, T=7)
    y_hat, h = forward(params, X, 3, return_codes=True)
    classical = sista(X, params.A, params.lam1, params.lam2, D=params.D, F=params.F,
                      alpha=params.alpha, h0=params.h0, n_iter=3)
    np.testing.assert_allclose(h, classical.h, rtol=0, atol=1e-12)
    np.testing.assert_allclose(y_hat, classical.y_hat, rtol=0, atol=1e-12)


def test_untrained_network_matches_sista_on_the_paper_matrices():
    from sparserec import StepSizeWarning, paper_matrices
    A, D, F = paper_matrices()
    X = np.random.default_rng(0).standard_normal((2, 6, 32))
    params = SISTAParams.initial(A, D, F, alpha=1.0, lam1=0.5, lam2=1.0)
    # The paper's alpha = 1 bounds ||A D||^2 only, not the lam2 term: sista says so.
    with pytest.warns(StepSizeWarning):
        classical = sista(X, A, 0.5, 1.0, D=D, F=F, alpha=1.0, n_iter=3)
    np.testing.assert_allclose(forward(params, X, 3), classical.y_hat, rtol=0, atol=1e-12)


def test_float32_forward_and_gradients_agree_with_float64():
    params, X, Y = random_problem(seed=4, untied=True)
    loss64, g64 = loss_and_grad(params, X, Y, 3, learn=LEARNABLE)
    loss32, g32 = loss_and_grad(params, X.astype(np.float32), Y.astype(np.float32), 3,
                                learn=LEARNABLE)
    assert forward(params, X.astype(np.float32), 3).dtype == np.float32
    assert loss32 == pytest.approx(loss64, rel=1e-5)
    for name in LEARNABLE:
        assert relative_error(g64[name], g32[name]) < 1e-4, name


def test_loss_is_the_mean_squared_error_of_forward():
    params, X, Y = random_problem(seed=5)
    loss, grads = loss_and_grad(params, X, Y, 2, learn=())
    assert grads == {}
    assert loss == pytest.approx(np.mean((forward(params, X, 2) - Y) ** 2), rel=1e-12)


def test_unknown_parameter_name_is_rejected():
    params, X, Y = random_problem(seed=6)
    with pytest.raises(ValueError, match=r"learn contains \[.bias.\]"):
        loss_and_grad(params, X, Y, 3, learn=("D", "bias"))


def test_learnable_names_are_checked():
    assert check_learn("D") == ("D",)
    assert check_learn(["lam1", "h0"]) == ("lam1", "h0")
    with pytest.raises(ValueError, match=r"learn contains \['G'\]; choose among D, Dinv, F"):
        check_learn(("D", "G"))


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-12), (np.float32, 1e-5)])
def test_threads_over_the_batch_agree_with_one_thread(numba_threads, dtype, rtol):
    # (the same for the free weights: tests/learned/test_network.py)
    params, X, Y = random_problem(seed=7, B=7, T=6, untied=True)
    X, Y = X.astype(dtype), Y.astype(dtype)
    results = []
    for n in (1, numba_threads):
        numba.set_num_threads(n)
        results.append((loss_and_grad(params, X, Y, 3, learn=LEARNABLE),
                        forward(params, X, 3, return_codes=True)))
    (one, forward_one), (many, forward_many) = results
    assert many[0] == pytest.approx(one[0], rel=rtol)
    for name in LEARNABLE:
        assert relative_error(one[1][name], many[1][name]) < rtol, name
    for a, b in zip(forward_one, forward_many, strict=True):
        assert b.dtype == dtype
        np.testing.assert_allclose(b, a, rtol=rtol, atol=rtol * np.abs(a).max())
