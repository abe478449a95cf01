"""Tests of SpaRSA (sparserec.solvers.sparsa): the lasso against scikit-learn, SISTA's
frame problems against sista, the step's safeguards, the first frame, bad input."""

import warnings

import numpy as np
import pytest

import sparserec
from sparserec import ConvergenceWarning, sista, sista_sparsa, sparsa
from sparserec.solvers import lasso_objective


def support(h, scale):
    return np.abs(h) > 1e-6 * scale


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sparsa_reaches_sklearn_objective_and_support(dtype, lasso_shape, lasso_problem,
                                                      sklearn_objective):
    from sklearn.linear_model import Lasso

    name, m, n, condition = lasso_shape
    A, X = lasso_problem(m, n, batch=3, condition=condition, seed=len(name))
    lam1 = 0.05
    tol = 1e-12 if dtype == np.float64 else 1e-6
    result = sparsa(X.astype(dtype), A, lam1, tol=tol, max_iter=100_000)

    assert result.h.dtype == dtype and result.converged.all()
    assert np.all(result.gap <= tol)
    reference = sklearn_objective(A, X, lam1)
    ours = lasso_objective(X, A, result.h.astype(np.float64), lam1)
    np.testing.assert_allclose(ours, reference, rtol=1e-6)
    if dtype == np.float64:  # the same support as scikit-learn's (alpha = lam1 / M)
        model = Lasso(alpha=lam1 / m, fit_intercept=False, tol=1e-12, max_iter=500_000)
        for x, h in zip(X, result.h, strict=True):
            coef = model.fit(A, x).coef_
            np.testing.assert_array_equal(support(h, np.abs(coef).max()),
                                          support(coef, np.abs(coef).max()))


def test_the_objective_criterion_stops_on_a_small_change(lasso_problem):
    A, X = lasso_problem(30, 60, batch=2)
    result = sparsa(X, A, 0.05, tol=1e-4, stop="objective")
    assert result.converged.all() and result.settings["stop"] == "objective"
    tight = sparsa(X, A, 0.05, tol=1e-4)  # the relative duality gap
    assert np.all(tight.gap <= 1e-4)


def test_a_batch_equals_one_signal_at_a_time(lasso_problem):
    A, X = lasso_problem(30, 60, batch=4, condition=10.0)
    D = sparserec.dct_dictionary(60)
    batch = sparsa(X, A, 0.05, D=D, tol=1e-10, max_iter=10_000)
    for b in range(4):
        one = sparsa(X[b], A, 0.05, D=D, tol=1e-10, max_iter=10_000)
        np.testing.assert_array_equal(one.h, batch.h[b])  # each signal its own steps
        assert one.n_iter == batch.n_iter[b] and one.n_backtracks == batch.n_backtracks[b]
    np.testing.assert_allclose(batch.y_hat, batch.h @ D.T)


def test_the_non_monotone_steps_and_the_backtracking_both_happen(lasso_problem):
    A, X = lasso_problem(60, 120, batch=1, condition=100.0, seed=3)

    def objectives(**options):  # after 1, 2, ... iterations
        return np.array([sparsa(X[0], A, 0.01, tol=0.0, max_iter=k, **options).objective
                         for k in range(1, 40)])

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # few iterations, on purpose
        assert np.any(np.diff(objectives()) > 0)  # accepted although the objective rose
        assert np.all(np.diff(objectives(memory=1)) <= 0)  # memory=1: monotone
        result = sparsa(X[0], A, 0.01, tol=1e-12, max_iter=2000)
    assert result.n_backtracks > 0  # the acceptance test rejected some trial steps


def test_sista_sparsa_solves_sista_frame_problems():
    rng = np.random.default_rng(2)
    T, M, N = 4, 12, 16
    A = sparserec.gaussian_matrix(M, N, random_state=2)
    D = sparserec.dct_dictionary(N)
    F = np.roll(np.eye(N), 1, axis=0)
    x = rng.standard_normal((2, T, M))
    reference = sista(x, A, 0.05, 0.5, D=D, F=F, tol=1e-12, max_iter=100_000)
    result = sista_sparsa(x, A, 0.05, 0.5, D=D, F=F, tol=1e-12)
    assert result.converged.all() and result.h.shape == (2, T, N)
    np.testing.assert_allclose(result.objective, reference.objective, rtol=1e-9)
    np.testing.assert_allclose(result.h, reference.h, atol=1e-8)
    np.testing.assert_allclose(result.y_hat, result.h @ D.T, atol=1e-12)
    one = sista_sparsa(x[1], A, 0.05, 0.5, D=D, F=F, tol=1e-12)
    np.testing.assert_array_equal(one.h, result.h[1])
    single = sista_sparsa(x[:, :1], A, 0.05, 0.0, D=D, tol=1e-12)  # lam2 = 0: the lasso
    lasso = sparsa(x[:, 0], A, 0.05, D=D, tol=1e-12)
    np.testing.assert_allclose(single.h[:, 0], lasso.h, atol=1e-10)


