"""Tests of the empirical phase diagrams (sparserec.phase); the l1 theory is
tests/test_theory.py's."""

import re

import numpy as np
import pytest

import sparserec
from sparserec import (PhaseTransition, donoho_tanner_rho, load_phase_transition,
                       phase_transition, recovery_success)

# ----------------------------------------------------------------------------------------
# the success criterion


def test_success_is_a_relative_error_of_at_most_tol():
    truth = np.array([[3.0, 4.0], [3.0, 4.0], [3.0, 4.0]])  # norm 5
    estimate = truth + np.array([[0.05, 0.0], [0.0, 0.0500001], [0.0, 0.0]])
    assert recovery_success(truth, estimate).tolist() == [True, False, True]
    assert recovery_success(truth, estimate, tol=0.02).all()


def test_success_on_a_zero_signal_needs_an_exact_zero():
    assert recovery_success(np.zeros((2, 3)), np.array([[0, 0, 0], [0, 1e-12, 0]])).tolist() \
        == [True, False]


def test_success_shapes_must_match():
    with pytest.raises(ValueError, match="same shape"):
        recovery_success(np.ones(3), np.ones(4))


# ----------------------------------------------------------------------------------------
# the empirical diagram


def small_grid(**kwargs):
    options = dict(n=100, deltas=[0.5], rhos=[0.1, 0.8], n_trials=4, random_state=1)
    return phase_transition(**{**options, **kwargs})


@pytest.mark.parametrize("solver", list(sparserec.SOLVERS))
def test_every_solver_succeeds_when_sparse_and_fails_when_dense(solver):
    result = small_grid(solver=solver, rhos=[0.05, 0.8])
    assert result.success.tolist() == [[1.0, 0.0]]
    assert result.errors.shape == (1, 2, 4) and result.solver == solver


def test_a_cell_does_not_depend_on_the_grid():
    alone = small_grid(rhos=[0.3])
    within = small_grid(rhos=[0.1, 0.3])
    # each cell draws from a stream seeded by (seed, i, j): same position, same draws
    np.testing.assert_array_equal(small_grid(rhos=[0.3, 0.5]).errors[0, 0], alone.errors[0, 0])
    assert within.errors.shape == (1, 2, 4)


def test_stop_after_skips_the_cells_above_a_failure():
    result = small_grid(rhos=[0.1, 0.7, 0.8, 0.9], stop_after=1)
    assert result.success[0, 0] == 1 and not result.success[0, 1:].any()
    assert np.isnan(result.errors[0, 2:]).all() and not np.isnan(result.errors[0, 1]).any()


def test_noise_makes_exact_recovery_fail():
    assert small_grid(rhos=[0.1], snr_db=20.0).success[0, 0] == 0.0


def test_a_fitted_sista_rnn_is_a_solver():
    A = sparserec.gaussian_matrix(32, 64, random_state=0)
    model = sparserec.SISTARegressor(A, n_layers=50, lam1=0.01, lam2=0.0, learn=()).fit(
        np.zeros((2, 1, 32)))
    result = phase_transition(model, rhos=[0.05, 0.9], n_trials=4)
    assert result.solver == "model" and result.n == 64
    assert result.deltas.tolist() == [0.5] and result.success.shape == (1, 2)
    assert result.success[0, 1] == 0.0
    with pytest.raises(ValueError, match="the model fixes delta"):
        phase_transition(model, deltas=[0.25])


def test_curve_interpolates_the_fall_through_the_level():
    result = PhaseTransition(np.array([0.2, 0.5, 0.8]), np.array([0.1, 0.2, 0.3]),
                             np.array([[1.0, 0.8, 0.2], [0.4, 0.0, 0.0], [1.0, 1.0, 1.0]]),
                             np.zeros((3, 3, 1)), 100, "amp")
    np.testing.assert_allclose(result.curve(), [0.25, np.nan, np.nan])


