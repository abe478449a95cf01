import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import sparserec
from sparserec import (ConvergenceWarning, StepSizeWarning, fista, ista, lipschitz_constant,
                       sista, soft_threshold)
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


def test_reported_gap_is_the_duality_gap_relative_to_half_energy(lasso_problem):
    A, X = lasso_problem(20, 40, batch=3)
    result = fista(X, A, 0.1, tol=1e-3)
    gap, primal = sparserec.solvers.lasso_duality_gap(X, A, result.h, 0.1)
    np.testing.assert_allclose(result.gap, gap / (0.5 * (X**2).sum(axis=1)))
    np.testing.assert_allclose(result.objective, primal)


def test_duality_gap_bounds_the_distance_to_the_optimum(lasso_problem, sklearn_objective):
    A, X = lasso_problem(20, 40, batch=5, seed=3)
    loose = fista(X, A, 0.1, tol=1e-2)
    optimum = sklearn_objective(A, X, 0.1)
    excess = loose.objective - optimum
    assert np.all(excess >= -1e-9)
    assert np.all(excess <= loose.gap * 0.5 * (X**2).sum(axis=1) + 1e-12)


def test_single_signal_and_batch_agree(lasso_problem):
    A, X = lasso_problem(15, 25, batch=3)
    batch = fista(X, A, 0.1, tol=1e-12)
    for b in range(3):
        single = fista(X[b], A, 0.1, tol=1e-12)
        assert single.h.shape == (25,) and single.n_iter.shape == ()
        np.testing.assert_allclose(single.h, batch.h[b], atol=1e-9)


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


@pytest.mark.parametrize("lam2", [0.0, 0.7])
def test_lipschitz_constant_matches_the_spectral_norm(lam2):
    rng = np.random.default_rng(1)
    A = rng.standard_normal((10, 30))
    D = rng.standard_normal((30, 30))  # not orthonormal
    exact = np.linalg.eigvalsh(D.T @ (A.T @ A + lam2 * np.eye(30)) @ D).max()
    assert lipschitz_constant(A, D, lam2) == pytest.approx(exact, rel=1e-8)


@pytest.mark.parametrize("bad, message", [
    (dict(x=np.zeros((2, 3, 4))), "shape \\(M,\\) or \\(B, M\\)"),
    (dict(x=np.array([1.0, np.nan, 0.0, 0.0, 0.0])), "NaN or Inf"),
    (dict(x=np.array(["a"] * 5)), "real numeric"),
    (dict(A=np.ones((4, 7))), "A must have shape \\(M, N\\) = \\(5, N\\)"),
    (dict(D=np.eye(3)), "D must have shape \\(7, 7\\)"),
    (dict(lam1=-1.0), "lam1 must be a non-negative"),
    (dict(alpha=0.0), "alpha must be a positive"),
    (dict(max_iter=2.5), "max_iter must be a non-negative integer"),
    (dict(h_init=np.zeros(6)), "h_init must have shape \\(7,\\)"),
])
def test_bad_arguments_are_rejected_with_clear_messages(bad, message):
    args = dict(x=np.ones(5), A=np.ones((5, 7)), lam1=0.1)
    args.update(bad)
    x, A, lam1 = args.pop("x"), args.pop("A"), args.pop("lam1")
    with pytest.raises(ValueError, match=message):
        fista(x, A, lam1, **args)


# --------------------------------------------------------------------------------- SISTA

def sista_reference(x, A, D, F, lam1, lam2, alpha, h0, K):
    """Section 2 of sista.md, transcribed literally with column vectors and loops."""
    N = D.shape[0]
    P = D.T @ F @ D
    S = np.eye(N) - (1 / alpha) * D.T @ (A.T @ A + lam2 * np.eye(N)) @ D
    V = (1 / alpha) * D.T @ A.T
    h_prev = h0
    codes = []
    for x_t in x:
        h = P @ h_prev
        for _ in range(K):
            z = S @ h + V @ x_t + (lam2 / alpha) * P @ h_prev
            h = np.sign(z) * np.maximum(np.abs(z) - lam1 / alpha, 0)
        codes.append(h)
        h_prev = h
    return np.array(codes)


