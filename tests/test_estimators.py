import numpy as np
import pytest
from sklearn.linear_model import Lasso as SklearnLasso
from sklearn.utils.estimator_checks import check_estimator

import sparserec
from sparserec import Lasso


# (scikit-learn's own warnings about its checks' inputs)
@pytest.mark.filterwarnings("ignore:Skipping check check_array_api_input")
@pytest.mark.filterwarnings("ignore:Can't check dok sparse matrix")
def test_lasso_passes_sklearn_check_estimator():
    check_estimator(Lasso())


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("positive", [False, True])
def test_lasso_matches_sklearn_for_every_target_of_a_2d_y(fit_intercept, positive):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 25))
    W = rng.standard_normal((3, 25)) * (rng.random((3, 25)) < 0.2)
    Y = X @ W.T + 0.1 * rng.standard_normal((40, 3)) + 2.0
    settings = dict(alpha=0.05, fit_intercept=fit_intercept, positive=positive, tol=1e-10,
                    max_iter=100_000)
    ours = Lasso(**settings).fit(X, Y)
    reference = SklearnLasso(**settings).fit(X, Y)
    np.testing.assert_allclose(ours.coef_, reference.coef_, atol=1e-6)
    np.testing.assert_allclose(ours.intercept_, reference.intercept_, atol=1e-6)
    np.testing.assert_allclose(ours.predict(X), reference.predict(X), atol=1e-5)
    assert ours.coef_.shape == (3, 25) and ours.n_iter_.shape == (3,)
    if positive:
        assert np.all(ours.coef_ >= 0)


def test_lasso_warm_start_reuses_the_coefficients():
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((30, 10)), rng.standard_normal(30)
    model = Lasso(alpha=0.01, warm_start=True, tol=1e-8).fit(X, y)
    first = model.n_iter_
    model.fit(X, y)
    assert model.n_iter_ == 0 < first


def test_lasso_not_converging_warns_with_our_convergence_warning():
    rng = np.random.default_rng(2)
    X, Y = rng.standard_normal((30, 40)), rng.standard_normal((30, 3))
    with pytest.warns(sparserec.ConvergenceWarning,
                      match=r"^lasso: 3 of 3 signals did not reach tol=2e-14 in max_iter=1 "
                      ) as caught:
        model = Lasso(alpha=1e-4, tol=1e-14, max_iter=1).fit(X, Y)
    assert model.coef_.shape == (3, 40) and np.isfinite(model.coef_).all()
    # one warning, ours and scikit-learn's at once
    from sklearn.exceptions import ConvergenceWarning as SklearnConvergenceWarning

    (warning,) = caught
    assert isinstance(warning.message, sparserec.ConvergenceWarning)
    assert isinstance(warning.message, SklearnConvergenceWarning)
    assert warning.filename == __file__  # (it points at the caller's fit)


@pytest.mark.parametrize("max_iter", [1, 2])
def test_lasso_fits_with_a_tiny_iteration_limit(max_iter):
    # The FISTA fallback improving only some targets once crashed with an IndexError.
    rng = np.random.default_rng(1)
    X, Y = rng.standard_normal((50, 100)), rng.standard_normal((50, 8))
    with pytest.warns(sparserec.ConvergenceWarning):
        model = Lasso(alpha=0.01, max_iter=max_iter, fit_intercept=False).fit(X, Y)
    assert np.isfinite(model.coef_).all() and model.coef_.shape == (8, 100)


@pytest.mark.parametrize("fit_intercept", [False, True])
def test_lasso_fits_a_sparse_x_as_scikit_learn_does(fit_intercept):
    import scipy.sparse

    rng = np.random.default_rng(3)
    X = scipy.sparse.random(120, 400, density=0.05, format="csr", random_state=4,
                            data_rvs=rng.standard_normal)
    coef = np.zeros(400)
    coef[:6] = rng.standard_normal(6)
    y = X @ coef + 0.05 * rng.standard_normal(120) + 2.0
    ours = Lasso(alpha=0.01, fit_intercept=fit_intercept, tol=1e-10).fit(X, y)
    reference = SklearnLasso(alpha=0.01, fit_intercept=fit_intercept, tol=1e-12,
                             max_iter=100_000).fit(X, y)

    def objective(model):
        residual = y - X @ model.coef_ - model.intercept_
        return 0.5 / 120 * residual @ residual + 0.01 * np.abs(model.coef_).sum()

    np.testing.assert_allclose(objective(ours), objective(reference), rtol=1e-6)
    np.testing.assert_array_equal(ours.coef_ != 0, reference.coef_ != 0)
    np.testing.assert_allclose(ours.predict(X), reference.predict(X), atol=1e-4)
    assert ours.sparse_coef_.nnz == np.count_nonzero(ours.coef_)



