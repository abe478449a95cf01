"""Optimisers for the training loop, and gradient clipping.

An optimiser updates a dict of float arrays in place from a dict of gradients
(``step(variables, grads)``), and can save and restore its state (``get_state``,
``set_state``), which the training loop uses to undo a step.
"""

import numpy as np

from ._optimizer_kernels import adam_step, rmsprop_step

__all__ = ["RMSprop", "Adam", "make_optimizer", "clip_by_norm"]


class RMSprop:
    """RMSprop, as in the SISTA-RNN paper's reference code.

    ``r <- decay r + (1 - decay) g^2``, then ``p <- p - lr g / (sqrt(r) + eps)``, every
    array element by element.

    Parameters
    ----------
    learning_rate : float, default=1e-4
    decay : float, default=0.9
        The paper's value.
    eps : float, default=1e-8
        Added to the root mean square, against a division by zero.
    initial_accumulator : float, default=1e-3
        Starting value of ``r`` (the reference code's), which damps the first steps.
    """

    def __init__(self, learning_rate=1e-4, decay=0.9, eps=1e-8, initial_accumulator=1e-3):
        self.learning_rate = learning_rate
        self.decay = decay
        self.eps = eps
        self.initial_accumulator = initial_accumulator
        self._r = {}

    def step(self, variables, grads):
        """Update ``variables`` (a dict of float arrays) in place, from ``grads``."""
        for name, g in grads.items():
            r = self._r.setdefault(name, np.full(np.shape(g), self.initial_accumulator))
            rmsprop_step(_flat(variables[name]), _flat(g), r.reshape(-1),
                         self.learning_rate, self.decay, self.eps)

    def get_state(self):
        """A copy of the internal state (for :meth:`set_state`)."""
        return {name: r.copy() for name, r in self._r.items()}

    def set_state(self, state):
        """Restore a state returned by :meth:`get_state`."""
        self._r = {name: r.copy() for name, r in state.items()}


class Adam:
    """Adam (Kingma and Ba, 2015), with bias correction.

    Parameters
    ----------
    learning_rate : float, default=1e-3
    beta1, beta2 : float, default=0.9, 0.999
        Decay rates of the first and second moment estimates.
    eps : float, default=1e-8
    """

    def __init__(self, learning_rate=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
        self.learning_rate = learning_rate
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self._m, self._v, self._t = {}, {}, 0

    def step(self, variables, grads):
        """Update ``variables`` (a dict of float arrays) in place, from ``grads``."""
        self._t += 1
        c1 = 1 - self.beta1**self._t
        c2 = 1 - self.beta2**self._t
        for name, g in grads.items():
            m = self._m.setdefault(name, np.zeros(np.shape(g)))
            v = self._v.setdefault(name, np.zeros(np.shape(g)))
            adam_step(_flat(variables[name]), _flat(g), m.reshape(-1), v.reshape(-1),
                      self.learning_rate, self.beta1, self.beta2, c1, c2, self.eps)

    def get_state(self):
        """A copy of the internal state (for :meth:`set_state`)."""
        return ({n: a.copy() for n, a in self._m.items()},
                {n: a.copy() for n, a in self._v.items()}, self._t)

    def set_state(self, state):
        """Restore a state returned by :meth:`get_state`."""
        m, v, self._t = state
        self._m = {n: a.copy() for n, a in m.items()}
        self._v = {n: a.copy() for n, a in v.items()}


def _flat(a):
    """A float64 array as a flat view, for the kernels (the variables are float64 and
    contiguous, so their updates land in place)."""
    a = np.asarray(a, dtype=np.float64)
    if not a.flags.c_contiguous:
        raise ValueError("the optimised variables must be C-contiguous float64 arrays")
    return a.reshape(-1)


def make_optimizer(name, learning_rate):
    """An optimiser by name.

    Parameters
    ----------
    name : {'rmsprop', 'adam'}
    learning_rate : float

    Returns
    -------
    RMSprop or Adam
    """
    optimizers = {"rmsprop": RMSprop, "adam": Adam}
    if name not in optimizers:
        raise ValueError(f"unknown optimizer {name!r}; choose 'rmsprop' or 'adam'")
    return optimizers[name](learning_rate=learning_rate)


def clip_by_norm(grads, max_norm):
    """Scale all gradients together so that their joint Euclidean norm is at most ``max_norm``.

    Parameters
    ----------
    grads : dict of str to array_like
    max_norm : float or None
        None: no clipping.

    Returns
    -------
    clipped : dict
        The (possibly scaled) gradients.
    norm : float
        The joint norm before clipping.
    """
    norm = float(np.sqrt(sum(np.sum(np.square(g)) for g in grads.values())))
    if max_norm is None or norm <= max_norm:
        return grads, norm
    scale = max_norm / norm
    return {name: g * scale for name, g in grads.items()}, norm
