"""Tests of SISTARegressor: scikit-learn behaviour, training, save and load."""

import os
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

import sparserec
from sparserec import (SISTARegressor, io, load_model, load_pretrained, make_dictionary,
                       nmse_db, paper_matrices, sample_image, sista)
from sparserec.datasets import make_sparse_sequences, perturbed_dictionary


def test_fit_without_targets_is_classical_sista(sequences):
    X, _, A, _ = sequences
    model = SISTARegressor(A, dictionary="dct", n_layers=3).fit(X)
    expected = sista(X, A, 0.5, 1.0, D=make_dictionary("dct", 8), n_iter=3).y_hat
    np.testing.assert_allclose(model.predict(X), expected, rtol=0, atol=1e-12)
    assert model.n_epochs_ == 0 and model.loss_curve_ == []
    np.testing.assert_array_equal(model.dictionary_, model.initial_dictionary_)


def test_training_beats_the_untrained_model():
    X, Y, A, D = make_sparse_sequences(200, random_state=0)
    X_test, Y_test, _, _ = make_sparse_sequences(50, random_state=5)
    start = perturbed_dictionary(D)
    untrained = SISTARegressor(A, dictionary=start, lam1=0.05, lam2=0.1).fit(X)
    model = SISTARegressor(A, dictionary=start, lam1=0.05, lam2=0.1, optimizer="adam",
                           learning_rate=1e-2, batch_size=20, max_epochs=10,
                           random_state=0).fit(X, Y)
    assert (nmse_db(Y_test, model.predict(X_test))
            < nmse_db(Y_test, untrained.predict(X_test)) - 1)
    assert model.score(X_test, Y_test) > untrained.score(X_test, Y_test)
    assert model.alpha_ > 0 and model.lam1_ > 0 and model.lam2_ > 0
    assert len(model.loss_curve_) == len(model.validation_scores_) == model.n_epochs_ == 10
    assert 1 <= model.best_epoch_ <= 10


def test_score_is_r2_of_all_entries(sequences, small_model):
    X, Y, A, _ = sequences
    model = small_model(A).fit(X)
    Y_hat = model.predict(X)
    expected = 1 - np.sum((Y - Y_hat) ** 2) / np.sum((Y - Y.mean()) ** 2)
    assert model.score(X, Y) == pytest.approx(expected)


def test_same_random_state_gives_the_same_model(sequences, small_model):
    X, Y, A, _ = sequences
    first, second = (small_model(A).fit(X, Y) for _ in range(2))
    np.testing.assert_array_equal(first.dictionary_, second.dictionary_)
    assert first.loss_curve_ == second.loss_curve_


def test_predict_one_sequence_and_float32(sequences, small_model):
    X, Y, A, _ = sequences
    model = small_model(A, dtype="float32").fit(X, Y)
    assert model.predict(X[0]).shape == (8, 8)
    assert model.predict(X[:3]).dtype == np.float32


def test_clone_keeps_hyperparameters_only(sequences, small_model):
    X, Y, A, _ = sequences
    model = small_model(A, learn=("lam1",)).fit(X, Y)
    copy = clone(model)
    assert copy.get_params()["learn"] == ("lam1",)
    assert copy.measurement_matrix is model.measurement_matrix or np.array_equal(
        copy.measurement_matrix, A)
    assert not hasattr(copy, "dictionary_")


def test_pipeline_grid_search_and_cross_validation_on_3d_arrays(sequences, small_model):
    X, Y, A, _ = sequences
    pipe = Pipeline([("scale", FunctionTransformer(lambda X: 1.0 * X)),
                     ("sista", small_model(A, max_epochs=1))])
    assert pipe.fit(X, Y).predict(X).shape == Y.shape
    search = GridSearchCV(small_model(A, max_epochs=1), {"lam1": [0.05, 0.5]}, cv=2)
    search.fit(X, Y)
    assert search.best_params_["lam1"] in (0.05, 0.5)
    scores = cross_val_score(small_model(A, max_epochs=1), X, Y, cv=3)
    assert scores.shape == (3,) and np.isfinite(scores).all()


