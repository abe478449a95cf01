"""Tests of the one trainer (sparserec.learned.training): its loop on a toy model, its
layer-wise stages on a toy network, and the SISTA-RNN trained through it."""

import re
from dataclasses import dataclass

import numpy as np
import pytest

from sparserec import nmse_db
from sparserec.datasets import make_sparse_sequences, perturbed_dictionary
from sparserec.learned import (SISTARNN, Adam, Network, SISTAParams, TrainingResult,
                               TrainingStoppedWarning, forward, train, train_loop)


def sista_train(params, X, Y, *, learn=None, keep_atom_norms=True, log_scalars=True,
                optimizer="rmsprop", learning_rate=1e-4, **options):
    """The SISTA-RNN (3 layers per frame) through the trainer, RMSprop at 1e-4 unless told."""
    network = SISTARNN(3, keep_atom_norms=keep_atom_norms, log_scalars=log_scalars)
    return train(network, params, X, Y, names=learn, optimizer=optimizer,
                 learning_rate=learning_rate, **options)


@pytest.fixture(scope="module")
def task():
    X, Y, A, D = make_sparse_sequences(400, random_state=0)
    X_val, Y_val, _, _ = make_sparse_sequences(50, random_state=1)
    X_test, Y_test, _, _ = make_sparse_sequences(100, random_state=2)
    params = SISTAParams.initial(A, perturbed_dictionary(D), lam1=0.05, lam2=0.1)
    return dict(X=X, Y=Y, X_val=X_val, Y_val=Y_val, X_test=X_test, Y_test=Y_test,
                params=params, D=D)


def test_training_from_a_wrong_dictionary_gains_at_least_6_db(task):
    untrained = nmse_db(task["Y_test"], forward(task["params"], task["X_test"], 3))
    result = sista_train(task["params"], task["X"], task["Y"], X_val=task["X_val"],
                   Y_val=task["Y_val"], optimizer="adam", learning_rate=1e-2, max_epochs=30,
                   random_state=0)
    learned = result.params
    trained = nmse_db(task["Y_test"], forward(learned, task["X_test"], 3))
    assert trained <= untrained - 6.0
    assert learned.alpha > 0 and learned.lam1 > 0 and learned.lam2 > 0
    # The dictionary moved towards the true one.
    assert (np.linalg.norm(learned.D - task["D"])
            < 0.75 * np.linalg.norm(task["params"].D - task["D"]))
    assert len(result.loss_curve) == len(result.validation_scores) == result.n_epochs == 30
    assert min(result.validation_scores) == pytest.approx(
        result.validation_scores[result.best_epoch - 1])


def test_same_seed_gives_the_same_training(task):
    runs = [sista_train(task["params"], task["X"][:100], task["Y"][:100], max_epochs=2,
                  batch_size=16, learning_rate=1e-3, random_state=3) for _ in range(2)]
    np.testing.assert_array_equal(runs[0].final_params.D, runs[1].final_params.D)
    assert runs[0].loss_curve == runs[1].loss_curve
    other = sista_train(task["params"], task["X"][:100], task["Y"][:100], max_epochs=2,
                  batch_size=16, learning_rate=1e-3, random_state=4)
    assert other.loss_curve != runs[0].loss_curve


@pytest.mark.parametrize("name, rate", [("rmsprop", 1.0), ("adam", 1.0), ("rmsprop", 10.0)])
def test_huge_learning_rate_gives_no_nan_and_no_worse_best_model(task, name, rate):
    learn = ("D", "F", "A", "alpha", "lam1", "lam2", "h0")
    result = sista_train(task["params"], task["X"][:200], task["Y"][:200], X_val=task["X_val"],
                   Y_val=task["Y_val"], optimizer=name, learning_rate=rate, max_epochs=4,
                   learn=learn, random_state=0)
    assert result.stop_reason == "max_epochs"
    assert np.isfinite(result.loss_curve).all()
    best = nmse_db(task["Y_val"], forward(result.params, task["X_val"], 3))
    assert best <= result.initial_validation_score + 1e-9
    final = result.final_params
    assert np.isfinite(final.D).all() and np.isfinite(final.A).all()
    assert result.n_rejected > 0


