"""A generic stacked RNN with soft-threshold units: the SISTA-RNN's graph, untied.

The baseline of the SISTA-RNN paper (Wisdom et al., 2016): the same K layers per time step,

    h_t^(1) = soft_b(W1 h_{t-1} + V x_t)
    h_t^(k) = soft_b(W h_{t-1} + S h_t^(k-1) + V x_t),   k = 2..K
    y_hat_t = D h_t^(K),

but S, V, W1, W, D and the threshold b are free parameters with a random initialisation,
not functions of a dictionary, a transition and penalties. It runs on the SISTA-RNN's own
numba kernels (:func:`sparserec.learned.network.loss_and_weight_grads`), so the two networks differ
only in their parametrisation.
"""

from dataclasses import dataclass

import numpy as np

from .base import Network
from .network import Weights, forward_weights, loss_and_weight_grads

__all__ = ["GenericRNN", "GenericRNNParams", "forward", "loss_and_grad"]

#: The trained parameters (b through its logarithm, to stay positive).
PARAMETERS = ("S", "V", "W1", "W", "D", "b")


@dataclass
class GenericRNNParams:
    """The free parameters of a generic soft-threshold RNN.

    Attributes
    ----------
    S, W1, W, D : ndarray of shape (N, N)
    V : ndarray of shape (N, M)
    b : float
        The threshold (positive), shared by all units.
    """

    S: np.ndarray
    V: np.ndarray
    W1: np.ndarray
    W: np.ndarray
    D: np.ndarray
    b: float

    @classmethod
    def random(cls, n_features, n_measurements, *, gain=0.5, threshold=0.1,
               random_state=None):
        """A random initialisation.

        Gaussian S, W1, W with standard deviation ``gain / sqrt(N)`` (a spectral radius of
        about ``gain``, so that the recursion neither explodes nor dies at the start), V
        with ``1 / sqrt(M)``, and a random orthogonal output matrix D.

        Parameters
        ----------
        n_features, n_measurements : int
            N and M.
        gain : float, default=0.5
        threshold : float, default=0.1
            The initial b.
        random_state : int or None

        Returns
        -------
        GenericRNNParams
        """
        rng = np.random.default_rng(random_state)
        N, M = n_features, n_measurements

        def square():
            return gain * rng.standard_normal((N, N)) / np.sqrt(N)

        D = np.linalg.qr(rng.standard_normal((N, N)))[0]
        return cls(S=square(), V=rng.standard_normal((N, M)) / np.sqrt(M), W1=square(),
                   W=square(), D=D, b=float(threshold))

    @property
    def n_parameters(self):
        """The number of trained scalars: ``4 N^2 + N M + 1``."""
        return sum(np.size(getattr(self, name)) for name in PARAMETERS)

    def copy(self):
        """A deep copy."""
        arrays = {name: np.copy(getattr(self, name)) for name in PARAMETERS[:-1]}
        return GenericRNNParams(**arrays, b=float(self.b))

    def _weights(self):
        return Weights(S=self.S, V=self.V, W1=self.W1, W=self.W, P=None, b=self.b)


class GenericRNN(Network):
    """The generic RNN in the learned mode's protocol: K layers per frame, b positive.

    Parameters
    ----------
    n_layers : int, default=3
        K, the layers per frame.
    """

    name = "generic-rnn"
    input_ndim = 3
    Params = GenericRNNParams
    TRAINABLE = TRAINED = PARAMETERS
    POSITIVE = ("b",)

    def __init__(self, n_layers=3):
        self.layers = n_layers

    def n_layers(self, params):
        return self.layers

    def forward(self, params, X, *, depth=None, dtype=None):
        return forward(params, X, depth or self.layers, dtype=dtype)

    def loss_and_grad(self, params, X, Y, *, depth=None, names=None, dtype=None):
        loss, grads = loss_and_grad(params, X, Y, depth or self.layers, dtype=dtype)
        return loss, {name: grads[name] for name in self.check_names(names)}


def forward(params, X, n_layers=3, *, dtype=None):
    """Run the network on a batch of sequences.

    Parameters
    ----------
    params : GenericRNNParams
    X : ndarray of shape (B, T, M)
    n_layers : int, default=3
    dtype : {float32, float64}, optional
        Default that of ``X``.

    Returns
    -------
    ndarray of shape (B, T, N)
    """
    N = params.D.shape[0]
    return forward_weights(params._weights(), params.D, np.zeros(N), X, n_layers, dtype=dtype)


def loss_and_grad(params, X, Y, n_layers=3, *, dtype=None):
    """The mean squared error on a batch and its gradients in every parameter.

    Parameters
    ----------
    params : GenericRNNParams
    X : ndarray of shape (B, T, M)
    Y : ndarray of shape (B, T, N)
    n_layers : int, default=3
    dtype : {float32, float64}, optional

    Returns
    -------
    loss : float
    grads : dict
        float64 gradients for 'S', 'V', 'W1', 'W', 'D' and 'b'.
    """
    N = params.D.shape[0]
    loss, g = loss_and_weight_grads(params._weights(), params.D, np.zeros(N), X, Y, n_layers,
                                    dtype=dtype)
    return loss, {name: g[name] for name in PARAMETERS}
