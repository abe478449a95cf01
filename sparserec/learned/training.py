"""One guarded mini-batch training loop for every network of the package.

:func:`train_loop` takes the model as a loss-and-gradient callable and a few hooks, and
gives all models the same stopping rules (``max_epochs``, a time budget ``max_seconds``,
``n_iter_no_change``, a ``callback``), keeps the parameters with the best validation score
seen (the initial ones included), and guards the steps:

- a step after which the next batch's loss is NaN or explodes is undone, and the learning
  rate halved;
- if the loss cannot be made finite, training stops with a :class:`TrainingStoppedWarning`;
- a ``project`` hook may correct the parameters after every step.
"""

import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from ..metrics import nmse_db
from .optimizers import clip_by_norm, make_optimizer

__all__ = ["TrainingResult", "TrainingStoppedWarning", "train_loop", "train_layerwise",
           "validation_score"]


class TrainingStoppedWarning(RuntimeWarning):
    """Training stopped early because the loss could not be kept finite."""


@dataclass
class TrainingResult:
    """What :func:`train_loop` returns, and so the ``train`` function of every model.

    Attributes
    ----------
    params : object
        The model's parameters with the best validation score (the initial ones
        included), e.g. a :class:`~sparserec.SISTAParams`.
    final_params : object
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
        raised alpha to the stability bound.
    stop_reason : str
        Why training ended: 'max_epochs', 'max_seconds', 'no improvement', 'callback', or
        the message of the warning when the loss could not be kept finite.
    stages : list of dict
        Layer-wise training only (:func:`train_layerwise`): one entry per stage, with its
        ``depth``, what it trained (``'new layer'`` or ``'all layers'``), its
        ``learning_rate``, ``n_epochs``, ``best_score`` and ``seconds``.
    """

    params: object
    final_params: object
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
    stages: list = field(default_factory=list)


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
        An object needs ``step(variables, grads)``, ``undo(variables)`` (of the last
        step) and a ``learning_rate`` attribute; it is modified.
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
        Undo a step after which the next batch's loss is NaN or explodes (the optimiser's
        state too) and halve the learning rate. Without it, training stops at the
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
    undoable = False  # whether the last step can still be undone
    stale, elapsed = 0, 0.0
    for epoch in range(1, max_epochs + 1):
        wall, start = time.perf_counter(), clock()
        order = rng.permutation(n_samples)
        losses = []
        stop = None
        for first in range(0, n_samples, batch_size):
            batch = order[first:first + batch_size]
            loss, grads = _quiet(loss_and_grad, params, batch)
            finite = np.isfinite(loss) and _finite(grads)
            if guard and undoable and _exploded(loss, finite, recent, explode_factor):
                # The last step made the loss NaN or explode: undo it, with a smaller step.
                optimizer.undo(variables)
                optimizer.learning_rate *= 0.5
                result.n_rejected += 1
                params = _quiet(decode, params, variables)
                undoable = False
                loss, grads = _quiet(loss_and_grad, params, batch)
                finite = np.isfinite(loss) and _finite(grads)
            if not finite:
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
            if clip_norm is not None:  # (the norm of a million gradients costs)
                grads, _ = clip_by_norm(grads, clip_norm)
            optimizer.step(variables, grads)
            undoable = True
            params = _quiet(decode, params, variables)
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


