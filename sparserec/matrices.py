"""Dictionaries and measurement matrices.

A dictionary ``D`` (N x N) synthesises a signal from its code, ``y = D h``: its columns are
the atoms. A measurement matrix ``A`` (M x N) compresses a signal, ``x = A y``.
"""

import warnings
from importlib import resources

import numpy as np
import pywt
from scipy import fft

from ._validation import check_int, check_square

__all__ = ["identity_dictionary", "dct_dictionary", "wavelet_dictionary", "make_dictionary",
           "gaussian_matrix", "bernoulli_matrix", "paper_matrices"]

DICTIONARY_NAMES = ("identity", "dct", "wavelet")


def identity_dictionary(n, dtype=np.float64):
    """The identity dictionary: the signal is sparse itself.

    Parameters
    ----------
    n : int
        Signal length N.
    dtype : dtype, default=float64

    Returns
    -------
    ndarray of shape (n, n)
    """
    return np.eye(check_int(n, "n", low=1), dtype=dtype)


def dct_dictionary(n, dtype=np.float64):
    """Orthonormal DCT-II dictionary: atom ``j`` is the ``j``-th cosine (scipy.fft).

    ``D.T @ y`` is ``scipy.fft.dct(y, norm='ortho')``, and ``D @ h`` its inverse.

    Parameters
    ----------
    n : int
        Signal length N.
    dtype : dtype, default=float64

    Returns
    -------
    ndarray of shape (n, n)
        An orthogonal matrix.
    """
    return fft.idct(np.eye(check_int(n, "n", low=1)), norm="ortho", axis=0).astype(dtype)


def wavelet_dictionary(n, wavelet="db4", level=None, dtype=np.float64):
    """Orthonormal periodized discrete wavelet dictionary (PyWavelets).

    The atoms are the synthesis functions of ``pywt.wavedec(..., mode='periodization')``,
    ordered as its coefficients: the coarse approximation first, then the details from
    coarse to fine. ``D.T @ y`` gives the concatenated wavelet coefficients of ``y``.

    Parameters
    ----------
    n : int
        Signal length N; must be divisible by ``2**level``.
    wavelet : str, default='db4'
        An orthogonal wavelet known to PyWavelets (``pywt.wavelist(kind='discrete')``):
        'haar', 'db1'..'db38', 'sym2'..'sym20', 'coif1'..'coif17'. The paper's WaveLab
        "Daubechies 8" filter has 8 taps, which is PyWavelets' 'db4'.
    level : int, optional
        Decomposition depth; default ``pywt.dwt_max_level(n, wavelet)`` (at least 1).
    dtype : dtype, default=float64

    Returns
    -------
    ndarray of shape (n, n)
        An orthogonal matrix.
    """
    n = check_int(n, "n", low=1)
    try:
        w = pywt.Wavelet(wavelet)
    except ValueError:
        raise ValueError(f"unknown wavelet {wavelet!r}; choose one of "
                         "pywt.wavelist(kind='discrete'), e.g. 'haar', 'db4', 'sym8'") from None
    if not w.orthogonal:
        raise ValueError(f"wavelet {wavelet!r} is not orthogonal; the dictionary must be")
    if level is None:
        level = max(1, pywt.dwt_max_level(n, w.dec_len))
    # bounded before 2**level is computed: a huge level would take forever
    level = check_int(level, "level", low=1, high=max(1, n.bit_length() - 1))
    if n % 2**level:
        raise ValueError(f"n={n} must be divisible by 2**level={2**level} for a periodized "
                         "orthonormal wavelet dictionary")
    with warnings.catch_warnings():
        # Periodization stays exactly orthonormal beyond the "boundary effect" level.
        warnings.simplefilter("ignore", UserWarning)
        coefficients = pywt.wavedec(np.eye(n), w, mode="periodization", level=level, axis=0)
    analysis = np.concatenate(coefficients, axis=0)
    return np.ascontiguousarray(analysis.T, dtype=dtype)


