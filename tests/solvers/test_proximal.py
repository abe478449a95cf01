"""Tests of ISTA and FISTA (sparserec.solvers.proximal)."""

import warnings

import numpy as np
import pytest

import sparserec
from sparserec import ConvergenceWarning, StepSizeWarning, fista, ista
from sparserec.solvers import lasso_objective


@pytest.mark.parametrize("solver", [fista, ista])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_lasso_methods_reach_sklearn_objective(solver, dtype, lasso_shape, lasso_problem,
                                               sklearn_objective):
    name, m, n, condition = lasso_shape
    A, X = lasso_problem(m, n, batch=4, condition=condition, seed=len(name))
    lam1 = 0.05
    tol = 1e-10 if dtype == np.float64 else 1e-6
    result = solver(X.astype(dtype), A, lam1, tol=tol, max_iter=200_000)

    assert result.h.dtype == dtype
    assert result.converged.all()
    assert np.all(result.gap <= tol)
    reference = sklearn_objective(A, X, lam1)
    ours = lasso_objective(X, A, result.h.astype(np.float64), lam1)
    np.testing.assert_allclose(ours, reference, rtol=1e-6)


def test_dictionary_is_applied_to_codes_and_reconstructions():
    A = sparserec.gaussian_matrix(20, 32, random_state=0)
    D = sparserec.dct_dictionary(32)
    h = np.zeros(32)
    h[[2, 9]] = [1.5, -2.0]
    result = fista(A @ D @ h, A, 1e-4, D=D, tol=1e-12, max_iter=50_000)
    np.testing.assert_allclose(result.y_hat, D @ result.h)
    assert sparserec.snr(h, result.h) > 40


def test_warm_start_at_the_solution_needs_no_iteration(lasso_problem):
    A, X = lasso_problem(20, 40, batch=3)
    first = fista(X, A, 0.1, tol=1e-8)
    again = fista(X, A, 0.1, tol=1e-8, h_init=first.h)
    assert np.all(again.n_iter == 0)
    np.testing.assert_array_equal(again.h, first.h)


def test_unconverged_signals_are_flagged_and_warned(lasso_problem):
    A, X = lasso_problem(30, 60, batch=3, condition=30.0)
    with pytest.warns(ConvergenceWarning, match="did not reach"):
        result = ista(X, A, 0.01, tol=1e-12, max_iter=5)
    assert not result.converged.any()
    assert np.all(result.n_iter == 5)


def test_ista_history_is_monotone_and_ends_at_the_objective(lasso_problem):
    A, X = lasso_problem(20, 40, batch=2)
    result = ista(X, A, 0.1, tol=1e-8, history=True, max_iter=5000)
    assert result.history.shape[1] == 2
    for b in range(2):
        curve = result.history[:, b]
        curve = curve[~np.isnan(curve)]
        assert np.all(np.diff(curve) <= 1e-12 * curve[0])
        assert curve[-1] == pytest.approx(result.objective[b])


def test_alpha_below_the_lipschitz_bound_warns(lasso_problem):
    A, X = lasso_problem(20, 40, batch=2)
    bound = np.linalg.norm(A, 2) ** 2
    with pytest.warns(StepSizeWarning, match="below the Lipschitz bound"):
        warnings.simplefilter("ignore", ConvergenceWarning)  # 3 iterations, on purpose
        fista(X, A, 0.1, alpha=0.5 * bound, max_iter=3, tol=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", StepSizeWarning)
        fista(X, A, 0.1, alpha=1.01 * bound, tol=1e-6)


@pytest.mark.parametrize("bad, error, message", [
    (dict(x=np.zeros((2, 3, 4))), ValueError,
     "x must have 1 or 2 dimensions, got shape \\(2, 3, 4\\)"),
    (dict(x=np.array([1.0, np.nan, 0.0, 0.0, 0.0])), ValueError, "x contains NaN or Inf"),
    (dict(x=np.array(["a"] * 5)), ValueError, "x must be a real numeric array"),
    (dict(A=np.ones((4, 7))), ValueError, "A must have shape \\(M, N\\) = \\(5, N\\)"),
    (dict(D=np.eye(3)), ValueError, "D must have shape \\(7, 7\\)"),
    (dict(lam1=-1.0), ValueError, "lam1 must be a finite number >= 0"),
    (dict(alpha=0.0), ValueError, "alpha must be a finite number > 0"),
    (dict(max_iter=2.5), TypeError, "max_iter must be an integer"),
    (dict(h_init=np.zeros(6)), ValueError, "h_init must have shape \\(7,\\)"),
])
@pytest.mark.parametrize("solver", [fista, ista])
def test_bad_arguments_are_rejected_with_clear_messages(solver, bad, error, message):
    args = dict(x=np.ones(5), A=np.ones((5, 7)), lam1=0.1)
    args.update(bad)
    x, A, lam1 = args.pop("x"), args.pop("A"), args.pop("lam1")
    with pytest.raises(error, match=message):
        solver(x, A, lam1, **args)