def train_layerwise(params, variables, loss_and_grad, n_samples, *, n_layers, layered,
                    decode, encode, score=None, refinements=(0.5, 0.1), learning_rate=1e-3,
                    optimizer="adam", max_epochs=100, n_iter_no_change=5, on_depth=None,
                    verbose=False, **options):
    """Train an unfolded network layer by layer, as Borgerding, Schniter and Rangan do.

    For every depth ``d = 1 .. n_layers``, one stage trains the new layer ``d``, on the
    network of ``d`` layers: its own parameters and those shared by all layers, the earlier
    layers' own parameters frozen; then one stage per factor of ``refinements`` trains all
    parameters of the ``d`` layers together at ``learning_rate`` times that factor. Every
    stage is a :func:`train_loop` with a fresh optimiser (so frozen entries, whose gradients
    are zeroed, never move) that keeps its best parameters, and starts from the previous
    stage's best.

    Parameters
    ----------
    params, variables, n_samples, decode :
        As in :func:`train_loop`.
    encode : callable
        ``encode(params) -> variables``: the inverse of ``decode``, to start every stage
        from the previous stage's best parameters.
    loss_and_grad : callable
        ``loss_and_grad(params, batch, depth) -> (loss, grads)``: as in
        :func:`train_loop`, for the network of the first ``depth`` layers.
    n_layers : int
        The depth of the trained network.
    layered : collection of str
        The variables with one entry per layer along their first axis (e.g. per-layer
        thresholds). The others are shared by all layers, and trained in every stage.
    score : callable, optional
        ``score(params, depth)``, lower is better; None: the training loss.
    refinements : sequence of float, default=(0.5, 0.1)
        The learning-rate factors of the stages that train all layers (empty: none).
    learning_rate : float, default=1e-3
    optimizer : {'adam', 'rmsprop'}, default='adam'
        A new one for every stage.
    max_epochs : int, default=100
        Per stage.
    n_iter_no_change : int or None, default=5
        Per stage: ends it after this many epochs without improvement.
    on_depth : callable, optional
        ``on_depth(params, depth)`` when the stages of a depth are done, with their best
        parameters: e.g. to measure the network of every depth on test data.
    verbose : bool, default=False
    **options
        Passed to every :func:`train_loop` (``batch_size``, ``random_state``, ...).

    Returns
    -------
    TrainingResult
        The last stage's best parameters; the curves, times and counts of all stages one
        after the other, and ``stages``. ``best_epoch`` counts the epochs of all stages.
    """
    total = TrainingResult(params=params.copy(), final_params=params.copy())
    rng = np.random.default_rng(options.pop("random_state", None))
    shared = [name for name in variables if name not in layered]
    stages = [(depth, what, factor) for depth in range(1, n_layers + 1)
              for what, factor in [("new layer", 1.0)]
              + [("all layers", factor) for factor in refinements]]
    for index, (depth, what, factor) in enumerate(stages):
        masks = {name: _layer_mask(variables[name], depth, what == "new layer")
                 for name in layered}
        masks.update({name: None for name in shared})

        def stage_loss_and_grad(current, batch, depth=depth, masks=masks):
            loss, grads = loss_and_grad(current, batch, depth)
            return loss, {name: grads[name] if mask is None else grads[name] * mask
                          for name, mask in masks.items() if name in grads}

        stage_score = None if score is None else (
            lambda current, depth=depth: score(current, depth))
        if verbose:
            print(f"depth {depth}: {what}, learning rate {learning_rate * factor:g}")
        start = time.perf_counter()
        result = train_loop(params, variables, stage_loss_and_grad, n_samples, decode=decode,
                            score=stage_score, optimizer=optimizer,
                            learning_rate=learning_rate * factor, max_epochs=max_epochs,
                            n_iter_no_change=n_iter_no_change,
                            random_state=int(rng.integers(2**31)), verbose=verbose, **options)
        params, variables = result.params, encode(result.params)
        scores = result.validation_scores or result.loss_curve
        total.stages.append(dict(depth=depth, trained=what,
                                 learning_rate=learning_rate * factor,
                                 n_epochs=result.n_epochs,
                                 best_score=float(min(scores, default=np.nan)),
                                 seconds=time.perf_counter() - start))
        total.best_epoch = total.n_epochs + result.best_epoch
        offset = total.train_seconds[-1] if total.train_seconds else 0.0
        total.train_seconds.extend(offset + t for t in result.train_seconds)
        for name in ("loss_curve", "validation_scores", "epoch_times"):
            getattr(total, name).extend(getattr(result, name))
        total.n_epochs += result.n_epochs
        total.n_rejected += result.n_rejected
        total.n_projected += result.n_projected
        total.stop_reason = result.stop_reason
        if result.stop_reason.startswith("training stopped"):  # the loss stayed NaN
            break
        last_of_depth = index + 1 == len(stages) or stages[index + 1][0] != depth
        if on_depth is not None and last_of_depth:
            on_depth(params, depth)
    total.params, total.final_params = params, params
    return total


def validation_score(score, predict, X_val, Y_val):
    """The ``score`` of :func:`train_loop` and how ``verbose`` prints it: ``score`` itself
    if given, else the NMSE in dB of ``predict(params, X_val)`` against ``Y_val`` (None
    without validation data)."""
    if score is not None or X_val is None or len(X_val) == 0:
        return score, "score {:8.3f}"

    def nmse(params):
        return float(nmse_db(Y_val, predict(params, X_val)))
    return nmse, "validation NMSE {:8.3f} dB"


# ----------------------------------------------------------------------------------------
# internals


def _quiet(function, *args):
    # Overflow is detected (and undone) by the loop: no numpy warnings.
    with np.errstate(over="ignore", invalid="ignore"):
        return function(*args)


def _finite(grads):
    return all(np.isfinite(g).all() for g in grads.values())


def _exploded(loss, finite, recent, factor):
    if not finite:
        return True
    return bool(recent) and loss > factor * float(np.median(recent))


def _layer_mask(variable, depth, new_only):
    """1 on the entries of layer ``depth`` (``new_only``) or of layers ``1..depth``."""
    mask = np.zeros(variable.shape)
    if new_only:
        mask[depth - 1] = 1.0
    else:
        mask[:depth] = 1.0
    return mask
