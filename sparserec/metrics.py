"""Quality of a recovery: SNR, PSNR, NMSE (all in dB) and support recovery.

Each score compares ``y_pred`` with ``y_true`` over all entries by default; ``axis`` gives
one score per item instead (e.g. ``axis=-1`` for one per signal).
"""

from typing import NamedTuple

import numpy as np

__all__ = ["snr", "psnr", "nmse_db", "support_recovery", "SupportScores"]


def nmse_db(y_true, y_pred, axis=None):
    """Normalised mean squared error in dB, ``10 log10(||y_pred - y_true||^2 / ||y_true||^2)``.

    Lower is better; -20 dB means an error energy of 1% of the signal energy. An exact
    recovery scores ``-inf``, also of a zero ``y_true``; any error on a zero ``y_true``
    scores ``+inf``. It is never NaN for finite input, and warns of nothing.

    Parameters
    ----------
    y_true, y_pred : array_like of the same shape
    axis : int or tuple of int, optional
        Axes to sum over; default all (one number).

    Returns
    -------
    float or ndarray

    Examples
    --------
    >>> float(nmse_db([10.0, 0.0], [11.0, 0.0]))
    -20.0
    >>> float(nmse_db([0.0, 0.0], [0.0, 0.0]))
    -inf
    """
    return -snr(y_true, y_pred, axis=axis)


def snr(y_true, y_pred, axis=None):
    """Signal-to-noise ratio of the recovery in dB.

    ``10 log10(||y_true||^2 / ||y_pred - y_true||^2)``: higher is better; it is
    ``-nmse_db``. An exact recovery scores ``+inf``, also of a zero ``y_true``; any error
    on a zero ``y_true`` scores ``-inf``.

    Parameters
    ----------
    y_true, y_pred : array_like of the same shape
    axis : int or tuple of int, optional
        Axes to sum over; default all (one number).

    Returns
    -------
    float or ndarray
    """
    y_true, y_pred = _pair(y_true, y_pred)
    return _db(np.sum(y_true**2, axis=axis), np.sum((y_pred - y_true) ** 2, axis=axis))


def psnr(y_true, y_pred, data_range=None, axis=None):
    """Peak signal-to-noise ratio in dB, ``10 log10(data_range^2 / MSE)``.

    An exact recovery scores ``+inf``; any error on a constant ``y_true`` (range 0)
    scores ``-inf`` unless ``data_range`` is given.

    Parameters
    ----------
    y_true, y_pred : array_like of the same shape
    data_range : float, optional
        The peak-to-peak range of the signal (255 for 8-bit images, 1 for images in [0, 1]);
        default ``y_true.max() - y_true.min()``.
    axis : int or tuple of int, optional
        Axes to average over; default all (one number).

    Returns
    -------
    float or ndarray
    """
    y_true, y_pred = _pair(y_true, y_pred)
    if data_range is None:
        data_range = float(y_true.max() - y_true.min())
    return _db(data_range**2, np.mean((y_pred - y_true) ** 2, axis=axis))


def _db(signal, noise):
    """``10 log10(signal / noise)``, with no noise scoring ``+inf`` whatever the signal."""
    signal, noise = np.broadcast_arrays(np.asarray(signal, float), np.asarray(noise, float))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = 10 * np.log10(signal / noise)
    ratio = np.where(noise == 0, np.inf, ratio)
    return ratio[()] if ratio.ndim == 0 else ratio


class SupportScores(NamedTuple):
    """How well an estimated support matches the true one."""

    precision: float
    """Fraction of the estimated nonzeros that are true nonzeros."""
    recall: float
    """Fraction of the true nonzeros that were found."""
    f1: float
    """Harmonic mean of precision and recall."""
    exact: float
    """Fraction of the items whose support is recovered exactly (all items if 1-D)."""


def support_recovery(h_true, h_pred, threshold=0.0):
    """Compare the supports (sets of nonzero entries) of true and estimated codes.

    Parameters
    ----------
    h_true, h_pred : array_like of the same shape, (N,) or (..., N)
        Codes; the last axis indexes the coefficients of one item.
    threshold : float, default=0.0
        An estimated entry counts as nonzero when ``|h_pred| > threshold``.

    Returns
    -------
    SupportScores
        precision, recall, F1 over all entries, and the fraction of items with an exactly
        recovered support. Precision (recall) is 1 when nothing was estimated (is true).

    Examples
    --------
    >>> support_recovery([0, 1, 0, 2], [0, 0.9, 0.1, 2.1], threshold=0.5)
    SupportScores(precision=1.0, recall=1.0, f1=1.0, exact=1.0)
    """
    h_true, h_pred = _pair(h_true, h_pred)
    true = h_true != 0
    found = np.abs(h_pred) > threshold
    hits = np.count_nonzero(true & found)
    precision = hits / np.count_nonzero(found) if found.any() else 1.0
    recall = hits / np.count_nonzero(true) if true.any() else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    exact = float(np.mean(np.all(true == found, axis=-1)))
    return SupportScores(float(precision), float(recall), float(f1), exact)


def _pair(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: y_true {a.shape} and y_pred {b.shape}")
    return a, b
