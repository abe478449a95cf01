"""The numba kernels every solver and network shares: soft-thresholding.

Kernels do one job on plain, trusted, C-contiguous arrays of one floating dtype (float32
or float64): no validation, no Python objects, no I/O.
"""

from numba import njit


@njit(cache=True)
def soft(v, tau, positive):
    """``sign(v) max(|v| - tau, 0)`` for one value, or ``max(v - tau, 0)`` if ``positive``.

    Branch-free, ``max(v - tau, 0) + min(v + tau, 0)``, so that the loops that call it
    vectorise; the same values as the branches, bit for bit. ``tau - tau`` is a zero of
    ``tau``'s type: a literal 0.0 would promote float32 to float64.
    """
    zero = tau - tau
    if positive:
        return max(v - tau, zero)
    return max(v - tau, zero) + min(v + tau, zero)


@njit(cache=True)
def soft_threshold_inplace(z, tau):
    """Soft-threshold every entry of the flat array ``z`` in place."""
    for i in range(z.size):
        z[i] = soft(z[i], tau, False)