def make_dictionary(spec, n, dtype=np.float64):
    """A dictionary from a name or an array.

    Parameters
    ----------
    spec : str or array_like
        'identity', 'dct', 'wavelet' (db4, maximal level), 'wavelet:NAME' or
        'wavelet:NAME:LEVEL' (e.g. 'wavelet:sym8:3'), or an (n, n) array.
    n : int
        Signal length N.
    dtype : dtype, default=float64

    Returns
    -------
    ndarray of shape (n, n)

    Examples
    --------
    >>> make_dictionary("wavelet:haar:2", 8).shape
    (8, 8)
    """
    if isinstance(spec, str):
        name, *options = spec.split(":")
        if name == "identity" and not options:
            return identity_dictionary(n, dtype)
        if name == "dct" and not options:
            return dct_dictionary(n, dtype)
        if name == "wavelet" and len(options) <= 2:
            wavelet = options[0] if options else "db4"
            level = None
            if len(options) == 2:
                if not options[1].isdigit():
                    raise ValueError(f"wavelet level must be a positive integer, got "
                                     f"{options[1]!r} in {spec!r}")
                level = int(options[1])
            return wavelet_dictionary(n, wavelet, level, dtype)
        raise ValueError(f"unknown dictionary {spec!r}; expected one of 'identity', 'dct', "
                         "'wavelet', 'wavelet:NAME' or 'wavelet:NAME:LEVEL'")
    return np.array(check_square(spec, "dictionary", n, dtype))


def gaussian_matrix(m, n, random_state=None, dtype=np.float64):
    """Random Gaussian measurement matrix with i.i.d. N(0, 1/m) entries.

    Its columns have unit norm in expectation, and ``||A||_2 ~ 1 + sqrt(n/m)``.

    Parameters
    ----------
    m, n : int
        Number of measurements M and signal length N.
    random_state : int or numpy.random.Generator, optional
        Seed for reproducibility.
    dtype : dtype, default=float64

    Returns
    -------
    ndarray of shape (m, n)
    """
    rng = np.random.default_rng(random_state)
    m, n = check_int(m, "m", low=1), check_int(n, "n", low=1)
    return (rng.standard_normal((m, n)) / np.sqrt(m)).astype(dtype)


def bernoulli_matrix(m, n, random_state=None, dtype=np.float64):
    """Random Bernoulli measurement matrix with entries +-1/sqrt(m), equally likely.

    Parameters
    ----------
    m, n : int
        Number of measurements M and signal length N.
    random_state : int or numpy.random.Generator, optional
        Seed for reproducibility.
    dtype : dtype, default=float64

    Returns
    -------
    ndarray of shape (m, n)
    """
    rng = np.random.default_rng(random_state)
    m, n = check_int(m, "m", low=1), check_int(n, "n", low=1)
    signs = rng.integers(0, 2, size=(m, n)) * 2 - 1
    return (signs / np.sqrt(m)).astype(dtype)


def paper_matrices(scale_measurements=True):
    """The matrices of the SISTA-RNN paper's image experiment (Wisdom et al., 2016).

    Converted from the authors' public repository (stwisdom/sista-rnn, MIT licence), file
    ``matlab/matrices_caltech_R4_N128_daub8.mat``.

    Parameters
    ----------
    scale_measurements : bool, default=True
        Divide ``A`` by 3 as the paper does, so that ``||A D||^2`` is close to 1 and
        ``alpha = 1`` is (nearly) a valid step. Its exact value is 1.0082: ``alpha = 1`` is
        slightly below the bound, as in the paper.

    Returns
    -------
    A : ndarray of shape (32, 128)
        Bernoulli measurement matrix, entries +-1/sqrt(32) (divided by 3 by default).
    D : ndarray of shape (128, 128)
        Orthonormal Daubechies wavelet dictionary (WaveLab's 8-tap filter).
    F : ndarray of shape (128, 128)
        The transition, the identity.
    """
    path = resources.files("sparserec") / "data" / "sista_rnn_caltech256_matrices.npz"
    with resources.as_file(path) as file, np.load(file, allow_pickle=False) as data:
        A, D, F = (np.array(data[key], dtype=np.float64) for key in ("A", "D", "F"))
    return (A / 3 if scale_measurements else A), D, F
