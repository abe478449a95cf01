"""Tests of the optimisers (sparserec.learned.optimizers): RMSprop, Adam, gradient clipping."""

import numpy as np
import pytest

from sparserec.learned import Adam, RMSprop, clip_by_norm, make_optimizer


def test_rmsprop_update_follows_the_reference_formula():
    opt = RMSprop(learning_rate=0.1, decay=0.9, eps=0.0, initial_accumulator=1e-3)
    p = {"w": np.array([1.0, -2.0])}
    g = np.array([0.5, 0.1])
    opt.step(p, {"w": g})
    r = 0.9 * 1e-3 + 0.1 * g**2
    np.testing.assert_allclose(p["w"], [1.0, -2.0] - 0.1 * g / np.sqrt(r))
    opt.step(p, {"w": g})
    r = 0.9 * r + 0.1 * g**2
    np.testing.assert_allclose(p["w"], [1.0, -2.0] - 0.1 * g / np.sqrt(0.9e-3 + 0.1 * g**2)
                               - 0.1 * g / np.sqrt(r))


def test_adam_first_step_has_the_size_of_the_learning_rate():
    opt = Adam(learning_rate=0.01)
    p = {"w": np.zeros(3), "s": np.array(0.0)}
    opt.step(p, {"w": np.array([1e-3, -5.0, 2.0]), "s": np.array(3.0)})
    np.testing.assert_allclose(p["w"], [-0.01, 0.01, -0.01], rtol=1e-4)
    assert p["s"] == pytest.approx(-0.01, rel=1e-6)


@pytest.mark.parametrize("name, rate", [("rmsprop", 0.01), ("adam", 0.05)])
def test_optimizers_minimise_a_quadratic(name, rate):
    opt = make_optimizer(name, rate)
    p = {"w": np.array([3.0, -1.0, 0.5])}
    for _ in range(2000):
        opt.step(p, {"w": 2 * p["w"]})
    assert np.abs(p["w"]).max() < 0.05


@pytest.mark.parametrize("name", ["rmsprop", "adam"])
def test_undo_restores_the_variables_and_the_state_exactly(name):
    p = {"w": np.ones(2), "s": np.array(0.5)}
    opt = make_optimizer(name, 0.1)
    opt.step(p, {"w": np.array([1.0, 2.0]), "s": np.array(1.0)})
    saved = {k: v.copy() for k, v in p.items()}
    opt.step(p, {"w": np.array([-3.0, 1.0]), "s": np.array(2.0)})
    after = {k: v.copy() for k, v in p.items()}
    opt.undo(p)
    opt.undo(p)  # a second undo does nothing: only the last step is kept
    for k in p:
        np.testing.assert_array_equal(p[k], saved[k])
    opt.step(p, {"w": np.array([-3.0, 1.0]), "s": np.array(2.0)})
    for k in p:
        np.testing.assert_array_equal(p[k], after[k])


def test_unknown_optimizer_is_rejected():
    with pytest.raises(ValueError, match="unknown optimizer"):
        make_optimizer("sgd", 0.1)


def test_clip_by_norm_scales_all_gradients_together():
    grads = {"a": np.array([3.0, 0.0]), "b": np.array(4.0)}
    clipped, norm = clip_by_norm(grads, 1.0)
    assert norm == pytest.approx(5.0)
    np.testing.assert_allclose(clipped["a"], [0.6, 0.0])
    assert clipped["b"] == pytest.approx(0.8)
    assert clip_by_norm(grads, 10.0)[0] is grads
    assert clip_by_norm(grads, None)[0] is grads