def test_save_load_and_plot(tmp_path):
    result = small_grid(deltas=[0.4, 0.6], rhos=[0.1, 0.3, 0.6])
    result.save(tmp_path / "grid.npz")
    loaded = load_phase_transition(tmp_path / "grid.npz")
    np.testing.assert_array_equal(loaded.success, result.success)
    np.testing.assert_array_equal(loaded.errors, result.errors)
    assert (loaded.n, loaded.solver, loaded.settings["n_trials"]) == (100, "amp", 4)
    with np.load(tmp_path / "grid.npz") as arrays:
        np.testing.assert_allclose(arrays["theory"], donoho_tanner_rho([0.4, 0.6]))
    with pytest.raises(sparserec.io.InputError, match="output already exists"):
        result.save(tmp_path / "grid.npz")
    pytest.importorskip("matplotlib")
    result.plot(tmp_path / "grid.png")
    assert (tmp_path / "grid.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_dask_gives_the_same_grid():
    distributed = pytest.importorskip("distributed")
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=2,
                            dashboard_address=":0") as client:
        on_dask = small_grid(client=client)
        rows_on_dask = small_grid(client=client, stop_after=1)
    np.testing.assert_array_equal(on_dask.errors, small_grid().errors)
    np.testing.assert_array_equal(rows_on_dask.success, small_grid(stop_after=1).success)


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(solver="lars"), ValueError, "solver must be one of " + ", ".join(sparserec.SOLVERS)),
    (dict(deltas=[0.0, 0.5]), ValueError, "deltas must be"),
    (dict(rhos=[1.5]), ValueError, "rhos must be"),
    (dict(n_trials=0), ValueError, "n_trials must be"),
    (dict(n=2.5), TypeError, "n must be an integer"),
    (dict(tol=0), ValueError, "tol must be"),
    (dict(tol="0.1"), TypeError, "tol must be a real number"),
    (dict(snr_db=np.inf), ValueError, "snr_db must be a finite number"),
    (dict(stop_after=0), ValueError, "stop_after must be"),
    (dict(dtype="int32"), ValueError, "dtype must be"),
])
def test_bad_settings_are_refused(kwargs, error, message):
    with pytest.raises(error, match=message):
        small_grid(**kwargs)


# ----------------------------------------------------------------------------------------
# the l1 boundary at N = 500 (slow: minutes)


@pytest.mark.slow
@pytest.mark.parametrize("solver, n_trials", [("amp", 20), ("fista", 10)])
def test_empirical_half_success_curve_is_within_005_of_theory(solver, n_trials):
    empirical = []
    for delta in (0.25, 0.5, 0.75):
        rhos = np.round(donoho_tanner_rho(delta) + np.arange(-0.075, 0.076, 0.025), 3)
        result = phase_transition(solver, n=500, deltas=[delta], rhos=rhos,
                                  n_trials=n_trials, stop_after=2, random_state=0)
        empirical.append(result.curve()[0])
    theory = donoho_tanner_rho([0.25, 0.5, 0.75])
    print(f"{solver}: empirical {np.round(empirical, 3)}, theory {np.round(theory, 3)}")
    assert np.all(np.abs(np.array(empirical) - theory) <= 0.05)


@pytest.mark.parametrize("settings, shapes, fragment", [
    ('{"solver": "amp"}', {}, "settings lack a signal length 'n'"),
    ('{"n": "many", "solver": "amp"}', {}, "settings lack a signal length 'n'"),
    ('{"n": 100}', {}, "or a 'solver' name"),
    ('{"n": 100, "solver": "amp"}', dict(success=(3, 2)), "expected (d,), (r,), (d, r)"),
    ('{"n": 100, "solver": "amp"}', dict(rhos=(3, 1)), "expected (d,), (r,), (d, r)"),
])
def test_a_phase_file_that_lies_is_refused_in_words(tmp_path, settings, shapes, fragment):
    sizes = {**dict(deltas=(2,), rhos=(3,), success=(2, 3), errors=(2, 3, 4)), **shapes}
    np.savez(tmp_path / "grid.npz", settings=np.array(settings),
             **{name: np.zeros(shape) for name, shape in sizes.items()})
    with pytest.raises(sparserec.io.InputError, match=f"^.*grid.npz: .*{re.escape(fragment)}"):
        load_phase_transition(tmp_path / "grid.npz")


def test_verbose_prints_a_line_per_delta_on_stderr(capsys):
    phase_transition("amp", n=40, deltas=[0.3, 0.6], rhos=[0.1, 0.9], n_trials=2,
                     verbose=True)
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert out == "" and len(lines) == 2
    assert lines[0].startswith("phase amp: delta 0.3 (1 of 2), success ")
