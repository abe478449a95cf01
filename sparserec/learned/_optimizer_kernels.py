"""Numba kernels of the optimisers (:mod:`sparserec.learned.optimizers`): one pass over
the parameters per step instead of numpy's eight, which matters for matrices of a million
entries updated after every small batch."""

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def adam_step(p, g, m, v, learning_rate, beta1, beta2, c1, c2, eps):
    """Adam's update of the flat arrays ``p``, ``m``, ``v`` in place, from ``g``."""
    for i in range(p.size):
        m[i] = beta1 * m[i] + (1 - beta1) * g[i]
        v[i] = beta2 * v[i] + (1 - beta2) * g[i] * g[i]
        p[i] -= learning_rate * (m[i] / c1) / (np.sqrt(v[i] / c2) + eps)


@njit(cache=True, nogil=True)
def rmsprop_step(p, g, r, learning_rate, decay, eps):
    """RMSprop's update of the flat arrays ``p`` and ``r`` in place, from ``g``."""
    for i in range(p.size):
        r[i] = decay * r[i] + (1 - decay) * g[i] * g[i]
        p[i] -= learning_rate * g[i] / (np.sqrt(r[i]) + eps)
