"""Tests of the conventional stacked RNN (the authors' generic-RNN baseline)."""

import numpy as np
import pytest

from sparserec.datasets import make_sparse_sequences
from sparserec.learned import StackedRNN, StackedRNNParams, TrainingResult, stacked_rnn, train

B, T, M, N, n = 3, 4, 3, 5, 4


def _params(n_layers=3, seed=1):
    """Small random parameters with nonzero initial states and output bias (which the
    initialisation leaves at zero), so that every gradient is exercised."""
    params = StackedRNNParams.random(N, M, n_hidden=n, n_layers=n_layers, random_state=seed)
    rng = np.random.default_rng(seed + 100)
    params.h0 = 0.3 * rng.standard_normal(params.h0.shape)
    params.c = 0.1 * rng.standard_normal(params.c.shape)
    return params


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    return rng.standard_normal((B, T, M)), rng.standard_normal((B, T, N))


def _modrelu(z, b, eps=1e-9):
    m = np.sqrt(z * z + eps)
    return np.where(m + b > 0, z * (m + b) / m, 0.0)


def _reference_forward(params, X):
    """The equations, one sequence and one frame at a time."""
    K = params.n_layers
    out = np.empty(X.shape[:2] + (params.U.shape[0],))
    for s in range(X.shape[0]):
        h = [params.h0[k].copy() for k in range(K)]
        for t in range(X.shape[1]):
            below = None
            for k in range(K):
                z = params.W[k] @ h[k] + (params.V @ X[s, t] if k == 0
                                          else params.S[k - 1] @ below)
                h[k] = _modrelu(z, params.b[k])
                below = h[k]
            out[s, t] = params.U @ h[K - 1] + params.c
    return out


@pytest.mark.parametrize("n_layers", [1, 3])
def test_forward_is_the_equations(data, n_layers):
    X, _ = data
    params = _params(n_layers)
    np.testing.assert_allclose(stacked_rnn.forward(params, X), _reference_forward(params, X),
                               rtol=1e-12, atol=1e-12)


def test_modrelu_is_a_soft_threshold_for_negative_biases():
    z = np.array([-2.0, -0.5, 0.0, 0.3, 1.5])
    np.testing.assert_allclose(_modrelu(z, -0.4),
                               np.sign(z) * np.maximum(np.abs(z) - 0.4, 0), atol=1e-8)
    params = StackedRNNParams(V=np.eye(1), W=np.zeros((1, 1, 1)), S=np.zeros((0, 1, 1)),
                              b=np.array([[-0.4]]), h0=np.zeros((1, 1)), U=np.eye(1),
                              c=np.zeros(1))
    y = stacked_rnn.forward(params, z.reshape(1, -1, 1))
    np.testing.assert_allclose(y.ravel(), _modrelu(z, -0.4), rtol=1e-12)


@pytest.mark.parametrize("n_layers", [1, 2, 3])
def test_every_gradient_matches_finite_differences(data, n_layers, central_differences):
    X, Y = data
    params = _params(n_layers)
    loss, grads = stacked_rnn.loss_and_grad(params, X, Y)
    assert loss == pytest.approx(np.mean((stacked_rnn.forward(params, X) - Y) ** 2), rel=1e-12)
    assert set(grads) == set(stacked_rnn.PARAMETERS)
    eps = 1e-6
    for name in stacked_rnn.PARAMETERS:
        a = getattr(params, name)
        assert grads[name].shape == a.shape and grads[name].dtype == np.float64
        numeric = central_differences(lambda: stacked_rnn.loss_and_grad(params, X, Y)[0], a, eps)
        if a.size:
            np.testing.assert_allclose(grads[name], numeric, rtol=1e-6,
                                       atol=1e-7 * np.abs(numeric).max(), err_msg=name)


def test_the_batch_split_across_threads_does_not_change_the_result(data):
    import numba

    X, Y = data
    params = _params()
    numba.set_num_threads(1)
    try:
        one = stacked_rnn.loss_and_grad(params, X, Y)
    finally:
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    many = stacked_rnn.loss_and_grad(params, X, Y)
    assert many[0] == pytest.approx(one[0], rel=1e-12)
    for name in stacked_rnn.PARAMETERS:
        np.testing.assert_allclose(many[1][name], one[1][name], rtol=1e-10, atol=1e-14)


def test_float32_runs_in_float32_and_agrees(data):
    X, Y = data
    params = _params()
    y32 = stacked_rnn.forward(params, X.astype(np.float32))
    assert y32.dtype == np.float32
    np.testing.assert_allclose(y32, stacked_rnn.forward(params, X), rtol=1e-4, atol=1e-5)
    loss32, g32 = stacked_rnn.loss_and_grad(params, X, Y, dtype=np.float32)
    loss64, g64 = stacked_rnn.loss_and_grad(params, X, Y)
    assert loss32 == pytest.approx(loss64, rel=1e-5)
    for name in stacked_rnn.PARAMETERS:
        assert g32[name].dtype == np.float64
        np.testing.assert_allclose(g32[name], g64[name], rtol=1e-3,
                                   atol=1e-4 * max(np.abs(g64[name]).max(initial=0), 1e-3))