@pytest.mark.parametrize("sparse", [False, True])
def test_lasso_cv_chooses_as_scikit_learn_does(sparse):
    import scipy.sparse
    from sklearn.linear_model import LassoCV as SklearnLassoCV

    rng = np.random.default_rng(5)
    X = rng.standard_normal((90, 60)) * (rng.random((90, 60)) < (0.3 if sparse else 1.0))
    y = X[:, :4] @ np.array([1.0, -2.0, 0.5, 1.5]) + 0.3 * rng.standard_normal(90) + 1.0
    X = scipy.sparse.csr_matrix(X) if sparse else X
    ours = sparserec.LassoCV(alphas=20, tol=1e-10, max_iter=10**5).fit(X, y)
    reference = SklearnLassoCV(alphas=ours.alphas_, tol=1e-12, max_iter=10**5).fit(X, y)
    assert ours.alphas_.shape == (20,) and ours.mse_path_.shape == (20, 5)
    np.testing.assert_allclose(ours.alphas_, reference.alphas_)
    np.testing.assert_allclose(ours.mse_path_, reference.mse_path_, rtol=1e-5)
    assert ours.alpha_ == reference.alpha_
    np.testing.assert_allclose(ours.coef_, reference.coef_, atol=1e-6)
    np.testing.assert_allclose(ours.intercept_, reference.intercept_, atol=1e-6)
    np.testing.assert_allclose(ours.predict(X), reference.predict(X), atol=1e-5)


@pytest.mark.filterwarnings("ignore:Skipping check check_array_api_input")
@pytest.mark.filterwarnings("ignore:Can't check dok sparse matrix")
def test_lasso_cv_passes_sklearn_check_estimator():
    check_estimator(sparserec.LassoCV(alphas=10))


@pytest.mark.parametrize("fit_intercept", [False, True])
@pytest.mark.parametrize("sparse", [False, True])
def test_lasso_weighs_samples_as_scikit_learn_does(fit_intercept, sparse):
    import scipy.sparse

    rng = np.random.default_rng(6)
    X = rng.standard_normal((70, 90)) * (rng.random((70, 90)) < (0.3 if sparse else 1.0))
    y = X[:, :4] @ np.array([1.0, -1.0, 2.0, 0.5]) + 0.1 * rng.standard_normal(70) + 1.0
    weight = 3 * rng.random(70)
    X = scipy.sparse.csc_matrix(X) if sparse else X
    ours = Lasso(alpha=0.02, fit_intercept=fit_intercept, tol=1e-10).fit(X, y, weight)
    reference = SklearnLasso(alpha=0.02, fit_intercept=fit_intercept, tol=1e-12,
                             max_iter=100_000).fit(X, y, sample_weight=weight)
    np.testing.assert_allclose(ours.coef_, reference.coef_, atol=1e-7)
    np.testing.assert_allclose(ours.intercept_, reference.intercept_, atol=1e-7)
    np.testing.assert_array_equal(ours.coef_ != 0, reference.coef_ != 0)


def test_lasso_refuses_what_it_cannot_do():
    import scipy.sparse

    X = scipy.sparse.random(10, 5, density=0.5, format="csc", random_state=0)
    with pytest.raises(ValueError, match="precompute"):
        Lasso(0.1, precompute=np.eye(5)).fit(X.toarray(), np.ones(10))


@pytest.mark.parametrize("precompute", [True, False])
def test_precompute_chooses_the_path(precompute):
    rng = np.random.default_rng(7)
    X, y = rng.standard_normal((40, 30)), rng.standard_normal(40)
    model = Lasso(0.05, precompute=precompute, tol=1e-10).fit(X, y)
    reference = SklearnLasso(0.05, tol=1e-12, max_iter=100_000).fit(X, y)
    np.testing.assert_allclose(model.coef_, reference.coef_, atol=1e-7)


@pytest.mark.filterwarnings("ignore:Skipping check check_array_api_input")
def test_omp_passes_sklearn_check_estimator():
    check_estimator(sparserec.OrthogonalMatchingPursuit())


@pytest.mark.parametrize("settings", [dict(), dict(n_nonzero_coefs=3), dict(tol=0.5),
                                      dict(n_nonzero_coefs=3, fit_intercept=False)])
def test_omp_matches_sklearn_for_one_and_many_targets(settings):
    from sklearn.linear_model import OrthogonalMatchingPursuit as SklearnOMP

    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 25))
    W = rng.standard_normal((3, 25)) * (rng.random((3, 25)) < 0.15)
    Y = X @ W.T + 0.1 * rng.standard_normal((40, 3)) + 2.0
    for y in (Y, Y[:, 0]):
        ours = sparserec.OrthogonalMatchingPursuit(**settings).fit(X, y)
        reference = SklearnOMP(**settings).fit(X, y)
        np.testing.assert_allclose(ours.coef_, reference.coef_, atol=1e-8)
        np.testing.assert_allclose(ours.intercept_, reference.intercept_, atol=1e-8)
        np.testing.assert_array_equal(ours.n_iter_, reference.n_iter_)
        assert ours.n_nonzero_coefs_ == reference.n_nonzero_coefs_


def test_alpha_zero_warns_as_scikit_learn_does():
    X = np.random.default_rng(0).standard_normal((20, 4))
    with pytest.warns(UserWarning, match="^With alpha=0, this algorithm does not converge"):
        Lasso(alpha=0.0).fit(X, X[:, 0])