@pytest.mark.parametrize("options", [dict(learn=("D", "A", "h0", "lam1")),
                                     dict(learn=("D", "Dinv", "F", "alpha", "lam1", "lam2"),
                                          log_scalars=False, keep_atom_norms=False)])
def test_save_and_load_give_the_same_predictions(sequences, tmp_path, small_model, options):
    X, Y, A, D = sequences
    model = small_model(A, dictionary=perturbed_dictionary(D), transition=np.eye(8),
                        **options).fit(X, Y)
    assert (model.inverse_dictionary_ is None) == ("Dinv" not in options["learn"])
    path = tmp_path / "model.npz"
    model.save(path)
    assert os.listdir(tmp_path) == ["model.npz"]  # no temporary file left behind
    loaded = load_model(path)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    for name, value in model.get_params().items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(loaded.get_params()[name], value)
        else:
            assert loaded.get_params()[name] == value, name
    assert loaded.loss_curve_ == model.loss_curve_ and loaded.n_epochs_ == model.n_epochs_
    assert isinstance(loaded.alpha_, float)
    if model.inverse_dictionary_ is not None:
        np.testing.assert_array_equal(loaded.inverse_dictionary_, model.inverse_dictionary_)


def test_save_with_a_named_dictionary(sequences, tmp_path):
    X, _, A, _ = sequences
    model = SISTARegressor(A, dictionary="wavelet:haar:2").fit(X)
    model.save(tmp_path / "m.npz")
    loaded = load_model(tmp_path / "m.npz")
    assert loaded.dictionary == "wavelet:haar:2"
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


@pytest.mark.parametrize("kind, message", [
    ("text", "is not an npz file"),
    ("npz without format", "is not a model \\(no .format. entry"),
    ("npy", "is not an npz file \\(a single .npy array\\)"),
    ("truncated", "is truncated or corrupt"),
    ("another model", "is a model of another kind"),
    ("incomplete", "missing array 'alpha_'"),
])
def test_load_model_rejects_a_file_that_is_not_a_model(sequences, tmp_path, kind, message):
    X, _, A, _ = sequences
    path = tmp_path / "bad.npz"
    if kind == "text":
        path.write_text("not a model\n")
    elif kind == "npz without format":
        np.savez(path, a=np.zeros(3))
    elif kind == "npy":
        with open(path, "wb") as file:
            np.save(file, np.zeros(3))
    elif kind == "another model":
        io.write_model(path, "sparserec.OtherModel/1", {}, {"w": np.ones(2)})
    else:
        SISTARegressor(A).fit(X).save(path)
        if kind == "truncated":
            path.write_bytes(path.read_bytes()[:200])
        else:
            arrays = io.load_npz(path)
            del arrays["alpha_"]
            path.unlink()
            io.write_npz(path, arrays)
    # an InputError, which is a ValueError naming the file
    with pytest.raises(io.InputError, match=f"bad.npz: {message}"):
        load_model(path)
    with pytest.raises(ValueError):
        load_model(path)


@pytest.mark.parametrize("kwargs, fit_args, message", [
    ({"measurement_matrix": None}, "X", "measurement_matrix is required"),
    ({}, "X2d", "X must have 3 dimensions"),
    ({}, "XYwrong", "Y must have shape"),
    ({"learn": ("D", "G")}, "XY", "learn contains"),
    ({"lam2": 0.0}, "XY", "lam2=0 cannot be learned"),
    ({"optimizer": "sgd"}, "XY", "optimizer must be"),
    ({"dictionary": "fourier"}, "XY", "unknown dictionary"),
    ({"transition": np.eye(3)}, "XY", "transition must have shape"),
])
def test_invalid_input_gets_a_clear_message(sequences, kwargs, fit_args, message):
    X, Y, A, _ = sequences
    model = SISTARegressor(**{"measurement_matrix": A, **kwargs})
    args = {"X": (X,), "X2d": (X[0],), "XY": (X, Y), "XYwrong": (X, Y[:, :, :5])}[fit_args]
    with pytest.raises(ValueError, match=message):
        model.fit(*args)


