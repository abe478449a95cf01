"""Shared test data, the scikit-learn reference of the lasso tests, and the central
differences of the gradient tests."""

import numpy as np
import pytest


def _lasso_problem(m, n, batch, condition=1.0, seed=0, density=0.1, noise=0.05):
    """Random lasso data ``(A, X)``: ``batch`` signals of a sparse code measured by an
    (m, n) ``A`` whose largest and smallest singular values have ratio ``condition``."""
    rng = np.random.default_rng(seed)
    U, _ = np.linalg.qr(rng.standard_normal((m, m)))
    V, _ = np.linalg.qr(rng.standard_normal((n, n)))
    k = min(m, n)
    A = U[:, :k] @ np.diag(np.geomspace(1.0, 1.0 / condition, k)) @ V[:, :k].T
    H = rng.standard_normal((batch, n)) * (rng.random((batch, n)) < density)
    X = H @ A.T + noise * rng.standard_normal((batch, m))
    return A, X


@pytest.fixture
def lasso_problem():
    """The generator of random lasso problems (a fixture, so that every test module can use
    it whatever pytest's import mode)."""
    return _lasso_problem


#: The lasso problems of the solver tests: name -> (M, N, condition number).
LASSO_SHAPES = {
    "wide": (30, 60, 1.0),
    "tall": (60, 30, 1.0),
    "wide-ill-conditioned": (30, 60, 30.0),
    "tall-ill-conditioned": (60, 30, 30.0),
}


@pytest.fixture(params=list(LASSO_SHAPES))
def lasso_shape(request):
    """``(name, M, N, condition)``, for each of :data:`LASSO_SHAPES` in turn."""
    return (request.param, *LASSO_SHAPES[request.param])


def _sklearn_objective(A, X, lam1, positive=False):
    """The lasso objective at scikit-learn's solution (its alpha is lam1 / M), found at a
    tight tolerance."""
    from sklearn.linear_model import Lasso

    from sparserec.solvers import lasso_objective

    model = Lasso(alpha=lam1 / A.shape[0], fit_intercept=False, tol=1e-12, max_iter=500_000,
                  positive=positive)
    H = np.array([model.fit(A, x).coef_ for x in X])
    return lasso_objective(X, A, H, lam1)


@pytest.fixture
def sklearn_objective():
    """The reference objective of the lasso tests: scikit-learn's ``Lasso``."""
    return _sklearn_objective


def _central_differences(loss, a, eps=1e-6):
    """The gradient of ``loss()`` in the entries of the array ``a`` by central differences,
    each entry moved in place and put back."""
    numeric = np.zeros_like(a)
    for index in np.ndindex(a.shape):
        old = a[index]
        a[index] = old + eps
        plus = loss()
        a[index] = old - eps
        minus = loss()
        a[index] = old
        numeric[index] = (plus - minus) / (2 * eps)
    return numeric


@pytest.fixture
def central_differences():
    """The reference of the networks' gradient tests."""
    return _central_differences


@pytest.fixture
def numba_threads():
    """The most threads numba allows here (at most 3, for an uneven split); restored after."""
    import numba

    n_max = min(3, numba.config.NUMBA_NUM_THREADS)
    if n_max < 2:
        pytest.skip("numba has a single thread here")
    before = numba.get_num_threads()
    yield n_max
    numba.set_num_threads(before)


@pytest.fixture
def invoke():
    """Run the ``sparserec`` command in-process (CliRunner) from a folder:
    ``invoke(*args, cwd=...)``."""
    import os

    from click.testing import CliRunner

    from sparserec.cli import cli

    def run(*args, cwd):
        old = os.getcwd()
        os.chdir(cwd)
        try:
            return CliRunner().invoke(cli, [str(a) for a in args], prog_name="sparserec")
        finally:
            os.chdir(old)
    return run


@pytest.fixture(scope="module")
def sequences():
    """Small sparse sequences for the SISTA-RNN: ``X, Y, A, D``."""
    from sparserec.datasets import make_sparse_sequences

    return make_sparse_sequences(60, 8, 8, 6, random_state=0)


@pytest.fixture
def small_model():
    """A quick SISTARegressor on ``A``, with the given hyperparameters changed."""
    from sparserec import SISTARegressor

    def make(A, **kwargs):
        settings = dict(measurement_matrix=A, lam1=0.05, lam2=0.1, batch_size=10,
                        max_epochs=2, learning_rate=1e-3, random_state=0)
        return SISTARegressor(**{**settings, **kwargs})
    return make

