"""Tests of the greedy solvers: OMP against scikit-learn's, exact recovery by NIHT, CoSaMP
and subspace pursuit, the two paths (with and without the Gram matrix), and degenerate
input."""

import warnings

import numpy as np
import pytest
from sklearn.linear_model import orthogonal_mp

import sparserec
from sparserec import cosamp, iht, omp, subspace_pursuit
from sparserec.solvers import greedy

ITERATIVE = [iht, cosamp, subspace_pursuit]


def _problem(M=40, N=80, K=4, B=30, noise=0.0, seed=0):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((M, N))
    A /= np.linalg.norm(A, axis=0)
    H = np.zeros((B, N))
    for b in range(B):
        H[b, rng.choice(N, K, replace=False)] = rng.standard_normal(K)
    X = H @ A.T + noise * rng.standard_normal((B, M))
    return A, H, X


@pytest.mark.parametrize("kwargs, sklearn_kwargs", [
    (dict(n_nonzero=6), dict(n_nonzero_coefs=6)),
    (dict(tol=0.05), dict(tol=0.05)),
])
def test_omp_gives_scikit_learns_supports_and_coefficients(kwargs, sklearn_kwargs):
    A, _, X = _problem(noise=0.05)
    result = omp(X, A, **kwargs)
    reference = orthogonal_mp(A, X.T, **sklearn_kwargs).T
    np.testing.assert_array_equal(result.h != 0, reference != 0)
    np.testing.assert_allclose(result.h, reference, rtol=0, atol=1e-8)
    assert result.converged.all()
    np.testing.assert_array_equal(result.n_iter, np.count_nonzero(reference, axis=1))


def test_omp_stops_at_the_first_atom_count_that_meets_tol():
    A, _, X = _problem(noise=0.05)
    result = omp(X, A, tol=0.05)
    residual = ((X - result.h @ A.T) ** 2).sum(axis=1)
    assert (residual <= 0.05 + 1e-12).all()
    fewer = omp(X, A, n_nonzero=int(result.n_iter.min()) - 1)  # one atom short: above tol
    short = ((X - fewer.h @ A.T) ** 2).sum(axis=1)
    assert short[result.n_iter == result.n_iter.min()].min() > 0.05
    both = omp(X, A, n_nonzero=2, tol=0.05)  # whichever comes first
    assert (both.n_iter <= 2).all()


@pytest.mark.parametrize("solver", ITERATIVE, ids=lambda f: f.__name__)
def test_noiseless_sparse_signals_are_recovered_exactly(solver):
    A, H, X = _problem()
    result = solver(X, A, n_nonzero=4, tol=1e-10)
    error = np.linalg.norm(result.h - H, axis=1) / np.linalg.norm(H, axis=1)
    assert np.mean(error <= 1e-6) >= 0.95, error
    assert result.converged.all()


@pytest.mark.parametrize("solver", [omp, *ITERATIVE], ids=lambda f: f.__name__)
def test_the_path_without_the_gram_matrix_gives_the_same_codes(solver, monkeypatch):
    A, _, X = _problem(noise=0.02)
    with_gram = solver(X, A, n_nonzero=4)
    monkeypatch.setattr(greedy, "MAX_GRAM_ATOMS", 0)
    without = solver(X, A, n_nonzero=4)
    np.testing.assert_allclose(without.h, with_gram.h, atol=1e-9)  # (the iteration counts
    # may differ by one where rounding decides when the residual stops decreasing)


@pytest.mark.parametrize("solver", [omp, *ITERATIVE], ids=lambda f: f.__name__)
def test_float32_in_float32_out_and_a_single_signal(solver):
    A, H, X = _problem()
    result = solver(X.astype(np.float32), A, n_nonzero=4)
    assert result.h.dtype == result.y_hat.dtype == np.float32
    one = solver(X[0], A, n_nonzero=4)
    assert one.h.shape == (80,) and one.n_iter.shape == ()
    np.testing.assert_allclose(one.h, solver(X[:1], A, n_nonzero=4).h[0])


