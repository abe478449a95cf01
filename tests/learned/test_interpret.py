"""Tests of sparserec.learned.interpret: a SISTA-RNN's parameters by name, and plots."""

import numpy as np
import pytest

from sparserec import SISTARegressor
from sparserec.datasets import perturbed_dictionary
from sparserec.learned import SISTAParams, learned_parameters, plot_learned


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