def atom_norms(D):
    return np.linalg.norm(D, axis=0)


def test_atoms_keep_their_initial_norms_unless_told_otherwise(task):
    params = task["params"]
    runs = [sista_train(params, task["X"][:100], task["Y"][:100], optimizer="adam",
                  learning_rate=1e-2, max_epochs=2, random_state=0, keep_atom_norms=keep)
            for keep in (True, False)]
    np.testing.assert_allclose(atom_norms(runs[0].final_params.D), atom_norms(params.D),
                               rtol=1e-12)
    assert runs[0].n_projected > 0
    assert np.abs(atom_norms(runs[1].final_params.D) - atom_norms(params.D)).max() > 1e-3
    assert runs[1].n_projected == 0


def test_raw_scalars_are_trained_as_values_and_kept_non_negative(task):
    # A gradient step on the raw value moves it by the learning rate times the sign
    # (RMSprop's first step), on the logarithm by that factor of the value.
    params = task["params"].copy()
    params.lam1 = 1e-3
    for log_scalars in (True, False):
        result = sista_train(params, task["X"][:40], task["Y"][:40], learn=("lam1",),
                       learning_rate=0.1, batch_size=40, max_epochs=1, guard=False,
                       log_scalars=log_scalars)
        change = abs(result.final_params.lam1 - params.lam1)
        if log_scalars:
            assert 0 < change < 1e-3  # at most the value times (e^0.32 - 1)
        else:
            assert result.final_params.lam1 >= 0 and change > 5e-4


def test_a_separate_inverse_dictionary_starts_at_the_transpose_and_is_trained(task):
    params = task["params"]
    assert params.Dinv is None
    result = sista_train(params, task["X"][:100], task["Y"][:100], learn=("D", "Dinv"),
                   learning_rate=1e-3, max_epochs=1, random_state=0)
    final = result.final_params
    assert final.Dinv is not None and not np.allclose(final.Dinv, final.D.T)
    assert np.abs(final.Dinv - params.D.T).max() > 1e-4


@pytest.mark.parametrize("learn", [("D", "F", "alpha", "lam1", "lam2"),
                                   ("D", "F", "A", "alpha", "lam1", "lam2", "h0")])
def test_default_training_gains_as_much_as_unconstrained_training(learn):
    # The reference: plain gradient descent on theta (guard=False, no constraint), as a
    # framework with autograd would train it. The default's constraints must not cost
    # gain: at least 90% of the reference's, on a task that starts from a wrong
    # dictionary and a step at the stability bound.
    X, Y, A, D = make_sparse_sequences(240, random_state=5)
    X_val, Y_val = X[200:], Y[200:]
    params = SISTAParams.initial(A, perturbed_dictionary(D, random_state=5), lam1=0.05,
                                 lam2=0.1)
    untrained = nmse_db(Y_val, forward(params, X_val))
    gains = []
    for options in (dict(), dict(guard=False, keep_atom_norms=False)):
        result = sista_train(params, X[:200], Y[:200], learn=learn, optimizer="adam",
                       learning_rate=3e-3, batch_size=20, max_epochs=40, random_state=0,
                       **options)
        gains.append(untrained - nmse_db(Y_val, forward(result.final_params, X_val)))
    assert gains[1] > 1.0  # (the task is learnable)
    assert gains[0] >= 0.9 * gains[1]


def test_nan_loss_stops_training_with_a_clear_message(task):
    X = task["X"][:20].copy()
    X[3, 2, 1] = np.nan
    with pytest.warns(TrainingStoppedWarning, match="NaN or infinite"):
        result = sista_train(task["params"], X, task["Y"][:20], max_epochs=3, batch_size=20)
    assert result.n_epochs == 0 and result.best_epoch == 0
    np.testing.assert_array_equal(result.params.D, task["params"].D)


