"""Optimisers for the training loop, and gradient clipping.

An optimiser updates a dict of float arrays in place from a dict of gradients
(``step(variables, grads)``), and can undo its last step (``undo(variables)``), which the
training loop does when a step made the loss NaN or explode.
"""

import numpy as np

from ._optimizer_kernels import adam_step, rmsprop_step

__all__ = ["RMSprop", "Adam", "make_optimizer", "clip_by_norm"]


class _Optimizer:
    """The step over named arrays and its undo; a subclass gives its state and kernel.

    The kernels write the new state to spare arrays and keep the overwritten variables, so
    that neither a step nor its undo copies the state: the undo swaps it back.
    """

    def __init__(self, learning_rate):
        self.learning_rate = learning_rate
        self._state, self._spare, self._before = {}, {}, {}
        self._stepped = []  # the variables the last step changed, until undone

    def step(self, variables, grads):
        """Update ``variables`` (a dict of float64 arrays) in place, from ``grads``."""
        for name, g in grads.items():
            p = _flat(variables[name])
            if name not in self._state:
                self._state[name] = self._initial_state(p.size)
                self._spare[name] = [np.empty(p.size) for _ in self._state[name]]
                self._before[name] = np.empty(p.size)
            self._update(p, self._before[name], _flat(g), *self._state[name],
                         *self._spare[name])
            self._state[name], self._spare[name] = self._spare[name], self._state[name]
        self._stepped = list(grads)

    def undo(self, variables):
        """Restore ``variables`` and the state to what they were before the last step."""
        if not self._stepped:
            return
        for name in self._stepped:
            _flat(variables[name])[:] = self._before[name]
            self._state[name], self._spare[name] = self._spare[name], self._state[name]
        self._stepped = []


class RMSprop(_Optimizer):
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
        super().__init__(learning_rate)
        self.decay = decay
        self.eps = eps
        self.initial_accumulator = initial_accumulator

    def _initial_state(self, size):
        return [np.full(size, float(self.initial_accumulator))]

    def _update(self, p, before, g, r, r_new):
        rmsprop_step(p, before, g, r, r_new, self.learning_rate, self.decay, self.eps)


class Adam(_Optimizer):
    """Adam (Kingma and Ba, 2015), with bias correction.

    Parameters
    ----------
    learning_rate : float, default=1e-3
    beta1, beta2 : float, default=0.9, 0.999
        Decay rates of the first and second moment estimates.
    eps : float, default=1e-8
    """

    def __init__(self, learning_rate=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
        super().__init__(learning_rate)
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self._t = 0  # the steps taken, for the bias correction

    def step(self, variables, grads):
        self._t += 1
        super().step(variables, grads)

    def undo(self, variables):
        if self._stepped:
            self._t -= 1
        super().undo(variables)

    def _initial_state(self, size):
        return [np.zeros(size), np.zeros(size)]

    def _update(self, p, before, g, m, v, m_new, v_new):
        adam_step(p, before, g, m, v, m_new, v_new, self.learning_rate, self.beta1,
                  self.beta2, 1 - self.beta1**self._t, 1 - self.beta2**self._t, self.eps)


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
