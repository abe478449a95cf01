"""Tests of sparserec.learned.interpret: a SISTA-RNN's parameters by name, every network's
per-layer quantities, and plots."""

import numpy as np
import pytest

from sparserec import ALISTARegressor, SISTARegressor, gaussian_matrix
from sparserec.datasets import perturbed_dictionary
from sparserec.estimators import ESTIMATORS
from sparserec.learned import (SISTAParams, learned_parameters, per_layer, plot_layers,
                               plot_learned)


def test_learned_parameters_are_named_arrays(sequences, small_model):
    X, Y, A, _ = sequences
    model = small_model(A).fit(X, Y)
    named = learned_parameters(model, effective=True)
    np.testing.assert_array_equal(named["dictionary"], model.dictionary_)
    assert float(named["threshold"]) == pytest.approx(model.lam1_ / model.alpha_)
    assert {"initial_dictionary", "S", "V", "W1", "W", "P"} <= set(named)
    assert all(isinstance(value, np.ndarray) for value in named.values())


def test_plot_learned_draws_atoms_and_transitions(sequences, small_model):
    pytest.importorskip("matplotlib")
    X, Y, A, D = sequences
    model = small_model(A, dictionary=perturbed_dictionary(D)).fit(X, Y)
    figure = plot_learned(model, n_atoms=4)
    assert len(figure.axes) == 4 + 3 + 3  # atoms, transition images, their colour bars
    with pytest.raises(ValueError, match="not fitted"):
        plot_learned(SISTARegressor(A))


def test_learned_parameters_of_sista_params():
    params = SISTAParams.initial(np.eye(3)[:2], alpha=2.0, lam1=0.5, lam2=0.25)
    named = learned_parameters(params)
    assert set(named) == {"dictionary", "transition", "measurement_matrix", "h0", "alpha",
                          "lam1", "lam2", "threshold"}
    assert float(named["threshold"]) == 0.25 and named["alpha"].shape == ()
    np.testing.assert_array_equal(named["measurement_matrix"], params.A)


def test_plot_learned_of_sista_params_needs_the_initial_ones():
    pytest.importorskip("matplotlib")
    rng = np.random.default_rng(0)
    initial = SISTAParams.initial(rng.standard_normal((3, 6)))
    learned = initial.copy()
    learned.D = learned.D + 0.1 * rng.standard_normal((6, 6))
    figure = plot_learned(learned, initial=initial, atoms=[0, 5])
    assert len(figure.axes) == 2 + 3 + 3  # the atoms, transition images, their colour bars
    assert [ax.get_title() for ax in figure.axes[:2]] == ["atom 0", "atom 5"]
    with pytest.raises(ValueError, match="give the initial parameters"):
        plot_learned(learned)


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_every_network_shows_its_layers(name):
    A = gaussian_matrix(10, 20, random_state=0)
    X = np.zeros((2, 4, 10)) if name == "sista-rnn" else np.zeros((2, 10))
    model = ESTIMATORS[name](A, n_layers=3).fit(X)
    quantities = per_layer(model)
    assert quantities and all(v.shape == (3,) and np.isfinite(v).all()
                              for v in quantities.values())
    figure = plot_layers(model)
    assert len(figure.axes) == len(quantities)
    assert [ax.get_title() for ax in figure.axes] == list(quantities)


def test_the_layers_are_the_fitted_parameters():
    A = gaussian_matrix(10, 20, random_state=0)
    model = ALISTARegressor(A, n_layers=3).fit(np.zeros((1, 10)))
    model.gamma_, model.theta_ = np.array([1.0, 0.5, 2.0]), np.array([0.1, -0.2, 0.3])
    quantities = per_layer(model)
    np.testing.assert_array_equal(quantities["step gamma"], [1.0, 0.5, 2.0])
    np.testing.assert_array_equal(quantities["threshold"], [0.1, 0.0, 0.3])  # max(theta, 0)
    sista = SISTARegressor(A, lam1=0.5, alpha=4.0).fit(np.zeros((1, 2, 10)))
    np.testing.assert_allclose(per_layer(sista)["threshold lam1/alpha"], [0.125] * 3)
    with pytest.raises(ValueError, match="not fitted"):
        per_layer(ALISTARegressor(A))