def test_only_the_named_parameters_are_trained(task):
    result = sista_train(task["params"], task["X"][:50], task["Y"][:50], learn=("lam1",),
                   learning_rate=1e-2, max_epochs=2, random_state=0)
    final = result.final_params
    np.testing.assert_array_equal(final.D, task["params"].D)
    np.testing.assert_array_equal(final.F, task["params"].F)
    assert final.lam2 == task["params"].lam2 and final.lam1 != task["params"].lam1


def test_training_stops_after_n_iter_no_change(task):
    result = sista_train(task["params"], task["X"][:50], task["Y"][:50], X_val=task["X_val"],
                   Y_val=task["Y_val"], learning_rate=1e-12, max_epochs=50,
                   n_iter_no_change=2, tol=1.0, random_state=0)
    assert result.stop_reason == "no improvement" and result.n_epochs == 2


def test_float32_training_runs_in_float32(task):
    X32, Y32 = task["X"][:50].astype(np.float32), task["Y"][:50].astype(np.float32)
    result = sista_train(task["params"], X32, Y32, max_epochs=2, learning_rate=1e-3, random_state=0)
    assert np.isfinite(result.loss_curve).all() and result.best_epoch > 0


def test_verbose_prints_loss_validation_and_time_per_epoch(task, capsys):
    sista_train(task["params"], task["X"][:50], task["Y"][:50], X_val=task["X_val"],
          Y_val=task["Y_val"], max_epochs=2, random_state=0, verbose=True)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3
    assert "loss" in lines[2] and "validation NMSE" in lines[2]
    assert re.search(r"\d+\.\d\d s", lines[2])


# The shared loop, on a toy model: the mean of 0.5 (w - t)^2 over the batch's targets t,
# NaN where |w| > 4 (a stand-in for a recursion that diverges).
TARGETS = np.linspace(0.5, 1.5, 20)


def toy_loss_and_grad(params, batch):
    residual = params["w"] - TARGETS[batch]
    if np.abs(params["w"]) > 4:
        return np.nan, {"w": np.array(np.nan)}
    return 0.5 * float(np.mean(residual**2)), {"w": np.array(np.mean(residual))}


def toy_loop(start=0.0, **kwargs):
    settings = dict(decode=lambda params, variables: {"w": float(variables["w"])},
                    optimizer="adam", learning_rate=0.1, batch_size=5, max_epochs=10,
                    random_state=0)
    return train_loop({"w": start}, {"w": np.array(start)}, toy_loss_and_grad, len(TARGETS),
                      **{**settings, **kwargs})


def test_loop_minimises_and_keeps_the_best_epoch():
    result = toy_loop(max_epochs=30)
    assert isinstance(result, TrainingResult)
    assert result.n_epochs == 30 and result.stop_reason == "max_epochs"
    assert result.initial_validation_score is None and result.validation_scores == []
    assert abs(result.final_params["w"] - 1.0) < 0.2
    assert result.loss_curve[result.best_epoch - 1] == min(result.loss_curve)


def test_loop_stops_on_the_time_budget_of_its_clock():
    ticks = iter(range(1000))  # two readings per epoch: one second of training each
    result = toy_loop(max_epochs=50, max_seconds=3, clock=lambda: next(ticks))
    assert result.n_epochs == 3 and result.train_seconds == [1, 2, 3]
    assert result.stop_reason == "max_seconds"


def test_sista_training_stops_on_the_time_budget(task):
    ticks = iter(range(1000))
    result = sista_train(task["params"], task["X"][:20], task["Y"][:20], max_epochs=50,
                   max_seconds=2, clock=lambda: next(ticks), random_state=0)
    assert result.n_epochs == 2 and result.train_seconds == [1, 2]
    assert result.stop_reason == "max_seconds"


