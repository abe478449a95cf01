"""Training: optimisers, gradient clipping and one guarded training loop for any model.

:func:`train_loop` is the mini-batch training loop of every network of the package: it
takes the model as a loss-and-gradient callable and a few hooks, and gives all models the
same stopping rules (``max_epochs``, a time budget ``max_seconds``, ``n_iter_no_change``, a
``callback``), keeps the parameters with the best validation score seen (the initial ones
included), and guards the steps:

- a step after which the next batch's loss is NaN or explodes is undone, and the learning
  rate halved;
- if the loss cannot be made finite, training stops with a :class:`TrainingStoppedWarning`;
- a ``project`` hook may correct the parameters after every step.

:func:`train` trains the interpretable parameters theta of a :class:`SISTAParams` with it,
on the mean squared error, with the gradients of :func:`sparserec.network.loss_and_grad`.
alpha, lam1 and lam2 are optimised through their logarithms, so they stay positive, and
after every step alpha is kept above the stability bound of the current D, A and lam2 (the
Lipschitz constant, or the fraction of it that the initial alpha had, whichever is smaller:
the paper's alpha = 1 bounds ``||A D||^2`` but not the lam2 term).
"""

import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from .metrics import nmse_db
from .network import LEARNABLE, SISTAParams, forward, loss_and_grad
from .solvers import lipschitz_constant

__all__ = ["RMSprop", "Adam", "make_optimizer", "clip_by_norm", "TrainingResult",
           "TrainingStoppedWarning", "train_loop", "train"]

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
    """What :func:`train` and :func:`train_loop` return.

    Attributes
    ----------
    params : SISTAParams or the model's parameters
        The parameters with the best validation score (the initial ones included).
    final_params : SISTAParams or the model's parameters
        The parameters after the last step.
    loss_curve : list of float
        Mean training loss (MSE) of every epoch.
    validation_scores : list of float
        Validation score after every epoch, lower is better: NMSE in dB unless a ``score``
        was given; empty without validation.
    initial_validation_score : float or None
        That of the initial parameters.
    epoch_times : list of float
        Wall-clock seconds of every epoch (training steps and validation).
    train_seconds : list of float
        Training time (steps only, on the ``clock``) from the start to the end of every
        epoch: what ``max_seconds`` limits.
    best_epoch : int
        The epoch whose parameters were kept (0: the initial ones).
    n_epochs : int
        Epochs run.
    n_rejected : int
        Steps undone because the loss became NaN or exploded.
    n_projected : int
        Steps after which the ``project`` hook changed the parameters; for the SISTA-RNN,
        raised alpha to the stability bound (also :attr:`n_alpha_raised`).
    stop_reason : str
        Why training ended: 'max_epochs', 'max_seconds', 'no improvement', 'callback', or
        the message of the warning when the loss could not be kept finite.
    """

    params: SISTAParams
    final_params: SISTAParams
    loss_curve: list = field(default_factory=list)
    validation_scores: list = field(default_factory=list)
    initial_validation_score: float = None
    epoch_times: list = field(default_factory=list)
    train_seconds: list = field(default_factory=list)
    best_epoch: int = 0
    n_epochs: int = 0
    n_rejected: int = 0
    n_projected: int = 0
    stop_reason: str = "max_epochs"

    @property
    def n_alpha_raised(self):
        """Steps after which alpha was raised to the stability bound (the SISTA-RNN's name
        of :attr:`n_projected`)."""
        return self.n_projected


