"""Tests of approximate message passing (sparserec.solvers.amp)."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sparserec
from sparserec import amp, fista, gaussian_matrix, make_bernoulli_gaussian, minimax_threshold
from sparserec.solvers import ConvergenceWarning, _amp_kernels


def unit_columns(m, n, seed=0):
    """Gaussian matrix with columns of exactly unit norm: AMP's internal scale is then 1."""
    A = np.random.default_rng(seed).standard_normal((m, n))
    return A / np.linalg.norm(A, axis=0)


def sparse_codes(batch, n, k, seed=0):
    rng = np.random.default_rng(seed)
    H = np.zeros((batch, n))
    for row in H:
        row[rng.choice(n, k, replace=False)] = rng.standard_normal(k)
    return H


def test_two_iterations_match_the_amp_recursion_with_onsager_term():
    M, N, tau = 6, 12, 1.3
    A = unit_columns(M, N)
    h_true = np.zeros(N)
    h_true[[2, 7]] = [1.5, -2.0]
    x = A @ h_true
    soft = lambda v, t: np.sign(v) * np.maximum(np.abs(v) - t, 0)  # noqa: E731
    # t = 0: h = 0, z = x; t = 1: threshold from z, then the corrected residual
    z = x
    h1 = soft(A.T @ z, tau * np.linalg.norm(z) / np.sqrt(M))
    z1 = x - A @ h1 + np.count_nonzero(h1) / M * z
    h2 = soft(h1 + A.T @ z1, tau * np.linalg.norm(z1) / np.sqrt(M))
    for steps, expected in ((1, h1), (2, h2)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            result = amp(x, A, tau=tau, max_iter=steps, tol=0.0)
        np.testing.assert_allclose(result.h, expected, atol=1e-12)
        assert result.n_iter == steps and not result.converged and not result.diverged
    assert np.count_nonzero(h1) > 0  # the Onsager term was exercised


def test_recovers_sparse_codes_exactly_without_noise():
    A = gaussian_matrix(100, 200, random_state=1)
    H = sparse_codes(8, 200, 10, seed=1)
    result = amp(H @ A.T, A, tol=1e-9)
    assert result.converged.all() and not result.diverged.any()
    np.testing.assert_allclose(result.h, H, atol=1e-6)
    assert result.settings["tau"] == "sure"
    assert np.all(result.gap < 1e-6)
    minimax = amp(H @ A.T, A, tau="minimax", tol=1e-9)
    np.testing.assert_allclose(minimax.h, H, atol=1e-6)
    assert minimax.settings["tau"] == pytest.approx(minimax_threshold(0.5))


def test_a_fixed_point_solves_the_lasso_with_the_effective_penalty():
    A = gaussian_matrix(80, 160, random_state=2)
    H = sparse_codes(3, 160, 10, seed=2)
    X = H @ A.T + 0.05 * np.random.default_rng(2).standard_normal((3, 80))
    result = amp(X, A, tau=1.5, tol=1e-10, max_iter=5000)
    assert result.converged.all()
    assert np.all(result.gap < 1e-8)
    for x, h, lam1 in zip(X, result.h, result.lam1_effective, strict=True):
        reference = fista(x, A, lam1, tol=1e-12, max_iter=50_000).h
        np.testing.assert_allclose(h, reference, atol=1e-5)


def test_batch_equals_one_signal_at_a_time():
    A = gaussian_matrix(50, 100, random_state=3)
    X = sparse_codes(4, 100, 8, seed=3) @ A.T
    batch = amp(X, A, tol=1e-8)
    for x, h, n_iter in zip(X, batch.h, batch.n_iter, strict=True):
        single = amp(x, A, tol=1e-8)
        np.testing.assert_allclose(single.h, h, atol=1e-12)
        assert single.n_iter == n_iter and single.h.shape == (100,)


def test_float32_stays_float32():
    A = gaussian_matrix(50, 100, random_state=4)
    X = (sparse_codes(3, 100, 5, seed=4) @ A.T).astype(np.float32)
    result = amp(X, A, tol=1e-5)
    assert result.h.dtype == np.float32 and result.y_hat.dtype == np.float32
    assert result.converged.all()


@pytest.mark.parametrize("seed", [0, 3, 7])
def test_default_reaches_minus_35_db_within_30_iterations(seed):
    X, H, A = make_bernoulli_gaussian(100, random_state=seed)  # the standard problem
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        result = amp(X, A, max_iter=30, tol=0.0)
    assert sparserec.nmse_db(H, result.h) <= -35.0


@pytest.mark.slow
def test_default_reaches_minus_35_db_on_ten_seeds_with_the_published_test_batch():
    """The literature's test batch is 1000 signals; with 100, one or two signals with many
    more nonzeros than the mean can keep the batch's NMSE just above -35 dB."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for seed in range(10):
            X, H, A = make_bernoulli_gaussian(1000, random_state=seed)
            assert sparserec.nmse_db(H, amp(X, A, max_iter=30, tol=0.0).h) <= -35.0, seed


def brute_force_sure(r, variance):
    """The minimiser of SURE over 0 and every |r_i|, each evaluated from its definition."""
    r = np.abs(np.asarray(r, np.float64))
    candidates = np.concatenate([[0.0], np.sort(r)])
    risks = [r.size * variance - 2 * variance * np.count_nonzero(r <= t)
             + np.minimum(r**2, t**2).sum() for t in candidates]
    return candidates[int(np.argmin(risks))], min(risks)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sure_threshold_minimises_steins_risk_estimate(dtype):
    rng = np.random.default_rng(10)
    r = (rng.standard_normal(300) * (rng.random(300) < 0.2) * 5
         + 0.3 * rng.standard_normal(300)).astype(dtype)
    for variance in (0.09, 0.01, 1.0):
        theta = _amp_kernels.sure_threshold(r, variance, np.empty_like(r))
        expected, _ = brute_force_sure(r, variance)
        assert theta == pytest.approx(expected, rel=1e-6)
    # a dense grid does no better
    t = np.linspace(0, np.abs(r).max(), 2001)
    grid = [r.size * 0.09 - 2 * 0.09 * np.count_nonzero(np.abs(r) <= v)
            + np.minimum(r.astype(np.float64)**2, v**2).sum() for v in t]
    assert min(grid) >= brute_force_sure(r, 0.09)[1] - 1e-9


@settings(max_examples=300, deadline=None)
@given(size=st.integers(1, 400), nonzero=st.floats(0, 1), amplitude=st.floats(0, 20),
       noise=st.floats(1e-3, 3), variance=st.floats(1e-4, 10), decimals=st.sampled_from([None, 1]),
       seed=st.integers(0, 2**32 - 1))
def test_sure_threshold_reaches_the_least_risk_whatever_the_values(size, nonzero, amplitude,
                                                                    noise, variance, decimals,
                                                                    seed):
    # The kernel sorts only the bins where the minimum may lie: check that it never misses
    # it, over sparse and dense vectors, noise levels far from the variance given, and ties.
    rng = np.random.default_rng(seed)
    r = (amplitude * rng.standard_normal(size) * (rng.random(size) < nonzero)
         + noise * rng.standard_normal(size))
    if decimals is not None:
        r = np.round(r, decimals)
    theta = _amp_kernels.sure_threshold(r, variance, np.empty_like(r))
    expected, least = brute_force_sure(r, variance)
    risk = (size * variance - 2 * variance * np.count_nonzero(np.abs(r) <= theta)
            + np.minimum(r**2, theta**2).sum())
    assert risk <= least + 1e-9 * (1 + abs(least))
    assert theta == pytest.approx(expected, rel=1e-9, abs=1e-12) or risk == pytest.approx(least)


def test_scale_of_the_matrix_does_not_matter():
    A = gaussian_matrix(50, 100, random_state=5)
    X = sparse_codes(2, 100, 5, seed=5) @ A.T
    np.testing.assert_allclose(amp(X, 10 * A).h * 10, amp(X, A).h, atol=1e-10)


def test_dictionary_gives_codes_and_signals():
    N = 64
    A = gaussian_matrix(40, N, random_state=6)
    D = sparserec.dct_dictionary(N)
    H = sparse_codes(2, N, 4, seed=6)
    result = amp(H @ D.T @ A.T, A, D=D, tol=1e-9)
    np.testing.assert_allclose(result.h, H, atol=1e-6)
    np.testing.assert_allclose(result.y_hat, H @ D.T, atol=1e-6)


def correlated_problem():
    """A rank-one component makes the columns correlated: plain AMP blows up."""
    rng = np.random.default_rng(0)
    M, N = 40, 80
    A = gaussian_matrix(M, N, random_state=0) + 0.5 * np.outer(rng.standard_normal(M),
                                                                np.ones(N)) / np.sqrt(M)
    H = np.zeros((4, N))
    H[:, :4] = rng.standard_normal((4, 4))
    return A, H


def test_divergence_is_stopped_and_flagged():
    A, H = correlated_problem()
    with pytest.warns(ConvergenceWarning, match="4 of 4 signals diverged"):
        result = amp(H @ A.T, A, max_iter=300)
    assert result.diverged.all() and not result.converged.any()
    assert np.all(result.n_iter < 20)  # stopped early, not run to max_iter
    assert np.isfinite(result.h).all()


def test_damping_makes_it_converge_to_the_same_kind_of_fixed_point():
    A, H = correlated_problem()
    result = amp(H @ A.T, A, tau="minimax", damping=0.5, max_iter=1000, tol=1e-9)
    assert result.converged.all() and not result.diverged.any()
    np.testing.assert_allclose(result.h, H, atol=1e-5)


def test_not_converging_warns():
    A = gaussian_matrix(30, 60, random_state=7)
    X = sparse_codes(2, 60, 5, seed=7) @ A.T
    with pytest.warns(ConvergenceWarning, match="2 of 2 signals did not reach"):
        result = amp(X, A, max_iter=2)
    assert not result.converged.any() and np.all(result.n_iter == 2)


def test_zero_measurements_give_zero_codes():
    A = gaussian_matrix(10, 20, random_state=8)
    result = amp(np.zeros((2, 10)), A)
    assert result.converged.all() and not result.h.any()


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(tau=0.0), ValueError, "tau must be a finite number > 0, got 0.0"),
    (dict(tau=np.inf), ValueError, "tau must be a finite number > 0, got inf"),
    (dict(tau="1"), TypeError, "tau must be a real number"),
    (dict(tau="SURE"), TypeError, "tau must be a real number"),
    (dict(damping=1.0), ValueError, "damping must be a finite number >= 0 and < 1"),
    (dict(damping=-0.1), ValueError, "damping must be a finite number >= 0 and < 1"),
    (dict(max_iter=-1), ValueError, "max_iter"),
    (dict(max_iter=10.0), TypeError, "max_iter must be an integer"),
    (dict(tol=np.nan), ValueError, "tol"),
])
def test_bad_settings_are_refused(kwargs, error, message):
    A = gaussian_matrix(10, 20, random_state=9)
    with pytest.raises(error, match=message):
        amp(np.ones(10), A, **kwargs)


def test_bad_arrays_are_refused():
    A = gaussian_matrix(10, 20, random_state=9)
    with pytest.raises(ValueError, match="x must have 1 or 2 dimensions"):
        amp(np.ones((2, 3, 10)), A)
    with pytest.raises(ValueError, match="A must have shape"):
        amp(np.ones(9), A)
    with pytest.raises(ValueError, match="A D is zero"):
        amp(np.ones(10), np.zeros((10, 20)))
