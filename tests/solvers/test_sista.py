"""Tests of SISTA (sparserec.solvers.sista): the equations, the objective, and its special
cases (ISTA frame by frame, a lasso per frame)."""

import warnings

import numpy as np
import pytest

import sparserec
from sparserec import ConvergenceWarning, fista, ista, lipschitz_constant, sista


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


@pytest.mark.parametrize("bad, error, message", [
    (dict(x=np.ones(4)), ValueError, "x must have 2 or 3 dimensions, got shape \\(4,\\)"),
    (dict(A=np.ones((3, 6))), ValueError, "A must have shape \\(M, N\\) = \\(4, N\\)"),
    (dict(F=np.eye(5)), ValueError, "F must have shape \\(6, 6\\)"),
    (dict(lam1=-0.1), ValueError, "lam1 must be a finite number >= 0"),
    (dict(lam2="1"), TypeError, "lam2 must be a real number"),
    (dict(n_iter=2.5), TypeError, "n_iter must be an integer"),
    (dict(max_iter=-1), ValueError, "max_iter must be an integer in \\[0, 1000000000\\]"),
    (dict(h0=np.zeros(5)), ValueError, "h0 must have shape \\(6,\\)"),
])
def test_sista_rejects_bad_arguments_naming_them(bad, error, message):
    args = dict(x=np.ones((3, 4)), A=np.ones((4, 6)), lam1=0.1, lam2=0.5)
    args.update(bad)
    x, A, lam1, lam2 = (args.pop(name) for name in ("x", "A", "lam1", "lam2"))
    with pytest.raises(error, match=message):
        sista(x, A, lam1, lam2, **args)