def test_callback_sees_every_epoch_and_can_stop_training():
    seen = []

    def callback(result):
        seen.append((result.n_epochs, result.final_params["w"], result.loss_curve[-1]))
        return result.n_epochs == 4

    result = toy_loop(callback=callback)
    assert result.n_epochs == 4 and result.stop_reason == "callback"
    assert [epoch for epoch, _, _ in seen] == [1, 2, 3, 4]
    assert seen[-1][1] == result.final_params["w"]


def test_sista_training_callback_and_score(task):
    scores = []
    result = sista_train(task["params"], task["X"][:50], task["Y"][:50], max_epochs=5,
                   learning_rate=1e-3, random_state=0, score=lambda p: -p.lam1,
                   callback=lambda r: scores.append(r.validation_scores[-1]) or r.n_epochs == 2)
    assert result.n_epochs == 2 and result.stop_reason == "callback"
    assert result.initial_validation_score == -task["params"].lam1
    assert scores == result.validation_scores


def test_loop_undoes_a_step_into_nan_and_halves_the_learning_rate():
    optimizer = Adam(learning_rate=5.0)  # the first step jumps to w = -5 or 5: NaN
    result = toy_loop(optimizer=optimizer, max_epochs=20)
    assert result.n_rejected >= 1 and optimizer.learning_rate <= 2.5
    assert result.stop_reason == "max_epochs" and np.isfinite(result.loss_curve).all()
    assert abs(result.final_params["w"] - 1.0) < 0.5


def test_loop_without_guard_stops_at_the_first_nan():
    with pytest.warns(TrainingStoppedWarning, match="NaN or infinite"):
        result = toy_loop(optimizer=Adam(learning_rate=5.0), guard=False)
    assert result.n_epochs == 0 and result.n_rejected == 0
    assert result.params == {"w": 0.0}


def test_explosions_are_undone_only_above_the_explode_factor():
    # Adam's first step, from the optimum w = 1 to w = 4 or -2: a finite loss about 100
    # times the first one
    for factor, undone in [(10.0, True), (np.inf, False)]:
        result = toy_loop(start=1.0, optimizer=Adam(learning_rate=3.0), max_epochs=1,
                          explode_factor=factor)
        assert (result.n_rejected > 0) == undone


def test_project_corrects_every_step_and_is_counted():
    def project(params, variables):
        if params["w"] <= 0.8:
            return False
        params["w"] = 0.8
        variables["w"] = np.array(0.8)
        return True

    result = toy_loop(project=project, max_epochs=20)
    assert result.final_params["w"] == 0.8 and result.n_projected > 0


# ----------------------------------------------------------------------------------------
# layer-wise training, on a toy layered network: y = (w_1 + ... + w_depth + c) x


@dataclass
class _ToyParams:
    w: np.ndarray  # one gain per layer
    c: np.ndarray  # shared

    def copy(self):
        return _ToyParams(self.w.copy(), self.c.copy())


class _Toy(Network):
    name = "toy"
    Params = _ToyParams
    TRAINABLE = TRAINED = ("w", "c")
    LAYERED = ("w",)

    def __init__(self):
        self.seen = []  # (depth, w) of every call

    def forward(self, params, X, *, depth=None, dtype=None):
        return (params.w[:depth].sum() + params.c[0]) * X

    def loss_and_grad(self, params, X, Y, *, depth=None, names=None, dtype=None):
        self.seen.append((depth, params.w.copy()))
        error = self.forward(params, X, depth=depth) - Y
        g = 2 * np.mean(error * X)
        w = np.zeros_like(params.w)
        w[:depth] = g
        return float(np.mean(error**2)), {"w": w, "c": np.array([g])}


def _toy_problem():
    x = np.random.default_rng(0).standard_normal((200, 1))
    return _Toy(), _ToyParams(w=np.array([0.1, 0.2]), c=np.array([0.5])), x, 3.0 * x


