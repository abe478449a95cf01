"""Training the SISTA-RNN: optimisers, gradient clipping and a guarded training loop.

:func:`train` fits the interpretable parameters theta of a :class:`SISTAParams` by
mini-batch gradient descent on the mean squared error, with the gradients of
:func:`sparserec.network.loss_and_grad`. alpha, lam1 and lam2 are optimised through their
logarithms, so they stay positive. Three guards keep training stable:

- after every step alpha is kept above the stability bound of the current D, A and lam2
  (the Lipschitz constant, or the fraction of it that the initial alpha had, whichever is
  smaller: the paper's alpha = 1 bounds ``||A D||^2`` but not the lam2 term);
- a step after which the next batch's loss is NaN or explodes is undone, and the learning
  rate halved;
- if the loss cannot be made finite, training stops with a :class:`TrainingStoppedWarning`.

The parameters with the best validation score seen (the initial ones included) are kept.
"""

import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from .metrics import nmse_db
from .network import LEARNABLE, SISTAParams, forward, loss_and_grad
from .solvers import lipschitz_constant

__all__ = ["RMSprop", "Adam", "make_optimizer", "clip_by_norm", "TrainingResult",
           "TrainingStoppedWarning", "train"]

#: Parameters optimised through their logarithm, to stay positive.
LOG_PARAMETERS = ("alpha", "lam1", "lam2")


class TrainingStoppedWarning(RuntimeWarning):
    """Training stopped early because the loss could not be kept finite."""


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
            r *= self.decay
            r += (1 - self.decay) * g * g
            variables[name] -= self.learning_rate * g / (np.sqrt(r) + self.eps)

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
            m *= self.beta1
            m += (1 - self.beta1) * g
            v *= self.beta2
            v += (1 - self.beta2) * g * g
            variables[name] -= self.learning_rate * (m / c1) / (np.sqrt(v / c2) + self.eps)

    def get_state(self):
        """A copy of the internal state (for :meth:`set_state`)."""
        return ({n: a.copy() for n, a in self._m.items()},
                {n: a.copy() for n, a in self._v.items()}, self._t)

    def set_state(self, state):
        """Restore a state returned by :meth:`get_state`."""
        m, v, self._t = state
        self._m = {n: a.copy() for n, a in m.items()}
        self._v = {n: a.copy() for n, a in v.items()}


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


@dataclass
class TrainingResult:
    """What :func:`train` returns.

    Attributes
    ----------
    params : SISTAParams
        The parameters with the best validation score (the initial ones included).
    final_params : SISTAParams
        The parameters after the last step.
    loss_curve : list of float
        Mean training loss (MSE) of every epoch.
    validation_scores : list of float
        Validation NMSE in dB after every epoch (lower is better); empty without validation.
    initial_validation_score : float or None
        Validation NMSE in dB of the initial parameters.
    epoch_times : list of float
        Wall-clock seconds of every epoch (training steps and validation).
    best_epoch : int
        The epoch whose parameters were kept (0: the initial ones).
    n_epochs : int
        Epochs run.
    n_rejected : int
        Steps undone because the loss became NaN or exploded.
    n_alpha_raised : int
        Steps after which alpha was raised to the stability bound.
    stop_reason : str
        Why training ended: 'max_epochs', 'no improvement', or the NaN message.
    """

    params: SISTAParams
    final_params: SISTAParams
    loss_curve: list = field(default_factory=list)
    validation_scores: list = field(default_factory=list)
    initial_validation_score: float = None
    epoch_times: list = field(default_factory=list)
    best_epoch: int = 0
    n_epochs: int = 0
    n_rejected: int = 0
    n_alpha_raised: int = 0
    stop_reason: str = "max_epochs"