def train_loop(params, variables, loss_and_grad, n_samples, *, decode, project=None,
               score=None, optimizer="rmsprop", learning_rate=1e-4, batch_size=50,
               max_epochs=100, max_seconds=None, clock=time.perf_counter,
               n_iter_no_change=None, tol=0.0, clip_norm=None, guard=True,
               explode_factor=10.0, random_state=None, callback=None, verbose=False,
               score_format="score {:8.3f}"):
    """Train any model by mini-batch gradient descent, with the guards of this module.

    Every epoch visits the ``n_samples`` training samples in a new random order, in
    batches of ``batch_size`` (the last one smaller). The model is known only through the
    callables: its parameters ``params`` are computed from the optimised ``variables``
    (e.g. logarithms of positive parameters) by ``decode``.

    Parameters
    ----------
    params : object with a ``copy()`` method
        The initial parameters, as ``loss_and_grad`` and ``score`` take them (not modified).
    variables : dict of str to ndarray
        The initial optimised variables, float64 (not modified).
    loss_and_grad : callable
        ``loss_and_grad(params, batch) -> (loss, grads)``: the mean loss on the training
        samples at the indices ``batch`` and its gradients in the variables, a dict with
        some or all of the keys of ``variables`` (the others are not optimised).
    n_samples : int
        The number of training samples.
    decode : callable
        ``decode(params, variables) -> params``: new parameters from the variables, after a
        step or when one is undone; ``params`` (the current ones) give what the variables do
        not hold.
    project : callable, optional
        ``project(params, variables) -> bool``, after every step: may correct both in place
        (e.g. clamp a parameter into its stable range) and says whether it did (counted in
        ``n_projected``).
    score : callable, optional
        ``score(params) -> float``, lower is better: the validation score that chooses the
        best parameters (compared with an absolute ``tol``). None: the mean training loss
        of the epoch (with a relative ``tol``).
    optimizer : {'rmsprop', 'adam'} or optimiser object, default='rmsprop'
        An object needs ``step(variables, grads)``, ``get_state()``, ``set_state(state)``
        and a ``learning_rate`` attribute; it is modified.
    learning_rate : float, default=1e-4
        Ignored when ``optimizer`` is an object.
    batch_size : int, default=50
    max_epochs : int, default=100
    max_seconds : float, optional
        Stop after the epoch during which the training time reached this budget: the time
        of the steps on ``clock``, without validation and ``callback``.
    clock : callable, default=time.perf_counter
        The clock of the training time; ``time.process_time`` counts the CPU time of this
        process only, which is fairer on a machine shared with other jobs.
    n_iter_no_change : int, optional
        Stop after this many epochs without an improvement of more than ``tol``. None: no
        such stop.
    tol : float, default=0.0
    clip_norm : float, optional
        Clip the joint gradient norm of the variables to this value.
    guard : bool, default=True
        Undo a step after which the next batch's loss is NaN or explodes, restore the
        optimiser's state and halve the learning rate. Without it, training stops at the
        first NaN loss.
    explode_factor : float, default=10.0
        A batch loss above this factor times the median of the recent accepted losses
        counts as an explosion; ``np.inf``: only NaN and infinite losses do.
    random_state : int or None
        Seed of the mini-batch order: the same seed gives the same result.
    callback : callable, optional
        ``callback(result)`` after every epoch, with the :class:`TrainingResult` so far
        (``final_params`` are the current parameters): for progress, logging, or to stop
        training by returning True.
    verbose : bool, default=False
        Print the loss, the score and the time of every epoch.
    score_format : str, default='score {:8.3f}'
        How ``verbose`` prints the score.

    Returns
    -------
    TrainingResult
    """
    if isinstance(optimizer, str):
        optimizer = make_optimizer(optimizer, learning_rate)
    initial_rate = optimizer.learning_rate
    rng = np.random.default_rng(random_state)
    params = params.copy()
    variables = {name: value.copy() for name, value in variables.items()}
    result = TrainingResult(params=params.copy(), final_params=params)
    best = np.inf
    if score is not None:
        best = result.initial_validation_score = _quiet(score, params)
        if verbose:
            print(f"epoch   0  {score_format.format(best)}  (initial parameters)")
    recent = []  # accepted batch losses, the reference for "explodes"
    previous = None  # variables and optimiser state before the last step
    stale, elapsed = 0, 0.0
    for epoch in range(1, max_epochs + 1):
        wall, start = time.perf_counter(), clock()
        order = rng.permutation(n_samples)
        losses = []
        stop = None
        for first in range(0, n_samples, batch_size):
            batch = order[first:first + batch_size]
            loss, grads = _quiet(loss_and_grad, params, batch)
            if guard and previous is not None and _exploded(loss, grads, recent,
                                                            explode_factor):
                # The last step made the loss NaN or explode: undo it, with a smaller step.
                variables, state = previous
                optimizer.set_state(state)
                optimizer.learning_rate *= 0.5
                result.n_rejected += 1
                params = decode(params, variables)
                previous = None
                loss, grads = _quiet(loss_and_grad, params, batch)
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
            grads, _ = clip_by_norm(grads, clip_norm)
            previous = ({k: v.copy() for k, v in variables.items()}, optimizer.get_state())
            optimizer.step(variables, grads)
            params = decode(params, variables)
            if project is not None and project(params, variables):
                result.n_projected += 1
        elapsed += clock() - start

        if stop is not None:
            result.stop_reason = stop
            # stacklevel 3: the caller of the model's train function
            warnings.warn(stop, TrainingStoppedWarning, stacklevel=3)
            if verbose:
                print(stop)
            break
        epoch_loss = float(np.mean(losses))
        result.loss_curve.append(epoch_loss)
        if score is not None:
            value = _quiet(score, params)
            result.validation_scores.append(value)
            improved = value < best - tol
        else:
            value = epoch_loss
            improved = value < best * (1 - tol)
        if improved or (np.isfinite(value) and not np.isfinite(best)):
            best, result.best_epoch, result.params, stale = value, epoch, params.copy(), 0
        else:
            stale += 1
        result.epoch_times.append(time.perf_counter() - wall)
        result.train_seconds.append(elapsed)
        result.n_epochs, result.final_params = epoch, params
        if verbose:
            shown = f"  {score_format.format(value)}" if score is not None else ""
            print(f"epoch {epoch:3d}  loss {epoch_loss:.6g}{shown}  "
                  f"{result.epoch_times[-1]:.2f} s{'  *' if result.best_epoch == epoch else ''}")
        if callback is not None and callback(result):
            result.stop_reason = "callback"
            break
        if n_iter_no_change is not None and stale >= n_iter_no_change:
            result.stop_reason = "no improvement"
            break
        if max_seconds is not None and elapsed >= max_seconds:
            result.stop_reason = "max_seconds"
            break
    result.final_params = params
    return result