@pytest.mark.parametrize("refinements", [(), (0.5, 0.1)])
def test_layerwise_training_trains_each_new_layer_then_refines(refinements):
    network, start, X, Y = _toy_problem()
    depths = []
    result = train(network, start, X, Y, layerwise=True,
                   on_depth=lambda params, depth: depths.append(depth),
                   refinements=refinements, learning_rate=0.05, max_epochs=20,
                   batch_size=50, random_state=0)
    plan = [(d, what) for d in (1, 2) for what in ["new layer"] + ["all layers"] * len(
        refinements)]
    assert [(s["depth"], s["trained"]) for s in result.stages] == plan
    assert result.n_epochs == 20 * len(plan) == len(result.loss_curve)
    assert depths == [1, 2]
    w, c = result.params.w, result.params.c
    assert c[0] != 0.5 and w[0] != 0.1 and w[1] != 0.2  # shared, and both layers, trained
    assert w.sum() + c[0] == pytest.approx(3.0, abs=0.05)


def test_a_new_layer_stage_freezes_the_earlier_layers():
    network, start, X, Y = _toy_problem()
    train(network, start, X, Y, layerwise=True, refinements=(), learning_rate=0.05,
          max_epochs=3, batch_size=50, random_state=0)
    depth_2 = [w for depth, w in network.seen if depth == 2]
    assert all(w[0] == depth_2[0][0] for w in depth_2)  # layer 1 frozen at depth 2
    assert len({w[1] for w in depth_2}) > 1


def test_layerwise_training_needs_a_per_layer_parameter():
    network, start, X, Y = _toy_problem()
    with pytest.raises(ValueError, match="layer-wise training of toy needs a per-layer"):
        train(network, start, X, Y, names=("c",), layerwise=True)


def test_unknown_parameter_names_are_refused():
    network, start, X, Y = _toy_problem()
    with pytest.raises(ValueError, match=r"toy cannot train \['v'\]; choose among w, c"):
        train(network, start, X, Y, names=("w", "v"))


def test_ctrl_c_keeps_the_best_parameters_so_far_and_says_so():
    network, start, X, Y = _toy_problem()

    def interrupt(result):
        if result.n_epochs == 3:
            raise KeyboardInterrupt

    with pytest.warns(TrainingStoppedWarning, match=r"interrupted \(Ctrl-C\) in epoch 3"):
        result = train(network, start, X, Y, learning_rate=0.05, max_epochs=10,
                       batch_size=50, random_state=0, callback=interrupt, layerwise=True)
    assert result.stop_reason == "interrupted" and len(result.stages) == 1
    assert result.n_epochs == 3 and result.best_epoch == 3
    assert result.params.w[0] != 0.1


def test_progress_line_on_a_terminal_only(capsys):
    network, start, X, Y = _toy_problem()
    train(network, start, X, Y, max_epochs=2, progress=True, random_state=0)
    err = capsys.readouterr().err
    assert err.count("\r") == 2 and "epoch 2/2" in err and "loss" in err
    train(network, start, X, Y, max_epochs=2, random_state=0)  # (not a terminal here)
    assert capsys.readouterr().err == ""


def test_resample_trains_on_the_new_pairs_of_every_epoch():
    network, start, X, Y = _toy_problem()
    drawn = []

    def resample(rng):  # from the second epoch on, targets of another slope
        x = rng.standard_normal(X.shape)
        drawn.append(x)
        return x, -2.0 * x

    result = train(network, start, X, Y, resample=resample, layerwise=True, refinements=(),
                   learning_rate=0.05, max_epochs=30, batch_size=50, random_state=0)
    assert len(drawn) == result.n_epochs == 60
    assert not np.array_equal(drawn[0], drawn[1])
    assert result.params.w.sum() + result.params.c[0] == pytest.approx(-2.0, abs=0.05)


def test_resample_must_keep_the_shapes():
    network, start, X, Y = _toy_problem()
    with pytest.raises(ValueError, match=r"resample must return X and Y of shapes \(200, 1\)"):
        train(network, start, X, Y, resample=lambda rng: (X[:10], Y[:10]), max_epochs=2)
