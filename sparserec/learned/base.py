"""The one protocol of the learned mode: what a network declares, so that one trainer, one
estimator base and one command serve every network.

A network splits into the mathematics it owns and everything that loops or decides, which
the trainer (:func:`sparserec.learned.train`) owns, as deepinv keeps its models apart from
its one ``Trainer``:

- the network owns its parameters (one record, a dataclass), its forward pass over a
  batch, its loss and hand-written gradients, the constraints applied after a step, and
  which parameters are trainable, positive or per layer;
- the trainer owns batch order, optimiser, guards, clipping, the logarithms of the
  positive parameters, validation, the best parameters, stopping, layer-wise stages,
  callbacks and progress.

A new network is a subclass of :class:`Network` in its own module of
:mod:`sparserec.learned`, plus one line in :data:`sparserec.learned.NETWORKS`
(docs/contributing.rst walks through ALISTA).
"""

import dataclasses

import numpy as np

__all__ = ["Network"]


class Network:
    """The base of every network: its declarations and the defaults of its hooks.

    A subclass sets the class attributes and implements :meth:`forward` and
    :meth:`loss_and_grad`; the other methods have defaults that fit a record of arrays.
    An instance holds the network's structural settings that are not parameters (e.g. the
    SISTA-RNN's layers per frame); the parameters themselves travel as the record.

    Attributes
    ----------
    name : str
        The name in :data:`sparserec.learned.NETWORKS` (``sparserec fit --network``).
    input_ndim : {2, 3}
        2: vectors, ``X`` (B, M) to (B, N); 3: sequences, ``X`` (B, T, M) to (B, T, N).
    Params : type
        The record of the parameters, a dataclass.
    TRAINABLE : tuple of str
        The fields that may be trained.
    TRAINED : tuple of str
        Those trained by default.
    LAYERED : tuple of str
        The fields with one entry per layer along their first axis (a length of 1: one
        entry shared by all layers). Layer-wise training needs at least one.
    POSITIVE : tuple of str
        The fields trained through their logarithm, so that they stay positive.
    """

    name = None
    input_ndim = 2
    Params = None
    TRAINABLE = ()
    TRAINED = ()
    LAYERED = ()
    POSITIVE = ()

    def n_layers(self, params):
        """K, the depth of the network (layers per frame for a recurrent one)."""
        return int(np.shape(getattr(params, self.LAYERED[0]))[0])

    def forward(self, params, X, *, depth=None, dtype=None):
        """The output of the first ``depth`` layers (default all) on a batch ``X``."""
        raise NotImplementedError

    def loss_and_grad(self, params, X, Y, *, depth=None, names=None, dtype=None):
        """``(loss, grads)``: the mean squared error ``sum (out - Y)^2 / Y.size`` of the
        first ``depth`` layers and its gradients, a dict of float64 arrays for the fields
        ``names`` (default :attr:`TRAINED`)."""
        raise NotImplementedError

    def setup(self, params, names):
        """The parameters to start training ``names`` from (default ``params``): e.g. a
        field that training needs but the classical solver leaves out."""
        return params

    def project(self, params, start):
        """Correct ``params`` after a step, by giving its fields new values (``start``: the
        parameters training started from); return whether anything changed. Default:
        nothing to do."""
        return False

    def to_arrays(self, params):
        """The record as a dict of named arrays (fields that are None are left out)."""
        return {f.name: np.asarray(getattr(params, f.name))
                for f in dataclasses.fields(params)
                if isinstance(getattr(params, f.name), (np.ndarray, float, int))}

    def from_arrays(self, arrays, **fields):
        """The record from :meth:`to_arrays`' dict (``fields`` add what is not an array)."""
        names = {f.name for f in dataclasses.fields(self.Params)}
        return self.Params(**{k: v for k, v in arrays.items() if k in names}, **fields)

    def n_parameters(self, params, names=None):
        """The number of trained scalars."""
        return int(sum(np.size(getattr(params, name))
                       for name in (self.TRAINED if names is None else names)))

    def check_names(self, names):
        """``names`` (default :attr:`TRAINED`) as a tuple, all of them trainable."""
        names = self.TRAINED if names is None else (
            (names,) if isinstance(names, str) else tuple(names))
        unknown = [name for name in names if name not in self.TRAINABLE]
        if unknown:
            raise ValueError(f"{self.name} cannot train {unknown}; choose among "
                             f"{', '.join(self.TRAINABLE)}")
        return names
