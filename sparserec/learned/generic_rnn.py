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

import time
from dataclasses import dataclass

import numpy as np

from .network import Weights, forward_weights, loss_and_weight_grads
from .training import train_loop, validation_score

__all__ = ["GenericRNNParams", "forward", "loss_and_grad", "train"]

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


def train(params, X, Y, *, n_layers=3, optimizer="rmsprop", learning_rate=1e-4,
          batch_size=50, max_epochs=100, max_seconds=None, X_val=None, Y_val=None,
          score=None, clip_norm=None, dtype=None, random_state=None, clock=time.perf_counter,
          callback=None, verbose=False):
    """Train a generic soft-threshold RNN by mini-batch gradient descent on the MSE.

    The loop is :func:`sparserec.learned.train_loop`'s, as for the SISTA-RNN; b is
    optimised through its logarithm. A step after which the loss is NaN or infinite is
    undone (with the optimiser's state) and the learning rate halved; if the loss stays
    NaN, training stops with a :class:`sparserec.TrainingStoppedWarning`.

    Parameters
    ----------
    params : GenericRNNParams
        Initial parameters (not modified).
    X, Y : ndarrays of shape (n, T, M) and (n, T, N)
    n_layers : int, default=3
    optimizer : {'rmsprop', 'adam'} or optimiser object, default='rmsprop'
        As in :func:`sparserec.learned.train`.
    learning_rate : float, default=1e-4
    batch_size : int, default=50
    max_epochs : int, default=100
    max_seconds : float, optional
        Stop after the epoch during which the training time (validation excluded)
        reached this budget.
    X_val, Y_val : ndarrays, optional
        Validation data; the best parameters are chosen on its NMSE, else on the loss.
    score : callable, optional
        ``score(params)``, lower is better: chooses the best epoch instead (e.g. minus a
        validation PSNR). Not counted in the training time.
    clip_norm : float, optional
        Clip the joint gradient norm.
    dtype : {float32, float64}, optional
    random_state : int or None
        Seed of the mini-batch order.
    clock : callable, default=time.perf_counter
        The clock of the training time; ``time.process_time`` counts the CPU time of this
        process only, which is fairer on a machine shared with other jobs.
    callback : callable, optional
        ``callback(result)`` after every epoch, with the
        :class:`sparserec.learned.TrainingResult` so far; a true return value stops
        training.
    verbose : bool, default=False

    Returns
    -------
    sparserec.learned.TrainingResult
    """
    score, score_format = validation_score(
        score, lambda current, X: forward(current, X, n_layers, dtype=dtype), X_val, Y_val)

    def batch_loss_and_grad(current, batch):
        loss, grads = loss_and_grad(current, X[batch], Y[batch], n_layers, dtype=dtype)
        grads["b"] = grads["b"] * current.b  # d/d log b
        return loss, grads

    variables = _to_variables(params)
    # Start from the decoded variables, as every later step: b = exp(log b).
    return train_loop(_from_variables(variables), variables, batch_loss_and_grad, len(X),
                      decode=lambda _, values: _from_variables(values), score=score,
                      optimizer=optimizer, learning_rate=learning_rate,
                      batch_size=batch_size, max_epochs=max_epochs, max_seconds=max_seconds,
                      clock=clock, clip_norm=clip_norm, explode_factor=np.inf,
                      random_state=random_state, callback=callback, verbose=verbose,
                      score_format=score_format)


def _to_variables(params):
    variables = {name: np.array(getattr(params, name), dtype=np.float64)
                 for name in PARAMETERS[:-1]}
    variables["b"] = np.array(np.log(params.b))
    return variables


def _from_variables(variables):
    arrays = {name: variables[name].copy() for name in PARAMETERS[:-1]}
    return GenericRNNParams(**arrays, b=float(np.exp(variables["b"])))