def train(params, X, Y, *, n_layers=3, learn=("D", "F", "alpha", "lam1", "lam2"),
          optimizer="rmsprop", learning_rate=1e-4, batch_size=50, max_epochs=100,
          max_seconds=None, X_val=None, Y_val=None, score=None, n_iter_no_change=None,
          tol=0.0, clip_norm=None, dtype=None, random_state=None, guard=True,
          explode_factor=10.0, clock=time.perf_counter, callback=None, verbose=False):
    """Train a SISTA-RNN by mini-batch gradient descent on the mean squared error.

    The loop is :func:`train_loop`'s; this function gives it the SISTA-RNN's parameters,
    gradients and stability guard (see the module's docstring).

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
    max_seconds : float, optional
        Stop after the epoch during which the training time (on ``clock``, validation
        excluded) reached this budget.
    X_val, Y_val : ndarrays, optional
        Validation data; the best parameters are chosen on its NMSE. Without it, on the
        mean training loss of each epoch.
    score : callable, optional
        ``score(params)``, lower is better: chooses the best epoch instead of the
        validation NMSE (e.g. minus a validation PSNR). Not counted in the training time.
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
    clock : callable, default=time.perf_counter
        The clock of ``max_seconds`` and ``train_seconds``; ``time.process_time`` counts
        the CPU time of this process only.
    callback : callable, optional
        ``callback(result)`` after every epoch, with the :class:`TrainingResult` so far; a
        true return value stops training.
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
    score_format = "score {:8.3f}"
    if score is None and X_val is not None and len(X_val) > 0:
        def score(current):
            return float(nmse_db(Y_val, forward(current, X_val, n_layers, dtype=dtype)))
        score_format = "validation NMSE {:8.3f} dB"
    project = None
    if guard:
        ratio = _stability_ratio(params)

        def project(current, variables):
            return _raise_alpha(current, variables, ratio)

    def batch_loss_and_grad(current, batch):
        loss, grads = loss_and_grad(current, X[batch], Y[batch], n_layers, learn, dtype=dtype)
        return loss, _variable_grads(current, grads)

    return train_loop(params, _to_variables(params, learn), batch_loss_and_grad, len(X),
                      decode=_from_variables, project=project, score=score,
                      optimizer=optimizer, learning_rate=learning_rate,
                      batch_size=batch_size, max_epochs=max_epochs, max_seconds=max_seconds,
                      clock=clock, n_iter_no_change=n_iter_no_change, tol=tol,
                      clip_norm=clip_norm, guard=guard, explode_factor=explode_factor,
                      random_state=random_state, callback=callback, verbose=verbose,
                      score_format=score_format)


# ----------------------------------------------------------------------------------------
# internals


def _quiet(function, *args):
    # Overflow is detected (and undone) by the loop: no numpy warnings.
    with np.errstate(over="ignore", invalid="ignore"):
        return function(*args)


def _finite(grads):
    return all(np.isfinite(g).all() for g in grads.values())


def _exploded(loss, grads, recent, factor):
    if not (np.isfinite(loss) and _finite(grads)):
        return True
    return bool(recent) and loss > factor * float(np.median(recent))


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
