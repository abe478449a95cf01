"""Tests of the fast exact lasso (sparserec.solvers.lasso)."""

import warnings

import numpy as np
import pytest

import sparserec
from sparserec import batch, fista, lasso
from sparserec.solvers import lasso_duality_gap, lasso_objective


@pytest.mark.parametrize("method", ["auto", "residual"])
@pytest.mark.parametrize("positive", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_lasso_reaches_sklearn_objective_and_its_gap(lasso_shape, dtype, positive, method,
                                                     lasso_problem, sklearn_objective):
    name, m, n, condition = lasso_shape
    A, X = lasso_problem(m, n, batch=6, condition=condition, seed=len(name))
    lam1, tol = 0.05, 1e-6
    result = lasso(X.astype(dtype), A, lam1, tol=tol, positive=positive, method=method)

    assert result.h.dtype == dtype and result.h.shape == (6, n)
    assert result.converged.all() and np.all(result.gap <= tol)
    ours = lasso_objective(X, A, result.h.astype(np.float64), lam1)
    np.testing.assert_allclose(ours, sklearn_objective(A, X, lam1, positive), rtol=1e-6)
    np.testing.assert_allclose(result.objective, ours, rtol=1e-12 if dtype == np.float64 else 1e-6)
    if positive:
        assert np.all(result.h >= 0)


def test_lasso_agrees_with_fista_on_a_batch(lasso_problem):
    A, X = lasso_problem(40, 80, batch=20, seed=3)
    fast = lasso(X, A, 0.02, tol=1e-10)
    reference = fista(X, A, 0.02, tol=1e-10, max_iter=100_000)
    np.testing.assert_allclose(fast.objective, reference.objective, rtol=1e-8)
    np.testing.assert_allclose(fast.h, reference.h, atol=1e-5)


def test_gap_is_the_same_as_fistas_definition(lasso_problem):
    A, X = lasso_problem(30, 60, batch=5, seed=4)
    result = lasso(X, A, 0.1, tol=1e-3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sparserec.ConvergenceWarning)  # max_iter=0: no step
        started = fista(X, A, 0.1, h_init=result.h, max_iter=0, tol=0.0)
    np.testing.assert_allclose(result.gap, started.gap, rtol=1e-9, atol=1e-15)


def test_penalty_above_lam_max_gives_zeros_at_once(lasso_problem):
    A, X = lasso_problem(20, 40, batch=4, seed=5)
    lam_max = np.abs(X @ A).max()
    result = lasso(X, A, lam_max * 1.0001)
    assert np.all(result.h == 0) and np.all(result.n_iter == 0)
    assert np.all(result.gap == 0) and result.converged.all()


def test_warm_start_from_the_solution_needs_no_epoch(lasso_problem):
    A, X = lasso_problem(30, 60, batch=5, seed=6)
    first = lasso(X, A, 0.05, tol=1e-9)
    again = lasso(X, A, 0.05, tol=1e-9, h_init=first.h)
    assert np.all(again.n_iter == 0) and first.n_iter.min() > 0
    np.testing.assert_array_equal(again.h, first.h)


def test_warm_start_from_elsewhere_reaches_the_same_solution(lasso_problem):
    A, X = lasso_problem(30, 60, batch=5, seed=7)
    cold = lasso(X, A, 0.05, tol=1e-10)
    warm = lasso(X, A, 0.05, tol=1e-10, h_init=np.ones(60))
    np.testing.assert_allclose(warm.objective, cold.objective, rtol=1e-9)


def test_single_signal_and_dictionary_shapes(lasso_problem):
    A, X = lasso_problem(16, 32, batch=1, seed=8)
    D = sparserec.dct_dictionary(32)
    result = lasso(X[0], A, 0.05, D=D)
    assert result.h.shape == (32,) and result.gap.shape == () and bool(result.converged)
    np.testing.assert_allclose(result.y_hat, D @ result.h)
    reference = fista(X[0], A, 0.05, D=D, tol=1e-10, max_iter=100_000)
    np.testing.assert_allclose(result.objective, reference.objective, rtol=1e-6)


def test_zero_signal_zero_column_and_duplicated_columns(lasso_problem, sklearn_objective):
    A, X = lasso_problem(20, 30, batch=3, seed=9)
    A[:, 5] = 0.0  # a zero column: its code stays 0
    A[:, 7] = A[:, 6]  # duplicated columns: the Gram block is singular
    X[1] = 0.0
    result = lasso(X, A, 0.02, tol=1e-9, h_init=np.ones(30))
    assert result.converged.all()
    assert np.all(result.h[1] == 0) and np.all(result.h[:, 5] == 0)
    np.testing.assert_allclose(result.objective, sklearn_objective(A, X, 0.02), rtol=1e-6)


def test_more_nonzeros_than_measurements_still_converges(lasso_problem, sklearn_objective):
    # a tiny penalty on a wide matrix: supports beyond M make G_SS singular
    A, X = lasso_problem(10, 40, batch=3, seed=10, density=0.6)
    result = lasso(X, A, 1e-4, tol=1e-8)  # CD alone needs more epochs: FISTA ends it
    assert result.converged.all()
    np.testing.assert_allclose(result.objective, sklearn_objective(A, X, 1e-4), rtol=1e-6)


def test_method_fista_and_bad_method(lasso_problem):
    A, X = lasso_problem(20, 40, batch=3, seed=11)
    result = lasso(X, A, 0.05, method="fista", max_iter=50_000)
    assert result.settings["method"] == "lasso:fista" and result.converged.all()
    for method in ("gram", "residual"):
        assert lasso(X, A, 0.05, method=method).settings["method"] == f"lasso:{method}"
    with pytest.raises(ValueError, match="method"):
        lasso(X, A, 0.05, method="lars")
    with pytest.raises(ValueError, match="lam1"):
        lasso(X, A, -1.0)


def test_max_iter_reached_is_reported_not_silent(lasso_problem):
    A, X = lasso_problem(30, 60, batch=4, condition=30.0, seed=12)
    with pytest.warns(sparserec.ConvergenceWarning, match="did not reach"):
        result = lasso(X, A, 0.01, tol=1e-14, max_iter=1)
    assert not result.converged.all() and np.all(result.n_iter <= 3)  # CD, polish, FISTA


@pytest.mark.parametrize("max_iter", [0, 1, 2])
def test_a_fista_rescue_that_improves_some_signals_only(lasso_problem, max_iter):
    # Regression: with a tiny max_iter, CD leaves every signal above tol and the FISTA
    # rescue improves some of them only (seed 1, lam1 0.1: one of 8 at max_iter=0, seven
    # at 2); the merge of its rows crashed with an IndexError.
    A, X = lasso_problem(50, 100, batch=8, seed=1)
    with pytest.warns(sparserec.ConvergenceWarning, match="lasso: 8 of 8 signals did not reach"):
        result = lasso(X, A, 0.1, max_iter=max_iter)
    assert result.h.shape == (8, 100) and np.isfinite(result.h).all()
    assert np.isfinite(result.gap).all() and np.isfinite(result.objective).all()
    assert not result.converged.any()
    # the gaps and objectives reported are those of the codes returned, row by row
    gap, primal = lasso_duality_gap(X, A, result.h, 0.1)
    np.testing.assert_allclose(result.gap, gap / (0.5 * (X**2).sum(axis=1)), rtol=1e-8)
    np.testing.assert_allclose(result.objective, primal, rtol=1e-10)


def test_lasso_is_a_method_of_the_command_line_batch(lasso_problem):
    A, X = lasso_problem(20, 40, batch=6, seed=13)
    data = dict(x=X.reshape(2, 3, 20), A=A)
    options = dict(batch.default_options("lasso"), lam1=0.05)
    arrays, settings = batch.solve_arrays(data, "lasso", options)
    assert arrays["h"].shape == (2, 3, 40) and settings["method"] == "lasso:gram"
    assert np.all(arrays["gap"] <= 1e-6)


def test_estimator_uses_the_fast_solver_and_matches_fista(lasso_problem):
    A, X = lasso_problem(50, 30, batch=8, seed=14)
    fast = sparserec.Lasso(alpha=0.01, fit_intercept=False, tol=1e-10).fit(A, X.T)
    slow = sparserec.Lasso(alpha=0.01, fit_intercept=False, tol=1e-10, solver="fista",
                           max_iter=100_000).fit(A, X.T)
    np.testing.assert_allclose(fast.coef_, slow.coef_, atol=1e-6)


# ----------------------------------------------------------------------------------------
# the residual path: one large problem, dense or sparse


def _wide(n=60, p=400, seed=0, rho=0.0):
    """One signal of n measurements, p features (neighbours correlated by rho)."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, p))
    for j in range(1, p):
        A[:, j] = rho * A[:, j - 1] + np.sqrt(1 - rho**2) * A[:, j]
    h = np.zeros(p)
    h[rng.choice(p, 8, replace=False)] = rng.standard_normal(8)
    return A, A @ h + 0.05 * rng.standard_normal(n)


def test_the_cost_model_picks_the_residual_path_for_one_wide_problem(lasso_problem):
    A, x = _wide()
    assert lasso(x, A, 1.0).settings["method"] == "lasso:residual"
    A, X = lasso_problem(20, 40, batch=50, seed=1)
    assert lasso(X, A, 0.05).settings["method"] == "lasso:gram"


@pytest.mark.parametrize("rho", [0.0, 0.5, 0.9])
def test_the_residual_path_reaches_the_gap_and_sklearns_solution(rho, sklearn_objective):
    A, x = _wide(rho=rho, seed=int(10 * rho))
    lam1 = 0.05 * np.abs(A.T @ x).max()
    result = lasso(x, A, lam1, tol=1e-8, method="residual")
    assert result.converged and result.gap <= 1e-8
    np.testing.assert_allclose(result.objective, sklearn_objective(A, x[None], lam1)[0],
                               rtol=1e-6)


@pytest.mark.parametrize("layout", ["csc", "csr"])
def test_a_sparse_matrix_gives_the_dense_solution(layout):
    import scipy.sparse

    rng = np.random.default_rng(2)
    A = scipy.sparse.random(80, 300, density=0.05, format=layout, random_state=3,
                            data_rvs=rng.standard_normal)
    X = rng.standard_normal((2, 80))
    lam1 = 0.1 * np.abs(X @ A).max()
    sparse = lasso(X, A, lam1, tol=1e-10)
    dense = lasso(X, A.toarray(), lam1, tol=1e-10, method="residual")
    assert sparse.settings["method"] == "lasso:residual" and sparse.converged.all()
    np.testing.assert_allclose(sparse.objective, dense.objective, rtol=1e-9)
    np.testing.assert_allclose(sparse.h, dense.h, atol=1e-6)


def test_a_sparse_matrix_is_centred_implicitly_by_A_offset():
    import scipy.sparse

    rng = np.random.default_rng(4)
    A = scipy.sparse.random(70, 200, density=0.1, format="csc", random_state=5,
                            data_rvs=rng.standard_normal)
    x = rng.standard_normal(70)
    means = np.asarray(A.mean(axis=0)).ravel()
    lam1 = 0.05 * np.abs((A.toarray() - means).T @ (x - x.mean())).max()
    implicit = lasso(x - x.mean(), A, lam1, A_offset=means, tol=1e-10)
    explicit = lasso(x - x.mean(), A.toarray() - means, lam1, tol=1e-10, method="residual")
    np.testing.assert_allclose(implicit.objective, explicit.objective, rtol=1e-9)
    np.testing.assert_allclose(implicit.h, explicit.h, atol=1e-6)
    with pytest.raises(ValueError, match="gram"):
        lasso(x, A, lam1, method="gram")
    with pytest.raises(ValueError, match="A_offset must have shape"):
        lasso(x, A, lam1, A_offset=means[:5])



# ----------------------------------------------------------------------------------------
# the regularisation path


def test_lasso_path_matches_scikit_learns():
    from sklearn.linear_model import lasso_path as reference_path

    A, x = _wide(n=80, p=200, seed=7)
    alphas, coefs, gaps, n_iters = sparserec.lasso_path(A, x, alphas=15, tol=1e-10,
                                                        return_n_iter=True)
    ref_alphas, ref_coefs, _ = reference_path(A, x, alphas=alphas, tol=1e-12, max_iter=10**5)
    assert alphas.shape == (15,) and coefs.shape == (200, 15) and len(n_iters) == 15
    np.testing.assert_allclose(alphas[0], np.abs(A.T @ x).max() / 80)  # every coef zero
    assert np.all(coefs[:, 0] == 0) and np.all(np.diff(alphas) < 0)
    def objective(w, alpha):
        return 0.5 / 80 * np.sum((x - A @ w) ** 2) + alpha * np.abs(w).sum()

    for i, alpha in enumerate(alphas):
        np.testing.assert_allclose(objective(coefs[:, i], alpha),
                                   objective(ref_coefs[:, i], alpha), rtol=1e-6)
    assert np.all(gaps <= 1e-10 * (x @ x) / 80 * (1 + 1e-9))  # scikit-learn's scaling


def test_lasso_path_of_a_sparse_matrix_with_offsets_is_the_centred_dense_path():
    import scipy.sparse

    rng = np.random.default_rng(8)
    A = scipy.sparse.random(60, 150, density=0.1, format="csc", random_state=9,
                            data_rvs=rng.standard_normal)
    x = rng.standard_normal(60)
    x -= x.mean()
    means = np.asarray(A.mean(axis=0)).ravel()
    # (down to alpha_max / 100: below, with more features than samples, it takes long)
    sparse = sparserec.lasso_path(A, x, alphas=8, eps=1e-2, tol=1e-12, max_iter=10**5,
                                  X_offset=means)
    dense = sparserec.lasso_path(A.toarray() - means, x, alphas=8, eps=1e-2, tol=1e-12,
                                 max_iter=10**5)
    np.testing.assert_allclose(sparse[0], dense[0])
    np.testing.assert_allclose(sparse[1], dense[1], atol=1e-7)


def test_lasso_path_refuses_several_targets():
    A, x = _wide()
    with pytest.raises(ValueError, match="y must have shape"):
        sparserec.lasso_path(A, np.stack([x, x], axis=1))