def train(params, X, Y, *, n_layers=3, learn=("D", "F", "alpha", "lam1", "lam2"),
          optimizer="rmsprop", learning_rate=1e-4, batch_size=50, max_epochs=100,
          X_val=None, Y_val=None, n_iter_no_change=None, tol=0.0, clip_norm=None,
          dtype=None, random_state=None, guard=True, explode_factor=10.0, verbose=False):
    """Train a SISTA-RNN by mini-batch gradient descent on the mean squared error.

    Parameters
    ----------
    params : SISTAParams
        Initial parameters (not modified).
    X : ndarray of shape (n_sequences, T, M)
        Training measurements (trusted: validated by the caller).
    Y : ndarray of shape (n_sequences, T, N)
        Training targets.
    n_layers : int, default=3
        K, the layers per time step.
    learn : iterable of str, default=('D', 'F', 'alpha', 'lam1', 'lam2')
        The parameters to train, among ``sparserec.network.LEARNABLE``.
    optimizer : {'rmsprop', 'adam'} or optimiser object, default='rmsprop'
        An object needs ``step(variables, grads)``, ``get_state()``, ``set_state(state)``
        and a ``learning_rate`` attribute.
    learning_rate : float, default=1e-4
        Ignored when ``optimizer`` is an object.
    batch_size : int, default=50
    max_epochs : int, default=100
    X_val, Y_val : ndarrays, optional
        Validation data; the best parameters are chosen on its NMSE. Without it, on the
        mean training loss of each epoch.
    n_iter_no_change : int, optional
        Stop after this many epochs without an improvement of more than ``tol`` (in dB of
        validation NMSE, or relative training loss). None: run ``max_epochs``.
    tol : float, default=0.0
    clip_norm : float, optional
        Clip the joint gradient norm (of the optimised variables) to this value.
    dtype : {float32, float64}, optional
        Precision of the network's kernels; default that of ``X``.
    random_state : int or None
        Seed of the mini-batch order: the same seed gives the same result.
    guard : bool, default=True
        Keep alpha above the stability bound and undo steps that make the loss NaN or
        explode (see the module's docstring). alpha is kept above the bound even when it
        is not trained, as the stability of the iteration depends on it.
    explode_factor : float, default=10.0
        A batch loss above this factor times the median of the recent accepted losses
        counts as an explosion.
    verbose : bool, default=False
        Print the loss, the validation score and the time of every epoch.

    Returns
    -------
    TrainingResult
    """
    learn = tuple(learn)
    unknown = set(learn) - set(LEARNABLE)
    if unknown:
        raise ValueError(f"cannot learn {sorted(unknown)}; choose among {LEARNABLE}")
    if isinstance(optimizer, str):
        optimizer = make_optimizer(optimizer, learning_rate)
    initial_rate = optimizer.learning_rate
    rng = np.random.default_rng(random_state)
    n = len(X)
    validate = X_val is not None and len(X_val) > 0
    current = params.copy()
    variables = _to_variables(current, learn)
    stability_ratio = _stability_ratio(current) if guard else None

    result = TrainingResult(params=current.copy(), final_params=current)
    best = np.inf
    if validate:
        best = result.initial_validation_score = _validation_score(current, X_val, Y_val,
                                                                   n_layers, dtype)
        if verbose:
            print(f"epoch   0  validation NMSE {best:8.3f} dB  (initial parameters)")
    recent = []  # accepted batch losses, the reference for "explodes"
    previous = None  # variables and optimiser state before the last step
    stale = 0
    for epoch in range(1, max_epochs + 1):
        start = time.perf_counter()
        order = rng.permutation(n)
        losses = []
        stop = None
        for first in range(0, n, batch_size):
            batch = order[first:first + batch_size]
            loss, grads = _loss_and_grad(current, X[batch], Y[batch], n_layers, learn, dtype)
            if guard and previous is not None and _exploded(loss, grads, recent,
                                                            explode_factor):
                # The last step made the loss NaN or explode: undo it, with a smaller step.
                variables, state = previous
                optimizer.set_state(state)
                optimizer.learning_rate *= 0.5
                result.n_rejected += 1
                current = _from_variables(current, variables)
                previous = None
                loss, grads = _loss_and_grad(current, X[batch], Y[batch], n_layers, learn,
                                             dtype)
            if not (np.isfinite(loss) and _finite(grads)):
                stop = (f"training stopped at epoch {epoch}: the loss or its gradient is "
                        f"NaN or infinite (loss={loss:g}) and cannot be undone; the best "
                        "parameters seen are kept")
                break
            if optimizer.learning_rate < 1e-6 * initial_rate:
                stop = (f"training stopped at epoch {epoch}: the learning rate fell to "
                        f"{optimizer.learning_rate:g} after {result.n_rejected} undone "
                        "steps; the best parameters seen are kept")
                break
            losses.append(loss)
            recent = (recent + [loss])[-20:]
            grads, _ = clip_by_norm(_variable_grads(current, grads), clip_norm)
            previous = ({k: v.copy() for k, v in variables.items()}, optimizer.get_state())
            optimizer.step(variables, grads)
            current = _from_variables(current, variables)
            if guard and _raise_alpha(current, variables, stability_ratio):
                result.n_alpha_raised += 1

        if stop is not None:
            result.stop_reason = stop
            warnings.warn(stop, TrainingStoppedWarning, stacklevel=2)
            if verbose:
                print(stop)
            break
        epoch_loss = float(np.mean(losses))
        result.loss_curve.append(epoch_loss)
        if validate:
            score = _validation_score(current, X_val, Y_val, n_layers, dtype)
            result.validation_scores.append(score)
            improved = score < best - tol
        else:
            score = epoch_loss
            improved = score < best * (1 - tol)
        if improved or (np.isfinite(score) and not np.isfinite(best)):
            best, result.best_epoch, result.params, stale = score, epoch, current.copy(), 0
        else:
            stale += 1
        result.epoch_times.append(time.perf_counter() - start)
        result.n_epochs = epoch
        if verbose:
            shown = f"  validation NMSE {score:8.3f} dB" if validate else ""
            print(f"epoch {epoch:3d}  loss {epoch_loss:.6g}{shown}  "
                  f"{result.epoch_times[-1]:.2f} s{'  *' if result.best_epoch == epoch else ''}")
        if n_iter_no_change is not None and stale >= n_iter_no_change:
            result.stop_reason = "no improvement"
            break
    result.final_params = current
    return result


