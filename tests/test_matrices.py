import warnings

import numpy as np
import pytest
import pywt
from scipy import fft

from sparserec import (bernoulli_matrix, dct_dictionary, gaussian_matrix, identity_dictionary,
                       lipschitz_constant, make_dictionary, paper_matrices, wavelet_dictionary)


@pytest.mark.parametrize("n", [1, 7, 64])
def test_dct_dictionary_is_orthonormal_and_matches_scipy(n):
    D = dct_dictionary(n)
    np.testing.assert_allclose(D.T @ D, np.eye(n), atol=1e-12)
    y = np.random.default_rng(n).standard_normal(n)
    np.testing.assert_allclose(D.T @ y, fft.dct(y, norm="ortho"), atol=1e-12)


@pytest.mark.parametrize("wavelet, level", [("haar", None), ("db4", 3), ("sym8", 2),
                                            ("coif2", None), ("db2", 7)])
def test_wavelet_dictionary_is_orthonormal_and_matches_pywavelets(wavelet, level):
    n = 128
    D = wavelet_dictionary(n, wavelet, level)
    np.testing.assert_allclose(D.T @ D, np.eye(n), atol=1e-10)
    y = np.random.default_rng(0).standard_normal(n)
    level = level or max(1, pywt.dwt_max_level(n, pywt.Wavelet(wavelet)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # pywt's "boundary effects" for db2 at 7
        coefficients = pywt.wavedec(y, wavelet, mode="periodization", level=level)
    np.testing.assert_allclose(D.T @ y, np.concatenate(coefficients), atol=1e-10)


def test_wavelet_dictionary_rejects_bad_requests():
    with pytest.raises(ValueError, match="unknown wavelet"):
        wavelet_dictionary(64, "nope")
    with pytest.raises(ValueError, match="not orthogonal"):
        wavelet_dictionary(64, "bior2.2")
    with pytest.raises(ValueError, match="divisible by 2\\*\\*level=8"):
        wavelet_dictionary(100, "haar", 3)


@pytest.mark.parametrize("spec, expected", [
    ("identity", lambda n: identity_dictionary(n)),
    ("dct", lambda n: dct_dictionary(n)),
    ("wavelet", lambda n: wavelet_dictionary(n, "db4")),
    ("wavelet:sym4", lambda n: wavelet_dictionary(n, "sym4")),
    ("wavelet:haar:2", lambda n: wavelet_dictionary(n, "haar", 2)),
])
def test_make_dictionary_understands_names(spec, expected):
    np.testing.assert_array_equal(make_dictionary(spec, 32), expected(32))


@pytest.mark.parametrize("spec, message", [
    ("fourier", "unknown dictionary"),
    ("dct:2", "unknown dictionary"),
    ("wavelet:haar:x", "level must be a positive integer"),
    (np.eye(3), "shape \\(4, 4\\)"),
    (np.full((4, 4), np.nan), "NaN or Inf"),
])
def test_make_dictionary_rejects_bad_specs(spec, message):
    with pytest.raises(ValueError, match=message):
        make_dictionary(spec, 4)


def test_make_dictionary_takes_arrays_and_dtypes():
    D = np.random.default_rng(0).standard_normal((5, 5))
    out = make_dictionary(D, 5, dtype=np.float32)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, D, rtol=1e-6)


def test_random_matrices_are_seeded_and_scaled():
    G = gaussian_matrix(200, 300, random_state=3)
    np.testing.assert_array_equal(G, gaussian_matrix(200, 300, random_state=3))
    assert not np.array_equal(G, gaussian_matrix(200, 300, random_state=4))
    assert np.mean(np.sum(G**2, axis=0)) == pytest.approx(1.0, rel=0.02)
    B = bernoulli_matrix(50, 80, random_state=1, dtype=np.float32)
    assert B.dtype == np.float32
    np.testing.assert_allclose(np.abs(B), 1 / np.sqrt(50), rtol=1e-6)
    assert 0.4 < np.mean(B > 0) < 0.6


def test_paper_matrices_are_the_papers():
    A, D, F = paper_matrices()
    assert A.shape == (32, 128) and D.shape == F.shape == (128, 128)
    np.testing.assert_allclose(np.abs(A), 1 / (3 * np.sqrt(32)))
    np.testing.assert_allclose(D.T @ D, np.eye(128), atol=1e-12)
    np.testing.assert_array_equal(F, np.eye(128))
    raw, _, _ = paper_matrices(scale_measurements=False)
    np.testing.assert_allclose(raw, 3 * A)
    # The paper's alpha = 1 sits just below the Lipschitz bound of its A / 3.
    assert lipschitz_constant(A, D) == pytest.approx(1.0082, abs=1e-4)


@pytest.mark.parametrize("bad, error, message", [
    (0, ValueError, "m must be an integer in \\[1, 1000000000\\], got 0"),
    (-3, ValueError, "m must be an integer in \\[1, 1000000000\\], got -3"),
    (2.5, TypeError, "m must be an integer, got 2.5"),
])
def test_sizes_must_be_positive_integers(bad, error, message):
    with pytest.raises(error, match=message):
        gaussian_matrix(bad, 4)
    with pytest.raises(error, match=message.replace("m must", "n must")):
        bernoulli_matrix(4, bad)
