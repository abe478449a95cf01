"""Numba kernels of the optimisers (:mod:`sparserec.learned.optimizers`): one pass over
the parameters per step instead of numpy's eight, which matters for matrices of a million
entries updated after every small batch.

Each kernel updates ``p`` in place and keeps what it overwrote in ``before``; it reads the
optimiser's state and writes the new state to other arrays, so that a step can be undone
without copying anything before it. ``error_model='numpy'``: without the check for a
division by zero (never: ``eps > 0``), the loops vectorise, four times faster.
"""

import numpy as np
from numba import njit


@njit(cache=True, nogil=True, error_model="numpy")
def adam_step(p, before, g, m, v, m_new, v_new, learning_rate, beta1, beta2, c1, c2, eps):
    """Adam's update of the flat array ``p`` in place, from ``g`` and the moments."""
    for i in range(p.size):
        mi = beta1 * m[i] + (1 - beta1) * g[i]
        vi = beta2 * v[i] + (1 - beta2) * g[i] * g[i]
        m_new[i] = mi
        v_new[i] = vi
        before[i] = p[i]
        p[i] = before[i] - learning_rate * (mi / c1) / (np.sqrt(vi / c2) + eps)


@njit(cache=True, nogil=True, error_model="numpy")
def rmsprop_step(p, before, g, r, r_new, learning_rate, decay, eps):
    """RMSprop's update of the flat array ``p`` in place, from ``g`` and the mean square."""
    for i in range(p.size):
        ri = decay * r[i] + (1 - decay) * g[i] * g[i]
        r_new[i] = ri
        before[i] = p[i]
        p[i] = before[i] - learning_rate * g[i] / (np.sqrt(ri) + eps)
