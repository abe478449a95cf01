"""Tests of what every solver shares (sparserec.solvers._base): soft-thresholding, the
Lipschitz constant, the lasso's objective and duality gap, and the result objects."""

import dataclasses
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import sparserec
from sparserec import (AMPResult, ConvergenceWarning, SolverResult, StepSizeWarning, fista,
                       ista, lipschitz_constant, soft_threshold)
from sparserec.solvers import lasso_duality_gap, lasso_objective

# ---------------------------------------------------------------------- soft-thresholding

finite = st.floats(-1e6, 1e6, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(z=arrays(np.float64, st.integers(1, 50), elements=finite), tau=st.floats(0, 1e3))
def test_soft_threshold_shrinks_keeps_sign_and_is_the_prox(z, tau):
    s = soft_threshold(z, tau)
    assert np.all(np.abs(s) <= np.abs(z))  # shrinkage
    rounding = 4 * np.finfo(np.float64).eps * np.abs(z)  # z - tau is rounded to z's ulp
    assert np.all(np.abs(s - z) <= tau + rounding)  # moves by at most tau
    assert np.all(s * z >= 0)  # never flips a sign
    # prox optimality: z - s lies in tau * subdifferential of |.| at s
    moved = z - s
    nonzero = s != 0
    assert np.all(np.abs(moved - tau * np.sign(s))[nonzero] <= rounding[nonzero] + 1e-12 * tau)
    assert np.all(np.abs(z[~nonzero]) <= tau)


@settings(max_examples=50, deadline=None)
@given(z=arrays(np.float32, st.tuples(st.integers(1, 5), st.integers(1, 5)),
                elements=st.floats(-100, 100, width=32)),
       tau=st.floats(0, 10))
def test_soft_threshold_keeps_float32_and_shape(z, tau):
    s = soft_threshold(z, tau)
    assert s.dtype == np.float32 and s.shape == z.shape
    np.testing.assert_allclose(s, np.sign(z) * np.maximum(np.abs(z) - np.float32(tau), 0),
                               atol=1e-5)


def test_soft_threshold_rejects_a_negative_threshold():
    with pytest.raises(ValueError, match="tau must be a finite number >= 0"):
        soft_threshold([1.0], -0.1)
    with pytest.raises(TypeError, match="tau must be a real number"):
        soft_threshold([1.0], "0.1")


# ---------------------------------------------------------------------- the step size


@pytest.mark.parametrize("lam2", [0.0, 0.7])
def test_lipschitz_constant_matches_the_spectral_norm(lam2):
    rng = np.random.default_rng(1)
    A = rng.standard_normal((10, 30))
    D = rng.standard_normal((30, 30))  # not orthonormal
    exact = np.linalg.eigvalsh(D.T @ (A.T @ A + lam2 * np.eye(30)) @ D).max()
    assert lipschitz_constant(A, D, lam2) == pytest.approx(exact, rel=1e-8)


# ---------------------------------------------------------------------- objective and gap


def test_reported_gap_is_the_duality_gap_relative_to_half_energy(lasso_problem):
    A, X = lasso_problem(20, 40, batch=3)
    result = fista(X, A, 0.1, tol=1e-3)
    gap, primal = lasso_duality_gap(X, A, result.h, 0.1)
    np.testing.assert_allclose(result.gap, gap / (0.5 * (X**2).sum(axis=1)))
    np.testing.assert_allclose(result.objective, primal)
    np.testing.assert_allclose(lasso_objective(X, A, result.h, 0.1), primal)


def test_duality_gap_bounds_the_distance_to_the_optimum(lasso_problem, sklearn_objective):
    A, X = lasso_problem(20, 40, batch=5, seed=3)
    loose = fista(X, A, 0.1, tol=1e-2)
    optimum = sklearn_objective(A, X, 0.1)
    excess = loose.objective - optimum
    assert np.all(excess >= -1e-9)
    assert np.all(excess <= loose.gap * 0.5 * (X**2).sum(axis=1) + 1e-12)


# ---------------------------------------------------------------------- result objects


def test_single_signal_and_batch_agree(lasso_problem):
    A, X = lasso_problem(15, 25, batch=3)
    batch = fista(X, A, 0.1, tol=1e-12)
    for b in range(3):
        single = fista(X[b], A, 0.1, tol=1e-12)
        assert single.h.shape == (25,) and single.n_iter.shape == ()
        np.testing.assert_allclose(single.h, batch.h[b], atol=1e-9)


def test_a_single_signal_keeps_the_iteration_axis_of_its_history(lasso_problem):
    A, X = lasso_problem(15, 25, batch=1)
    result = ista(X[0], A, 0.1, tol=1e-8, history=True)
    assert isinstance(result, SolverResult)
    assert result.history.ndim == 1 and len(result.history) == result.n_iter
    assert result.history[-1] == pytest.approx(result.objective)
    assert ista(X, A, 0.1, tol=1e-8).history is None  # only when asked for


def test_amp_result_is_a_solver_result_with_two_more_fields():
    names = [f.name for f in dataclasses.fields(AMPResult)]
    assert names[:len(dataclasses.fields(SolverResult))] == [
        f.name for f in dataclasses.fields(SolverResult)]
    assert names[-2:] == ["diverged", "lam1_effective"]
    assert issubclass(AMPResult, SolverResult)
    assert issubclass(ConvergenceWarning, UserWarning)
    assert issubclass(StepSizeWarning, UserWarning)


@pytest.mark.parametrize("solve", [
    lambda x, A: fista(x, A, 0.1, max_iter=5),
    lambda x, A: ista(x, A, 0.1, max_iter=5),
    lambda x, A: sparserec.lasso(x, A, 0.1, method="fista", max_iter=5),
    lambda x, A: sparserec.amp(x, A, max_iter=5),
])
def test_no_dictionary_costs_no_n_by_n_identity(solve):
    # Without D the dictionary is the identity: it must not be built (N x N) nor multiplied
    # by, which for N = 20000 took 3.2 GB and O(M N^2) work, and crashed OpenBLAS.
    import tracemalloc

    N = 4000  # an identity would be 128 MB
    A = np.random.default_rng(0).standard_normal((20, N))
    x = np.random.default_rng(1).standard_normal((2, 20))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        solve(x, A)  # compile outside the measure
        tracemalloc.start()
        try:
            result = solve(x, A)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert peak < 16 * 2**20
    np.testing.assert_array_equal(result.y_hat, result.h)
