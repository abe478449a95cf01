"""The one-shot learned estimators (LISTA, LAMP, LISTA-CPSS, ALISTA): classical before
training, better after, saved and loaded, and measured by phase_transition and the command
line."""

import numpy as np
import pytest
from click.testing import CliRunner
from sklearn.base import clone

from sparserec import (ALISTARegressor, LAMPRegressor, LISTACPSSRegressor, LISTARegressor, amp,
                       gaussian_matrix, ista,
                       lipschitz_constant,
                       load_model, make_bernoulli_gaussian, minimax_threshold, nmse_db,
                       phase_transition)
from sparserec.cli import cli
from sparserec.io import InputError

# The classical solvers run a fixed number of iterations on purpose.
pytestmark = pytest.mark.filterwarnings("ignore::sparserec.ConvergenceWarning")


@pytest.fixture(scope="module")
def task():
    A = gaussian_matrix(50, 100, random_state=0)
    A /= np.linalg.norm(A) / 10.0  # columns of unit norm on average, as AMP assumes
    X, H, _ = make_bernoulli_gaussian(3000, A, random_state=0)
    X_test, H_test, _ = make_bernoulli_gaussian(500, A, random_state=1)
    return dict(A=A, X=X, H=H, X_test=X_test, H_test=H_test)


@pytest.fixture(scope="module")
def trained(task):
    """Four-layer networks trained layer by layer (a few seconds each)."""
    options = dict(n_layers=4, max_epochs=8, n_iter_no_change=3, random_state=0)
    return {name: model.fit(task["X"], task["H"]) for name, model in [
        ("lista", LISTARegressor(task["A"], **options)),
        ("lamp-soft", LAMPRegressor(task["A"], **options)),
        ("lamp-bg", LAMPRegressor(task["A"], denoiser="bg", **options)),
        ("lista-cpss", LISTACPSSRegressor(task["A"], **options)),
        ("alista", ALISTARegressor(task["A"], **options))]}


def test_untrained_networks_are_the_classical_solvers(task):
    A, X = task["A"], task["X_test"][:20]
    lista = LISTARegressor(A, n_layers=5, lam=0.05).fit(X)
    L = 1.001 * lipschitz_constant(A)
    np.testing.assert_allclose(lista.predict(X),
                               ista(X, A, 0.05, alpha=L, max_iter=5, tol=0.0).h, atol=1e-10)
    lamp = LAMPRegressor(A, n_layers=5).fit(X)
    expected = amp(X, A, tau=minimax_threshold(0.5), max_iter=5, tol=0.0).h
    np.testing.assert_allclose(lamp.predict(X), expected, atol=1e-8)
    assert lamp.n_epochs_ == 0 and lamp.layer_scores_ == []
    cpss = LISTACPSSRegressor(A, n_layers=5, lam=0.05, p=0).fit(X)
    np.testing.assert_allclose(cpss.predict(X), lista.predict(X), atol=1e-10)


@pytest.mark.parametrize("name, classical", [("lista", "ista"), ("lamp-soft", "amp"),
                                             ("lamp-bg", "amp"), ("lista-cpss", "ista"),
                                             ("alista", "ista")])
def test_training_beats_the_classical_solver_with_as_many_iterations(task, trained, name,
                                                                     classical):
    model = trained[name]
    A, X, H = task["A"], task["X_test"], task["H_test"]
    if classical == "ista":
        baseline = ista(X, A, 0.1, alpha=1.001 * lipschitz_constant(A), max_iter=4, tol=0.0).h
    else:
        baseline = amp(X, A, tau=minimax_threshold(0.5), max_iter=4, tol=0.0).h
    assert nmse_db(H, model.predict(X)) <= nmse_db(H, baseline) - 2.0
    assert len(model.layer_scores_) == 4
    assert model.layer_scores_[-1] < model.layer_scores_[0]


def test_the_bernoulli_gaussian_denoiser_beats_soft_thresholding(task, trained):
    X, H = task["X_test"], task["H_test"]
    assert (nmse_db(H, trained["lamp-bg"].predict(X))
            < nmse_db(H, trained["lamp-soft"].predict(X)) - 1.0)


