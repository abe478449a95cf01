"""Tests of the registry of solvers, sparserec.SOLVERS: every entry works wherever the
registry is read (batch runs, the command line, phase diagrams)."""

import inspect
import warnings

import click
import numpy as np
import pytest

import sparserec
from sparserec import batch
from sparserec.cli import cli
from sparserec.solvers import Solver

NAMES = list(sparserec.SOLVERS)


def tiny_data(M=8, N=16, lead=(2, 3), seed=0):
    """Measurements of codes with two nonzeros, with the ground truth y."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((M, N)) / np.sqrt(M)
    y = np.zeros(lead + (N,))
    y[..., [2, 11]] = rng.standard_normal(lead + (2,))
    return dict(x=y @ A.T, A=A, y=y)


def choices(command, name):
    (param,) = [p for p in cli.commands[command].params if p.name == name]
    assert isinstance(param.type, click.Choice)
    return list(param.type.choices)


def test_the_registry_is_the_same_everywhere():
    assert sparserec.SOLVERS is sparserec.solvers.SOLVERS
    assert {"ista", "fista", "lasso", "sista", "amp", "sparsa", "sista_sparsa"} <= set(NAMES)
    for name in ("ista", "fista", "lasso", "sista", "amp", "sparsa", "sista_sparsa"):
        solver = sparserec.SOLVERS[name]
        assert isinstance(solver, Solver)
        assert getattr(sparserec, name) is solver.function
        # SISTA's problem alone takes sequences
        assert solver.sequential == (name in ("sista", "sista_sparsa"))
    with pytest.raises(TypeError):
        sparserec.SOLVERS["new"] = sparserec.SOLVERS["fista"]  # read-only


@pytest.mark.parametrize("name", NAMES)
def test_options_are_keywords_of_the_function(name):
    solver = sparserec.SOLVERS[name]
    parameters = inspect.signature(solver.function).parameters
    assert set(solver.options) <= set(parameters), name
    # phase diagrams: keywords too, but for lam1_ratio, which sets a required lam1 per cell
    assert set(solver.phase_options) - {"lam1_ratio"} <= set(parameters), name
    if "lam1" in parameters:
        assert "lam1_ratio" in solver.phase_options or "lam1" in solver.phase_options


@pytest.mark.parametrize("name", NAMES)
def test_default_options_are_the_registry_options_and_the_batch_settings(name):
    options = batch.default_options(name)
    expected = {k: v for k, v in sparserec.SOLVERS[name].options.items() if k not in ("D", "F")}
    assert options == {**expected, **batch.BATCH_OPTIONS}
    assert options["dictionary"] is None and options["dtype"] == "float64"
    assert batch.default_options(name) is not options  # a fresh dict every time


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", NAMES)
def test_every_solver_solves_a_tiny_problem_through_the_batch(name, dtype):
    data = tiny_data()
    options = dict(batch.default_options(name), dtype=dtype)
    if "n_nonzero" in options:  # the greedy solvers: K
        options["n_nonzero"] = 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sparserec.ConvergenceWarning)  # a tiny problem
        arrays, settings = batch.solve_arrays(data, name, options, "tiny")
    for key in ("h", "y_hat"):
        assert arrays[key].shape == (2, 3, 16), key
        assert arrays[key].dtype == np.dtype(dtype) and np.isfinite(arrays[key]).all(), key
    for key in ("n_iter", "converged", "objective"):
        assert arrays[key].shape == (2, 3), key
    assert ("diverged" in arrays) == (name == "amp")
    greedy = "n_nonzero" in options
    assert ("gap" in arrays) == (not sparserec.SOLVERS[name].sequential and not greedy)
    assert np.isfinite(arrays["snr_db"]) and np.isfinite(arrays["psnr_db"])
    assert settings["method"].split(":")[0] == name


def test_the_command_line_offers_every_registered_solver():
    assert choices("solve", "method") == NAMES
    assert choices("phase", "solver") == NAMES
    assert choices("warmup", "methods") == [*NAMES, "fit"]


def test_the_command_line_has_an_option_for_every_setting():
    solve = {p.name for p in cli.commands["solve"].params}
    for name in NAMES:
        assert set(batch.default_options(name)) <= solve, name


@pytest.mark.parametrize("name", NAMES)
def test_every_solver_draws_a_phase_diagram(name):
    result = sparserec.phase_transition(name, n=20, deltas=[0.5], rhos=[0.1], n_trials=2)
    assert result.solver == name and result.n == 20
    assert result.success.shape == (1, 1) and result.errors.shape == (1, 1, 2)
    assert np.isfinite(result.errors).all() and 0 <= result.success[0, 0] <= 1


def test_a_batch_plan_takes_the_registered_methods_only(tmp_path):
    (task,) = batch.plan([tmp_path / "a.npz"], tmp_path, "lasso", dict(lam1=0.3))
    assert task.options == {**batch.default_options("lasso"), "lam1": 0.3}
    assert task.output == str(tmp_path / "a_lasso.npz")
    with pytest.raises(ValueError, match="method must be one of " + ", ".join(NAMES)):
        batch.plan([tmp_path / "a.npz"], tmp_path, "lars")
