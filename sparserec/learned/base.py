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

from .._validation import check_array, check_dtype, check_int, float_dtype

__all__ = ["Network", "Record", "check_batch", "check_layer_arrays", "check_thresholds",
           "ista_start"]


class Record:
    """What the records of the one-shot networks share (mixed into their dataclasses):
    ``n_layers`` from their thresholds ``theta``, ``tied`` from their matrices of one entry
    per layer (their 3-D arrays), and a deep copy."""

    @property
    def n_layers(self):
        """K."""
        return int(np.shape(self.theta)[0])

    @property
    def tied(self):
        """Whether one matrix serves every layer (True for a record without one)."""
        return all(np.shape(value)[0] == 1 for value in vars(self).values()
                   if np.ndim(value) == 3)

    def copy(self):
        """A deep copy, the arrays in float64."""
        return dataclasses.replace(self, **{
            f.name: np.array(value, dtype=np.float64) for f in dataclasses.fields(self)
            for value in [getattr(self, f.name)] if not isinstance(value, str)})


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

    def per_layer(self, params):
        """What a reader can interpret, layer by layer: ``{name: ndarray of shape (K,)}``
        (thresholds, step sizes, ...). Default: nothing (a network of free weights)."""
        return {}

    def selected(self, grads, names):
        """The gradients of ``names`` (default :attr:`TRAINED`) among ``grads``."""
        return {name: grads[name] for name in self.check_names(names)}

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


# ----------------------------------------------------------------------------------------
# the checks of the one-shot networks' passes


def check_batch(X, Y, depth, dtype, M, N, K):
    """``(X, n, dtype)``: ``X`` (B, M) in ``dtype`` (default ``X``'s, float64 unless
    float32), ``Y`` (B, N) checked, and the layers to run, ``depth`` from 1 to K (default
    K)."""
    X = np.asarray(X)
    dtype = (float_dtype(X) if X.dtype.kind == "f" else np.dtype(np.float64)) \
        if dtype is None else check_dtype(dtype)
    n = K if depth is None else check_int(depth, "n_layers", low=1, high=K)
    X = check_array(X, "X", ndim=2, dtype=dtype)
    if X.shape[1] != M:
        raise ValueError(f"X must have shape (B, M) = (B, {M}), got {X.shape}")
    if Y is not None:
        if np.shape(Y) != (X.shape[0], N):
            raise ValueError(f"Y must have shape (B, N) = ({X.shape[0]}, {N}), got "
                             f"{np.shape(Y)}")
        check_array(Y, "Y", ndim=2)
    return X, n, dtype


def check_thresholds(theta):
    """``(theta, K)``: the thresholds, one per layer, as float64 (K,), and K."""
    theta = check_array(theta, "params.theta", ndim=1, dtype=np.float64)
    return theta, theta.shape[0]


def check_layer_arrays(value, name, K, *axes):
    """``value`` as float64 of shape (K, ...) or (1, ...) (tied), ``axes`` giving the
    letter and size of each other axis, e.g. ``("N", 500), ("M", 250)``."""
    a = check_array(value, f"params.{name}", ndim=1 + len(axes), dtype=np.float64)
    sizes = tuple(size for _, size in axes)
    if a.shape[1:] != sizes or a.shape[0] not in (1, K):
        letters = ", ".join(letter for letter, _ in axes)
        numbers = ", ".join(map(str, sizes))
        raise ValueError(f"params.{name} must have shape (K, {letters}) = ({K}, {numbers}) or "
                         f"(1, {numbers}) (tied), got {a.shape}")
    return a


def ista_start(A, n_layers):
    """``(A, K, L)`` for the initial parameters of an unfolded ISTA: ``A`` checked, in
    float64, ``K`` the layers and ``L = 1.001 ||A||_2^2``, ISTA's inverse step
    (``ValueError`` for a zero ``A``)."""
    A = check_array(A, "A", ndim=2, dtype=np.float64)
    K = check_int(n_layers, "n_layers", low=1)
    L = 1.001 * float(np.linalg.norm(A, 2)) ** 2
    if L == 0.0:
        raise ValueError("A is zero: nothing can be recovered")
    return A, K, L