def test_verbose_fit_reports_every_epoch(sequences, capsys, small_model):
    X, Y, A, _ = sequences
    small_model(A, verbose=True).fit(X, Y)
    out = capsys.readouterr().out
    assert "epoch   1" in out and "epoch   2" in out and "validation NMSE" in out


def test_explicit_validation_data_chooses_the_epoch_and_trains_on_all_of_x(sequences, small_model):
    X, Y, A, _ = sequences
    model = small_model(A, max_epochs=3).fit(X[:40], Y[:40], validation_data=(X[40:], Y[40:]))
    assert len(model.validation_scores_) == 3
    expected = nmse_db(Y[40:], small_model(A).fit(X[:40]).predict(X[40:]))
    # Epoch 0 (the initial parameters) is scored on the same set, so the kept model is no worse.
    assert nmse_db(Y[40:], model.predict(X[40:])) <= expected + 1e-9
    with pytest.raises(ValueError, match="validation_data must have shapes"):
        small_model(A).fit(X, Y, validation_data=(X[:, :3], Y))


def pretrained_problem():
    """The shipped SISTA-RNN, and the paper's measurements of a test image's columns,
    normalised as the model was trained."""
    model = load_pretrained("sista-rnn-images")
    norm = model.pretrained_["normalisation"]
    image = sample_image("astronaut")
    A, D, F = paper_matrices()
    frames = (image.T - norm["mean"]) / norm["std"]
    return model, frames @ A.T, frames, (A, D, F)


@pytest.mark.filterwarnings("ignore::sparserec.StepSizeWarning")  # (alpha = 1, the paper's)
def test_the_pretrained_model_beats_the_solver_it_started_from_on_a_test_image():
    model, x, frames, (A, D, F) = pretrained_problem()
    assert model.pretrained_["training_images"] and "astronaut" not in \
        model.pretrained_["training_images"]
    learned = nmse_db(frames, model.predict(x[None])[0])
    start = nmse_db(frames, sista(x, A, 0.5, 1.0, D=D, F=F, alpha=1.0, n_iter=3).y_hat)
    assert learned < start - 3.0  # the network before training: 3-iteration SISTA


def test_an_unknown_pretrained_name_is_refused():
    with pytest.raises(ValueError, match="sista-rnn-images"):
        load_pretrained("sista-rnn-caltech")


def test_predict_takes_the_pretrained_model_by_name(tmp_path, invoke):
    model, x, frames, _ = pretrained_problem()
    np.savez(tmp_path / "columns.npz", x=x, y=frames)
    result = invoke("predict", "--model", "sista-rnn-images", "columns.npz", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    with np.load(tmp_path / "columns_predict.npz") as data:
        np.testing.assert_allclose(data["y_hat"], model.predict(x), rtol=1e-5, atol=1e-5)


def test_a_fit_warns_of_validation_outputs_far_beyond_the_training_targets(tmp_path):
    # Validation measurements 100 times larger than the training ones: the outputs are far
    # beyond every training target, as those of an unstable network are.
    X, Y, A, D = sparserec.make_sparse_sequences(30, 6, 16, 12, 2, random_state=0)
    model = sparserec.SISTARegressor(A, dictionary=D, max_epochs=1, random_state=0)
    with pytest.warns(sparserec.UnstableModelWarning,
                      match=r"unstable on 10 of 10 validation sequences: outputs up to "):
        model.fit(X, Y, validation_data=(100 * X[:10], Y[:10]))
    assert model.n_unstable_ == 10
    model.save(tmp_path / "m.npz")
    assert sparserec.load_model(tmp_path / "m.npz").n_unstable_ == 10
    with warnings.catch_warnings():
        warnings.simplefilter("error", sparserec.UnstableModelWarning)
        assert sparserec.SISTARegressor(A, dictionary=D, max_epochs=1).fit(X, Y).n_unstable_ == 0