def test_initialisation_has_the_stated_spread_and_the_paper_size():
    params = StackedRNNParams.random(128, 32, random_state=0)
    assert params.n_layers == 3 and params.n_parameters == 103_296
    assert params.V.shape == (128, 32) and params.W.shape == (3, 128, 128)
    assert params.S.shape == (2, 128, 128) and params.U.shape == (128, 128)
    for name, a in [("V", params.V), ("U", params.U), *((f"W{k}", w) for k, w in
                    enumerate(params.W)), *((f"S{k}", s) for k, s in enumerate(params.S))]:
        assert np.std(a) == pytest.approx(np.sqrt(2 / a.size), rel=0.05), name
        assert abs(np.mean(a)) < 4 * np.sqrt(2 / a.size) / np.sqrt(a.size), name
    assert np.std(params.b) == pytest.approx(np.sqrt(2 / 128), rel=0.1)
    assert not params.h0.any() and not params.c.any()
    assert not np.array_equal(params.W[1], params.W[2])  # every matrix its own draw
    again = StackedRNNParams.random(128, 32, random_state=0)
    np.testing.assert_array_equal(again.W, params.W)


def test_bad_shapes_are_refused(data):
    X, Y = data
    params = _params()
    with pytest.raises(ValueError, match="X must have shape"):
        stacked_rnn.forward(params, X[..., :2])
    with pytest.raises(ValueError, match="Y must have shape"):
        stacked_rnn.loss_and_grad(params, X, Y[..., :2])
    params.S = params.S[:1]
    with pytest.raises(ValueError, match="params.S"):
        stacked_rnn.forward(params, X)
    with pytest.raises(ValueError, match="positive"):
        StackedRNNParams.random(4, 3, n_layers=0)


def test_training_lowers_the_loss_and_keeps_the_best_epoch():
    X, Y, _, _ = make_sparse_sequences(40, 8, 8, 6, random_state=0)
    X_val, Y_val, _, _ = make_sparse_sequences(10, 8, 8, 6, random_state=1)
    start = StackedRNNParams.random(8, 6, random_state=0)
    result = train(StackedRNN(), start, X, Y, optimizer="rmsprop", learning_rate=1e-2,
                   batch_size=10, max_epochs=15, X_val=X_val, Y_val=Y_val, random_state=0)
    assert isinstance(result, TrainingResult) and result.n_epochs == 15
    assert result.loss_curve[-1] < 0.7 * result.loss_curve[0]
    assert min(result.validation_scores) < result.initial_validation_score - 1.0
    assert result.validation_scores[result.best_epoch - 1] == min(result.validation_scores)
    assert not start.h0.any()  # not modified
    assert result.final_params.h0.any()


def test_training_can_keep_the_initial_states_fixed():
    X, Y, _, _ = make_sparse_sequences(20, 8, 8, 6, random_state=0)
    start = StackedRNNParams.random(8, 6, random_state=0)
    names = tuple(name for name in StackedRNN.TRAINABLE if name != "h0")
    result = train(StackedRNN(), start, X, Y, names=names, optimizer="rmsprop",
                   learning_rate=1e-2, batch_size=10, max_epochs=2, dtype=np.float32,
                   random_state=0)
    assert not result.final_params.h0.any()
    assert not np.array_equal(result.final_params.W, start.W)


def test_loss_and_gradients_match_torch_autograd(data):
    torch = pytest.importorskip("torch")
    X, Y = data
    params = _params()
    loss, grads = stacked_rnn.loss_and_grad(params, X, Y)

    t = {name: torch.tensor(getattr(params, name), dtype=torch.float64, requires_grad=True)
         for name in stacked_rnn.PARAMETERS}
    x, y = torch.tensor(X), torch.tensor(Y)
    h = [t["h0"][k].expand(B, n) for k in range(3)]
    outputs = []
    for step in range(T):
        below = None
        for k in range(3):
            z = h[k] @ t["W"][k].T + (x[:, step] @ t["V"].T if k == 0
                                      else below @ t["S"][k - 1].T)
            m = torch.sqrt(z * z + 1e-9)
            h[k] = z * torch.relu(m + t["b"][k]) / m
            below = h[k]
        outputs.append(h[2] @ t["U"].T + t["c"])
    torch_loss = ((torch.stack(outputs, dim=1) - y) ** 2).mean()
    torch_loss.backward()
    assert loss == pytest.approx(torch_loss.item(), rel=1e-12)
    for name in stacked_rnn.PARAMETERS:
        np.testing.assert_allclose(grads[name], t[name].grad.numpy(), rtol=1e-10,
                                   atol=1e-14, err_msg=name)