@pytest.mark.parametrize("solver", [omp, *ITERATIVE], ids=lambda f: f.__name__)
def test_a_dictionary_is_applied(solver):
    N = 64
    D = sparserec.dct_dictionary(N)
    rng = np.random.default_rng(1)
    A = rng.standard_normal((32, N)) / np.sqrt(32)
    h = np.zeros(N)
    h[[2, 9, 30]] = [1.0, -1.0, 0.5]
    result = solver(A @ (D @ h), A, n_nonzero=3, D=D)
    np.testing.assert_allclose(result.h, h, atol=1e-6)
    np.testing.assert_allclose(result.y_hat, D @ h, atol=1e-6)


@pytest.mark.parametrize("solver", [omp, *ITERATIVE], ids=lambda f: f.__name__)
def test_zero_and_duplicate_columns_and_a_zero_signal_give_finite_codes(solver):
    A, H, X = _problem()
    A[:, 5] = 0.0  # a zero column
    A[:, 7] = A[:, 6]  # a duplicate
    X = np.vstack([X, np.zeros(A.shape[0]), A[:, 6] + A[:, 7]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sparserec.ConvergenceWarning)
        result = solver(X, A, n_nonzero=4)
    assert np.isfinite(result.h).all()
    np.testing.assert_array_equal(result.h[-2], 0.0)  # the zero signal
    np.testing.assert_allclose(result.h[-1] @ A.T, X[-1], atol=1e-5)  # (to tol=1e-6)
    assert result.h[:, 5].max() == 0.0  # the zero column is never used


@pytest.mark.parametrize("kwargs, message", [
    (dict(n_nonzero=0), r"^n_nonzero must be an integer in \[1, 40\], got 0$"),
    (dict(n_nonzero=41), r"^n_nonzero must be an integer in \[1, 40\], got 41$"),
    (dict(n_nonzero=2.5), "n_nonzero must be an integer"),
    (dict(n_nonzero=None), "needs n_nonzero"),
    (dict(n_nonzero=2, tol=-1.0), "tol must be a finite number >= 0"),
])
@pytest.mark.parametrize("solver", [omp, *ITERATIVE], ids=lambda f: f.__name__)
def test_bad_settings_are_refused_by_name(solver, kwargs, message):
    A, _, X = _problem()
    if solver is omp and kwargs == dict(n_nonzero=None):
        message = "omp needs n_nonzero or tol"
    with pytest.raises((ValueError, TypeError), match=message):
        solver(X, A, **kwargs)


def test_the_greedy_solvers_are_in_the_registry():
    for name in ("omp", "iht", "cosamp", "sp"):
        assert "n_nonzero" in sparserec.SOLVERS[name].options


@pytest.mark.parametrize("method", ["omp", "iht", "cosamp", "sp"])
def test_solve_on_the_command_line(tmp_path, invoke, method):
    A, H, X = _problem(B=5)
    np.savez(tmp_path / "d.npz", x=X, A=A, y=H)
    result = invoke("solve", "-m", method, "--n-nonzero", 4, "d.npz", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    with np.load(tmp_path / f"d_{method}.npz") as out:
        np.testing.assert_allclose(out["h"], H, atol=1e-5)
    missing = invoke("solve", "-m", method, "d.npz", "--force", cwd=tmp_path)
    assert missing.exit_code == 2 and "needs n_nonzero" in missing.stderr
    too_many = invoke("solve", "-m", method, "--n-nonzero", 41, "d.npz", "--force",
                      cwd=tmp_path)
    assert too_many.exit_code == 2 and "n_nonzero must be an integer in [1, 40]" in \
        too_many.stderr


def test_omp_with_a_residual_tolerance_on_the_command_line(tmp_path, invoke):
    A, H, X = _problem(B=5)
    np.savez(tmp_path / "d.npz", x=X, A=A)
    assert invoke("solve", "-m", "omp", "--tol", 1e-20, "d.npz", cwd=tmp_path).exit_code == 0
    with np.load(tmp_path / "d_omp.npz") as out:
        np.testing.assert_allclose(out["h"], H, atol=1e-8)


def test_phase_diagrams_tell_a_greedy_solver_the_sparsity(tmp_path, invoke):
    result = invoke("phase", "--solver", "sp", "-n", 60, "--deltas", "0.5", "--rhos",
                    "0.1,0.9", "--trials", 4, cwd=tmp_path)
    assert result.exit_code == 0, result.output
    grid = sparserec.load_phase_transition(tmp_path / "phase_sp.npz")
    np.testing.assert_array_equal(grid.success, [[1.0, 0.0]])

