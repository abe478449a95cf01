"""Tests of the generic soft-threshold RNN baseline (the SISTA-RNN's graph, untied)."""

import numpy as np
import pytest

from sparserec.datasets import make_sparse_sequences
from sparserec.learned import (GenericRNN, GenericRNNParams, SISTAParams, TrainingResult,
                               effective_weights, forward, generic_rnn, train)


@pytest.fixture(scope="module")
def problem():
    X, Y, A, D = make_sparse_sequences(3, 5, 6, 4, random_state=0)
    return X, Y, A, D


def test_parameter_count_is_four_squares_plus_input_plus_threshold():
    assert GenericRNNParams.random(8, 3, random_state=0).n_parameters == 4 * 64 + 24 + 1


def test_with_sista_weights_it_is_the_sista_rnn(problem):
    X, _, A, D = problem
    params = SISTAParams.initial(A, D, lam1=0.05, lam2=0.1)
    w = effective_weights(params)
    generic = GenericRNNParams(S=w.S, V=w.V, W1=w.W1, W=w.W, D=D, b=w.b)
    np.testing.assert_allclose(generic_rnn.forward(generic, X), forward(params, X),
                               atol=1e-12)


def test_gradients_match_finite_differences(problem, central_differences):
    X, Y, _, _ = problem
    params = GenericRNNParams.random(6, 4, random_state=1, threshold=0.05)
    _, grads = generic_rnn.loss_and_grad(params, X, Y)
    eps = 1e-6
    for name in ("S", "V", "W1", "W", "D"):
        a = getattr(params, name)
        numeric = central_differences(lambda: generic_rnn.loss_and_grad(params, X, Y)[0], a, eps)
        np.testing.assert_allclose(grads[name], numeric, rtol=1e-6,
                                   atol=1e-6 * np.abs(numeric).max())
    b = params.b
    params.b = b + eps
    plus = generic_rnn.loss_and_grad(params, X, Y)[0]
    params.b = b - eps
    minus = generic_rnn.loss_and_grad(params, X, Y)[0]
    assert grads["b"] == pytest.approx((plus - minus) / (2 * eps), rel=1e-6)


def test_training_lowers_the_loss_and_keeps_the_best_epoch(problem):
    X, Y, _, _ = make_sparse_sequences(40, 8, 8, 6, random_state=0)
    X_val, Y_val, _, _ = make_sparse_sequences(10, 8, 8, 6, random_state=1)
    start = GenericRNNParams.random(8, 6, random_state=0)
    result = train(GenericRNN(), start, X, Y, optimizer="rmsprop", learning_rate=1e-2,
                   batch_size=10, max_epochs=15, X_val=X_val, Y_val=Y_val, random_state=0)
    assert result.n_epochs == 15 and len(result.train_seconds) == 15
    assert isinstance(result, TrainingResult)
    assert min(result.validation_scores) < result.initial_validation_score - 1.0
    assert result.validation_scores[result.best_epoch - 1] == min(result.validation_scores)
    assert start.b == 0.1  # not modified


def test_training_stops_on_the_time_budget():
    X, Y, _, _ = make_sparse_sequences(20, 8, 8, 6, random_state=0)
    ticks = iter(range(1000))
    result = train(GenericRNN(), GenericRNNParams.random(8, 6, random_state=0), X, Y,
                   max_epochs=50, max_seconds=3, clock=lambda: next(ticks))
    assert result.n_epochs == 3 and result.train_seconds == [1, 2, 3]
    assert result.stop_reason == "max_seconds"
    assert result.initial_validation_score is None and result.validation_scores == []


def test_callback_can_stop_training():
    X, Y, _, _ = make_sparse_sequences(20, 8, 8, 6, random_state=0)
    epochs = []
    result = train(GenericRNN(), GenericRNNParams.random(8, 6, random_state=0), X, Y,
                   batch_size=10, max_epochs=50,
                   callback=lambda r: epochs.append(r.n_epochs) or r.n_epochs == 2)
    assert epochs == [1, 2] and result.n_epochs == 2 and result.stop_reason == "callback"
