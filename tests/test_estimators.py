import numpy as np
import pytest
from sklearn.linear_model import Lasso as SklearnLasso
from sklearn.utils.estimator_checks import check_estimator

from sparserec import Lasso


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