# ----------------------------------------------------------------------------------------
# internals


def _to_variables(params, learn):
    """The optimised variables: arrays as they are, alpha, lam1, lam2 as logarithms."""
    return {name: np.array(np.log(getattr(params, name))) if name in LOG_PARAMETERS
            else np.array(getattr(params, name), dtype=np.float64) for name in learn}


def _from_variables(params, variables):
    out = params.copy()
    for name, value in variables.items():
        setattr(out, name, float(np.exp(value)) if name in LOG_PARAMETERS else value.copy())
    return out


def _variable_grads(params, grads):
    """Gradients of the variables: ``dL/dlog(v) = v dL/dv`` for the logarithms."""
    return {name: np.array(getattr(params, name) * g) if name in LOG_PARAMETERS else g
            for name, g in grads.items()}


def _loss_and_grad(params, X, Y, n_layers, learn, dtype):
    # Overflow is detected (and undone) by the caller: no numpy warnings.
    with np.errstate(over="ignore", invalid="ignore"):
        return loss_and_grad(params, X, Y, n_layers, learn, dtype=dtype)


def _finite(grads):
    return all(np.isfinite(g).all() for g in grads.values())


def _exploded(loss, grads, recent, factor):
    if not (np.isfinite(loss) and _finite(grads)):
        return True
    return bool(recent) and loss > factor * float(np.median(recent))


def _stability_ratio(params):
    """The fraction of the Lipschitz bound that alpha must keep: at most 1.001."""
    bound = lipschitz_constant(params.A, params.D, params.lam2)
    return min(1.001, params.alpha / bound) if bound > 0 else 1.001


def _raise_alpha(params, variables, ratio):
    """Raise alpha (in place) to ``ratio`` times the Lipschitz bound if it is below."""
    floor = ratio * lipschitz_constant(params.A, params.D, params.lam2)
    if not params.alpha < floor:
        return False
    params.alpha = floor
    if "alpha" in variables:
        variables["alpha"] = np.array(np.log(floor))
    return True


def _validation_score(params, X, Y, n_layers, dtype):
    with np.errstate(over="ignore", invalid="ignore"):
        return float(nmse_db(Y, forward(params, X, n_layers, dtype=dtype)))
