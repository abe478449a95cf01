"""A generic stacked RNN with soft-threshold units: the SISTA-RNN's graph, untied.

The baseline of the SISTA-RNN paper (Wisdom et al., 2016): the same K layers per time step,

    h_t^(1) = soft_b(W1 h_{t-1} + V x_t)
    h_t^(k) = soft_b(W h_{t-1} + S h_t^(k-1) + V x_t),   k = 2..K
    y_hat_t = D h_t^(K),

but S, V, W1, W, D and the threshold b are free parameters with a random initialisation,
not functions of a dictionary, a transition and penalties. It runs on the SISTA-RNN's own
numba kernels (:func:`sparserec.network.loss_and_weight_grads`), so the two networks differ
only in their parametrisation.
"""

import time
from dataclasses import dataclass, field

import numpy as np

from .metrics import nmse_db
from .network import Weights, forward_weights, loss_and_weight_grads
from .training import clip_by_norm, make_optimizer

__all__ = ["GenericRNNParams", "forward", "loss_and_grad", "train", "GenericTrainingResult"]

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


@dataclass
class GenericTrainingResult:
    """What :func:`train` returns.

    Attributes
    ----------
    params : GenericRNNParams
        The parameters with the best validation NMSE (the initial ones included).
    loss_curve : list of float
        Mean training loss of every epoch.
    validation_scores : list of float
        Validation score after every epoch (NMSE in dB unless ``score`` was given).
    initial_score : float or None
        That of the initial parameters.
    train_seconds : list of float
        Cumulative training time (without validation) at the end of every epoch.
    best_epoch : int
    n_epochs : int
    n_rejected : int
        Steps undone because the loss became NaN or infinite.
    """

    params: GenericRNNParams
    loss_curve: list = field(default_factory=list)
    validation_scores: list = field(default_factory=list)
    initial_score: float = None
    train_seconds: list = field(default_factory=list)
    best_epoch: int = 0
    n_epochs: int = 0
    n_rejected: int = 0


def train(params, X, Y, *, n_layers=3, optimizer="rmsprop", learning_rate=1e-4,
          batch_size=50, max_epochs=100, max_seconds=None, X_val=None, Y_val=None,
          score=None, clip_norm=None, dtype=None, random_state=None, clock=time.perf_counter,
          verbose=False):
    """Train a generic soft-threshold RNN by mini-batch gradient descent on the MSE.

    The optimisers are those of :mod:`sparserec.training`; b is optimised through its
    logarithm. A step after which the loss is NaN or infinite is undone and the learning
    rate halved.

    Parameters
    ----------
    params : GenericRNNParams
        Initial parameters (not modified).
    X, Y : ndarrays of shape (n, T, M) and (n, T, N)
    n_layers : int, default=3
    optimizer : {'rmsprop', 'adam'}, default='rmsprop'
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
    verbose : bool, default=False

    Returns
    -------
    GenericTrainingResult
    """
    optimizer = make_optimizer(optimizer, learning_rate)
    rng = np.random.default_rng(random_state)
    if score is None and X_val is not None and len(X_val) > 0:
        def score(current):
            return _nmse(current, X_val, Y_val, n_layers, dtype)
    variables = _to_variables(params)
    result = GenericTrainingResult(params=params.copy())
    best = result.initial_score = score(params) if score is not None else np.inf
    elapsed = 0.0
    previous = None  # the variables before the last step
    for epoch in range(1, max_epochs + 1):
        start = clock()
        losses = []
        for batch in np.array_split(rng.permutation(len(X)),
                                    max(1, -(-len(X) // batch_size))):
            current = _from_variables(variables)
            loss, grads = loss_and_grad(current, X[batch], Y[batch], n_layers, dtype=dtype)
            if not np.isfinite(loss) or not all(np.all(np.isfinite(g)) for g in grads.values()):
                if previous is None:
                    break
                variables = previous  # undo the step that broke the loss, with a smaller rate
                optimizer.learning_rate *= 0.5
                result.n_rejected += 1
                previous = None
                continue
            losses.append(loss)
            grads["b"] = grads["b"] * current.b  # d/d log b
            grads, _ = clip_by_norm(grads, clip_norm)
            previous = {k: v.copy() for k, v in variables.items()}
            optimizer.step(variables, grads)
        elapsed += clock() - start
        current = _from_variables(variables)
        result.loss_curve.append(float(np.mean(losses)) if losses else np.nan)
        result.train_seconds.append(elapsed)
        value = score(current) if score is not None else result.loss_curve[-1]
        if score is not None:
            result.validation_scores.append(value)
        if value < best:
            best, result.best_epoch, result.params = value, epoch, current
        result.n_epochs = epoch
        if verbose:
            print(f"generic RNN epoch {epoch:3d}  loss {result.loss_curve[-1]:.5g}  "
                  f"score {value:8.3f}  {elapsed:7.1f} s")
        if max_seconds is not None and elapsed >= max_seconds:
            break
    return result


def _to_variables(params):
    variables = {name: np.array(getattr(params, name), dtype=np.float64)
                 for name in PARAMETERS[:-1]}
    variables["b"] = np.array(np.log(params.b))
    return variables


def _from_variables(variables):
    arrays = {name: variables[name].copy() for name in PARAMETERS[:-1]}
    return GenericRNNParams(**arrays, b=float(np.exp(variables["b"])))


def _nmse(params, X, Y, n_layers, dtype):
    with np.errstate(over="ignore", invalid="ignore"):
        return float(nmse_db(Y, forward(params, X, n_layers, dtype=dtype)))