def test_sista_with_fixed_iterations_matches_the_equations():
    rng = np.random.default_rng(0)
    B, T, M, N, K = 3, 6, 8, 12, 4
    A = rng.standard_normal((M, N)) / np.sqrt(M)
    D = rng.standard_normal((N, N)) / np.sqrt(N)
    F = np.eye(N) + 0.1 * rng.standard_normal((N, N))
    x = rng.standard_normal((B, T, M))
    h0 = rng.standard_normal((B, N))
    lam1, lam2 = 0.05, 0.3
    alpha = 1.2 * lipschitz_constant(A, D, lam2)
    result = sista(x, A, lam1, lam2, D=D, F=F, alpha=alpha, h0=h0, n_iter=K)
    for b in range(B):
        expected = sista_reference(x[b], A, D, F, lam1, lam2, alpha, h0[b], K)
        np.testing.assert_allclose(result.h[b], expected, rtol=0, atol=1e-10)
    np.testing.assert_allclose(result.y_hat, result.h @ D.T)
    assert np.all(result.n_iter == K)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("identity_F", [True, False])
def test_sista_outputs_and_objective_match_their_formulas(dtype, identity_F):
    # The kernel takes F y_{t-1} from y_{t-1} itself (F = I) or as (F D) h_{t-1} (otherwise).
    rng = np.random.default_rng(5)
    B, T, M, N, K = 2, 5, 8, 12, 3
    A = rng.standard_normal((M, N)) / np.sqrt(M)
    D = rng.standard_normal((N, N)) / np.sqrt(N)
    F = np.eye(N) if identity_F else np.eye(N) + 0.1 * rng.standard_normal((N, N))
    x = rng.standard_normal((B, T, M)).astype(dtype)
    h0 = rng.standard_normal((B, N)).astype(dtype)  # dense, unlike the codes that follow
    lam1, lam2 = 0.05, 0.3
    alpha = 1.2 * lipschitz_constant(A, D, lam2)
    result = sista(x, A, lam1, lam2, D=D, F=F, alpha=alpha, h0=h0, n_iter=K)
    assert result.h.dtype == result.y_hat.dtype == dtype and result.objective.dtype == np.float64
    rtol = 1e-10 if dtype == np.float64 else 1e-4
    for b in range(B):
        expected = sista_reference(x[b].astype(np.float64), A, D, F, lam1, lam2, alpha,
                                   h0[b].astype(np.float64), K)
        np.testing.assert_allclose(result.h[b], expected, rtol=0, atol=100 * rtol)
    h = result.h.astype(np.float64)
    y = h @ D.T
    y_prev = np.concatenate([h0.astype(np.float64)[:, None] @ D.T, y[:, :-1]], axis=1)
    objective = (0.5 * ((x - h @ (A @ D).T) ** 2).sum(-1) + lam1 * np.abs(h).sum(-1)
                 + 0.5 * lam2 * ((y - y_prev @ F.T) ** 2).sum(-1))
    np.testing.assert_allclose(result.y_hat, y, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(result.objective, objective, rtol=rtol)


def test_sista_with_no_iteration_carries_the_prediction():
    rng = np.random.default_rng(6)
    A, D = rng.standard_normal((6, 10)), rng.standard_normal((10, 10)) / np.sqrt(10)
    F = np.eye(10) + 0.1 * rng.standard_normal((10, 10))
    h0 = rng.standard_normal(10)
    result = sista(rng.standard_normal((3, 6)), A, 0.1, 0.5, D=D, F=F, alpha=100.0, h0=h0,
                   n_iter=0)
    P = D.T @ F @ D
    expected = np.array([np.linalg.matrix_power(P, t + 1) @ h0 for t in range(3)])
    np.testing.assert_allclose(result.h, expected, atol=1e-12)
    assert np.all(result.n_iter == 0) and not result.converged.any()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sista_without_temporal_term_is_ista_frame_by_frame(dtype):
    rng = np.random.default_rng(1)
    T, M, N, K = 5, 10, 20, 7
    A = sparserec.gaussian_matrix(M, N, random_state=1)
    x = rng.standard_normal((T, M)).astype(dtype)
    alpha = 1.1 * lipschitz_constant(A)
    result = sista(x, A, 0.1, 0.0, alpha=alpha, n_iter=K)
    assert result.h.dtype == dtype
    h_prev = np.zeros(N, dtype)
    for t in range(T):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            frame = ista(x[t], A, 0.1, alpha=alpha, h_init=h_prev, max_iter=K, tol=0.0)
        atol = 1e-10 if dtype == np.float64 else 1e-5
        np.testing.assert_allclose(result.h[t], frame.h, atol=atol)
        h_prev = frame.h


def test_sista_to_convergence_solves_each_frame_problem():
    rng = np.random.default_rng(2)
    T, M, N = 4, 12, 16
    A = sparserec.gaussian_matrix(M, N, random_state=2)
    D = sparserec.dct_dictionary(N)
    F = np.roll(np.eye(N), 1, axis=0)
    x = rng.standard_normal((T, M))
    lam1, lam2 = 0.05, 0.5
    result = sista(x, A, lam1, lam2, D=D, F=F, tol=1e-12, max_iter=100_000)
    assert result.converged.all()
    # Each frame is a lasso on the stacked system
    # [A D; sqrt(lam2) D] h ~ [x_t; sqrt(lam2) F D h_{t-1}].
    stacked = np.vstack([A, np.sqrt(lam2) * np.eye(N)])
    h_prev = np.zeros(N)
    for t in range(T):
        target = np.concatenate([x[t], np.sqrt(lam2) * F @ D @ h_prev])
        frame = fista(target, stacked, lam1, D=D, tol=1e-14, max_iter=100_000)
        np.testing.assert_allclose(result.h[t], frame.h, atol=1e-7)
        h_prev = result.h[t]


def test_sista_shapes_for_one_sequence_and_a_batch():
    A, D, F = sparserec.paper_matrices()
    x = np.random.default_rng(0).standard_normal((2, 5, 32))
    batch = sista(x, A, 0.5, 1.0, D=D, F=F, n_iter=3)
    assert batch.h.shape == batch.y_hat.shape == (2, 5, 128)
    assert batch.n_iter.shape == batch.converged.shape == batch.objective.shape == (2, 5)
    one = sista(x[1], A, 0.5, 1.0, D=D, F=F, n_iter=3)
    assert one.h.shape == (5, 128)
    np.testing.assert_allclose(one.h, batch.h[1], atol=1e-12)
    assert batch.settings["n_iter"] == 3 and batch.settings["method"] == "sista"


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
    with pytest.raises(ValueError, match="non-negative"):
        soft_threshold([1.0], -0.1)


def test_blas_threads_are_restored_after_overlapping_calls():
    # Each solver call limits BLAS to one thread while it runs; calls that overlap in
    # several threads (a threaded Dask worker, a user's pool) may end in any order, and the
    # last to end must restore the original count.
    from threadpoolctl import threadpool_info, threadpool_limits

    from sparserec.solvers import _one_blas_thread

    def blas_threads():
        return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]

    with threadpool_limits(limits=2, user_api="blas"):
        before = blas_threads()
        first, second = _one_blas_thread(), _one_blas_thread()
        first.__enter__()
        second.__enter__()
        assert set(blas_threads()) == {1}
        first.__exit__(None, None, None)  # the first call ends while the second runs
        assert set(blas_threads()) == {1}
        second.__exit__(None, None, None)
        assert blas_threads() == before


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
