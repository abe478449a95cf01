"""Shared test data."""

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