def test_sista_sparsa_in_float32_and_with_fixed_iterations():
    A, D, F = sparserec.paper_matrices()
    x = np.random.default_rng(0).standard_normal((2, 5, 32))
    exact = sista_sparsa(x, A, 0.5, 1.0, D=D, F=F, tol=1e-10)
    low = sista_sparsa(x.astype(np.float32), A, 0.5, 1.0, D=D, F=F, tol=1e-5)
    assert low.h.dtype == low.y_hat.dtype == np.float32
    np.testing.assert_allclose(low.objective, exact.objective, rtol=1e-4)
    three = sista_sparsa(x, A, 0.5, 1.0, D=D, F=F, n_iter=3)
    assert np.all(three.n_iter == 3) and three.settings["n_iter"] == 3


def test_the_first_frame_is_given_or_serves_as_the_oracle_prior():
    A, D, F = sparserec.paper_matrices()
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 4, 32))
    h_first = rng.standard_normal((2, 128)) * (rng.random((2, 128)) < 0.1)
    result = sista_sparsa(x, A, 0.5, 1.0, D=D, F=F, h_first=h_first, tol=1e-10)
    np.testing.assert_array_equal(result.h[:, 0], h_first)  # taken as given
    assert np.all(result.n_iter[:, 0] == 0) and result.converged[:, 0].all()
    fit = x[:, 0] - h_first @ (A @ D).T
    np.testing.assert_allclose(result.objective[:, 0], 0.5 * (fit**2).sum(axis=1)
                               + 0.5 * np.abs(h_first).sum(axis=1))
    # the later frames follow from it, as from a code before them
    rest = sista_sparsa(x[:, 1:], A, 0.5, 1.0, D=D, F=F, h0=h_first, tol=1e-10)
    np.testing.assert_array_equal(result.h[:, 1:], rest.h)
    with pytest.raises(ValueError, match="give h0 .* or h_first .*, not both"):
        sista_sparsa(x, A, 0.5, 1.0, h0=h_first, h_first=h_first)


BAD = [
    (dict(x=np.zeros((2, 3, 4))), ValueError,
     "x must have 1 or 2 dimensions, got shape \\(2, 3, 4\\)"),
    (dict(x=np.array([1.0, np.nan, 0.0, 0.0, 0.0])), ValueError, "x contains NaN or Inf"),
    (dict(x=np.array(["a"] * 5)), ValueError, "x must be a real numeric array"),
    (dict(A=np.ones((4, 7))), ValueError, "A must have shape \\(M, N\\) = \\(5, N\\)"),
    (dict(D=np.eye(3)), ValueError, "D must have shape \\(7, 7\\)"),
    (dict(lam1=-1.0), ValueError, "lam1 must be a finite number >= 0"),
    (dict(max_iter=2.5), TypeError, "max_iter must be an integer"),
    (dict(h_init=np.zeros(6)), ValueError, "h_init must have shape \\(7,\\)"),
]


@pytest.mark.parametrize("bad, error, message", BAD + [
    (dict(stop="change"), ValueError, "stop must be one of 'gap', 'objective'"),
    (dict(memory=0), ValueError, "memory must be an integer in \\[1, "),
    (dict(sigma=1.0), ValueError, "sigma must be a finite number > 0 and < 1"),
    (dict(eta=1.0), ValueError, "eta must be a finite number > 1"),
    (dict(alpha_min=2.0, alpha_max=1.0), ValueError, "alpha_min must be at most alpha_max"),
])
def test_bad_arguments_are_rejected_as_ista_rejects_them(bad, error, message):
    args = dict(x=np.ones(5), A=np.ones((5, 7)), lam1=0.1)
    args.update(bad)
    x, A, lam1 = args.pop("x"), args.pop("A"), args.pop("lam1")
    with pytest.raises(error, match=message):
        sparsa(x, A, lam1, **args)
    if not set(bad) & {"stop", "memory", "sigma", "eta", "alpha_min"}:  # the same as ista
        with pytest.raises(error, match=message):
            sparserec.ista(x, A, lam1, **args)


@pytest.mark.parametrize("bad, error, message", [
    (dict(x=np.ones(4)), ValueError, "x must have 2 or 3 dimensions, got shape \\(4,\\)"),
    (dict(F=np.eye(5)), ValueError, "F must have shape \\(6, 6\\)"),
    (dict(lam2="1"), TypeError, "lam2 must be a real number"),
    (dict(n_iter=2.5), TypeError, "n_iter must be an integer"),
    (dict(h0=np.zeros(5)), ValueError, "h0 must have shape \\(6,\\)"),
    (dict(h_first=np.zeros(5)), ValueError, "h_first must have shape \\(6,\\)"),
])
def test_sista_sparsa_rejects_bad_arguments_as_sista(bad, error, message):
    args = dict(x=np.ones((3, 4)), A=np.ones((4, 6)), lam1=0.1, lam2=0.5)
    args.update(bad)
    x, A, lam1, lam2 = (args.pop(name) for name in ("x", "A", "lam1", "lam2"))
    with pytest.raises(error, match=message):
        sista_sparsa(x, A, lam1, lam2, **args)
    if "h_first" not in bad:
        with pytest.raises(error, match=message):
            sista(x, A, lam1, lam2, **args)
