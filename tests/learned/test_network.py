"""Tests of the soft-threshold network with given (free) weights
(sparserec.learned.network): its forward pass, its gradients in the weights themselves, and
its threads over the batch."""

import numba
import numpy as np
import pytest

from sparserec.learned import (SISTAParams, Weights, effective_weights, forward,
                               forward_weights, loss_and_weight_grads)

WEIGHTS = ("S", "V", "W1", "W")


def free_problem(seed, B=3, T=5, M=4, N=6, gain=0.5, threshold=0.05):
    """Random free weights (nothing ties them to a dictionary), a nonzero h0, and data."""
    rng = np.random.default_rng(seed)

    def square():
        return gain * rng.standard_normal((N, N)) / np.sqrt(N)

    weights = Weights(S=square(), V=rng.standard_normal((N, M)) / np.sqrt(M), W1=square(),
                      W=square(), P=None, b=threshold)
    D = np.linalg.qr(rng.standard_normal((N, N)))[0]
    h0 = 0.5 * rng.standard_normal(N)
    return weights, D, h0, rng.standard_normal((B, T, M)), rng.standard_normal((B, T, N))


def relative_error(expected, actual):
    return np.linalg.norm(np.subtract(expected, actual)) / np.linalg.norm(expected)


def test_the_sista_rnn_is_the_network_with_its_effective_weights():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((4, 6)) / 2
    params = SISTAParams.initial(A, np.eye(6) + 0.3 * rng.standard_normal((6, 6)),
                                 np.eye(6) + 0.2 * rng.standard_normal((6, 6)), lam1=0.3,
                                 lam2=0.7, h0=rng.standard_normal(6))
    X = rng.standard_normal((3, 5, 4))
    expected = forward(params, X, 3, return_codes=True)
    got = forward_weights(effective_weights(params), params.D, params.h0, X, 3,
                          return_codes=True)
    for a, b in zip(expected, got, strict=True):
        np.testing.assert_array_equal(a, b)


def test_loss_is_the_mean_squared_error_of_forward_weights():
    weights, D, h0, X, Y = free_problem(seed=1)
    loss, grads = loss_and_weight_grads(weights, D, h0, X, Y, 2)
    assert loss == pytest.approx(np.mean((forward_weights(weights, D, h0, X, 2) - Y) ** 2),
                                 rel=1e-12)
    assert set(grads) == {"S", "V", "W1", "W", "b", "h0", "D"}
    assert "D" not in loss_and_weight_grads(weights, D, h0, X, Y, 2, output_grad=False)[1]


def test_weight_gradients_match_central_differences():
    weights, D, h0, X, Y = free_problem(seed=2)
    _, grads = loss_and_weight_grads(weights, D, h0, X, Y, 3)
    eps = 1e-6

    def loss(weights=weights, D=D, h0=h0):
        return loss_and_weight_grads(weights, D, h0, X, Y, 3, output_grad=False)[0]

    for name in WEIGHTS + ("h0", "D"):
        value = getattr(weights, name) if name in WEIGHTS else {"h0": h0, "D": D}[name]
        numeric = np.zeros_like(value)
        for index in np.ndindex(value.shape):
            losses = []
            for sign in (1, -1):
                changed = value.copy()
                changed[index] += sign * eps
                if name in WEIGHTS:
                    losses.append(loss(weights=weights._replace(**{name: changed})))
                else:
                    losses.append(loss(**{name: changed}))
            numeric[index] = (losses[0] - losses[1]) / (2 * eps)
        np.testing.assert_allclose(grads[name], numeric, rtol=1e-6,
                                   atol=1e-6 * np.abs(numeric).max(), err_msg=name)
    plus = loss(weights=weights._replace(b=weights.b + eps))
    minus = loss(weights=weights._replace(b=weights.b - eps))
    assert grads["b"] == pytest.approx((plus - minus) / (2 * eps), rel=1e-6)


def test_float32_pass_agrees_with_float64():
    weights, D, h0, X, Y = free_problem(seed=3)
    loss64, g64 = loss_and_weight_grads(weights, D, h0, X, Y, 3)
    assert forward_weights(weights, D, h0, X.astype(np.float32), 3).dtype == np.float32
    assert forward_weights(weights, D, h0, X, 3, dtype="float32").dtype == np.float32
    loss32, g32 = loss_and_weight_grads(weights, D, h0, X, Y, 3, dtype=np.float32)
    assert loss32 == pytest.approx(loss64, rel=1e-5)
    for name in WEIGHTS + ("h0", "D"):
        assert g32[name].dtype == np.float64
        assert relative_error(g64[name], g32[name]) < 1e-4, name


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-12), (np.float32, 1e-5)])
def test_threads_over_the_batch_agree_with_one_thread(numba_threads, dtype, rtol):
    # The weight gradients are sums over the batch, accumulated per thread: the same sums.
    # (The SISTA-RNN's parameters, through these: tests/learned/test_sista_rnn.py.)
    weights, D, h0, X, Y = free_problem(seed=7, B=7, T=6)
    X, Y = X.astype(dtype), Y.astype(dtype)
    results = []
    for n in (1, numba_threads):
        numba.set_num_threads(n)
        results.append((loss_and_weight_grads(weights, D, h0, X, Y, 3),
                        forward_weights(weights, D, h0, X, 3, return_codes=True)))
    (weights_one, forward_one), (weights_many, forward_many) = results
    assert weights_many[0] == pytest.approx(weights_one[0], rel=rtol)
    for name, g in weights_one[1].items():
        assert relative_error(g, weights_many[1][name]) < rtol, name
    for a, b in zip(forward_one, forward_many, strict=True):
        assert b.dtype == dtype
        np.testing.assert_allclose(b, a, rtol=rtol, atol=rtol * np.abs(a).max())