@pytest.mark.parametrize("name", ["lista", "lamp-soft", "lamp-bg", "lista-cpss", "alista"])
def test_save_and_load_round_trip(task, trained, tmp_path, name):
    model = trained[name]
    path = tmp_path / "model.npz"
    model.save(path)
    loaded = load_model(path)
    assert type(loaded) is type(model)
    assert loaded.get_params().keys() == model.get_params().keys()
    np.testing.assert_array_equal(loaded.predict(task["X_test"]), model.predict(task["X_test"]))
    assert loaded.layer_scores_ == pytest.approx(model.layer_scores_)
    assert loaded.n_epochs_ == model.n_epochs_


def test_a_damaged_model_file_is_refused_with_its_name(task, trained, tmp_path):
    path = tmp_path / "lamp.npz"
    trained["lamp-soft"].save(path)
    arrays = dict(np.load(path, allow_pickle=False))
    arrays["B_"] = arrays["B_"][:2]
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(InputError, match=r"bad.npz: B_ must have shape \(K, N, M\) = "
                                         r"\(4, 100, 50\).*LAMPRegressor.save"):
        load_model(tmp_path / "bad.npz")


def test_phase_transition_of_a_trained_model(task, trained):
    pt = phase_transition(trained["lamp-bg"], rhos=[0.05, 0.9], n_trials=10, tol=0.1)
    assert pt.n == 100 and pt.deltas.tolist() == [0.5] and pt.solver == "model"
    assert pt.success[0, 0] > pt.success[0, 1]


def test_phase_command_takes_a_trained_lamp(task, trained, tmp_path):
    path = tmp_path / "lamp.npz"
    trained["lamp-soft"].save(path)
    out = tmp_path / "phase.npz"
    result = CliRunner().invoke(cli, ["phase", "--model", str(path), "--rhos", "0.1,0.8",
                                      "--trials", "5", "--no-plot", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "delta 0.500" in result.output and out.exists()
    result = CliRunner().invoke(cli, ["info", str(path)])
    assert result.exit_code == 0, result.output
    assert "valid model: LAMPRegressor(n_layers=4, denoiser=soft, M=50, N=100" in result.output


@pytest.mark.parametrize("make, message", [
    (lambda A: LAMPRegressor(A, denoiser="gauss"), "denoiser must be one of"),
    (lambda A: LISTARegressor(A, n_layers=0), "n_layers must be an integer"),
    (lambda A: LAMPRegressor(A, sparsity=1.0), "sparsity must be"),
    (lambda A: LISTARegressor(A, learning_rate=-1.0), "learning_rate must be"),
    (lambda A: ALISTARegressor(A, p_max=200), "p_max must be"),
    (lambda A: LISTACPSSRegressor(A, refinements=5), "refinements must be a sequence"),
])
def test_bad_hyperparameters_fail_clearly(task, make, message):
    with pytest.raises(ValueError, match=message):
        make(task["A"]).fit(task["X"][:10], task["H"][:10])


def test_bad_shapes_fail_clearly(task):
    A, X, H = task["A"], task["X"][:10], task["H"][:10]
    with pytest.raises(ValueError, match="X has 49 measurements per row but measurement_matrix "
                                         "has M=50"):
        LAMPRegressor(A).fit(X[:, :49], H)
    with pytest.raises(ValueError, match=r"Y must have shape \(10, 100\)"):
        LISTARegressor(A).fit(X, H[:, :99])
    model = LAMPRegressor(A, n_layers=2).fit(X)
    with pytest.raises(ValueError, match="the model expects M=50"):
        model.predict(X[:, :49])


def test_clone_keeps_the_hyperparameters(task):
    model = LAMPRegressor(task["A"], n_layers=3, denoiser="bg", tied=True)
    copy = clone(model)
    assert copy.get_params()["denoiser"] == "bg" and copy.get_params()["tied"] is True
