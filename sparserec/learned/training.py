"""The one trainer of every network of the learned mode.

:func:`train` takes a network (:class:`~sparserec.learned.base.Network`), its initial
parameters and training pairs; end to end, or layer by layer as stages of the same loop.
Underneath, :func:`train_loop` takes the model as a loss-and-gradient callable and a few
hooks, and gives all models the same stopping rules (``max_epochs``, a time budget ``max_seconds``,
``n_iter_no_change``, a ``callback``), keeps the parameters with the best validation score
seen (the initial ones included), and guards the steps:

- a step after which the next batch's loss is NaN or explodes is undone, and the learning
  rate halved;
- if the loss cannot be made finite, training stops with a :class:`TrainingStoppedWarning`;
- a ``project`` hook may correct the parameters after every step.
"""

import dataclasses
import sys
import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from ..metrics import nmse_db
from .optimizers import clip_by_norm, make_optimizer

__all__ = ["TrainingResult", "TrainingStoppedWarning", "train", "train_loop"]


class TrainingStoppedWarning(RuntimeWarning):
    """Training stopped early because the loss could not be kept finite."""


class UnstableModelWarning(RuntimeWarning):
    """A fitted network gives outputs that are not finite, or far beyond every training
    target, on some validation samples."""


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
    learning_rate : float or None
        The optimiser's learning rate at the end (halved by every undone step).
    stop_reason : str
        Why training ended: 'max_epochs', 'max_seconds', 'no improvement', 'callback',
        'interrupted' (Ctrl-C), or the message of the warning when the loss could not be
        kept finite.
    stages : list of dict
        Layer-wise training only (:func:`train` with ``layerwise``): one entry per stage, with its
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
    learning_rate: float = None
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
    epoch = 0
    try:
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
            result.learning_rate = optimizer.learning_rate
            if verbose:
                shown = f"  {score_format.format(value)}" if score is not None else ""
                kept = "  *" if result.best_epoch == epoch else ""
                print(f"epoch {epoch:3d}  loss {epoch_loss:.6g}{shown}  "
                      f"lr {optimizer.learning_rate:.3g}  {result.epoch_times[-1]:.2f} s{kept}")
            if callback is not None and callback(result):
                result.stop_reason = "callback"
                break
            if n_iter_no_change is not None and stale >= n_iter_no_change:
                result.stop_reason = "no improvement"
                break
            if max_seconds is not None and elapsed >= max_seconds:
                result.stop_reason = "max_seconds"
                break
    except KeyboardInterrupt:  # keep what was learned: the best parameters so far
        result.stop_reason = "interrupted"
        warnings.warn(f"training interrupted (Ctrl-C) in epoch {epoch}: the best parameters "
                      f"so far (epoch {result.best_epoch}) are kept", TrainingStoppedWarning,
                      stacklevel=2)
    result.final_params = params
    return result


def train(network, params, X, Y, *, names=None, X_val=None, Y_val=None, score=None,
          layerwise=False, refinements=(0.5, 0.1), optimizer="adam", learning_rate=1e-3,
          batch_size=50, max_epochs=100, max_seconds=None, n_iter_no_change=None, tol=0.0,
          clip_norm=None, guard=True, explode_factor=10.0, dtype=None, random_state=None,
          clock=time.perf_counter, callback=None, on_depth=None, resample=None,
          verbose=False, progress=None):
    """Train any network of the learned mode by mini-batch gradient descent on the MSE.

    The one trainer: it takes the network (a :class:`~sparserec.learned.base.Network`),
    its initial parameters and the training pairs, and owns everything that loops or
    decides, for every network alike. The loop is :func:`train_loop`'s (shuffled
    batches, the optimiser, the guard that undoes a step into a NaN or exploding loss,
    clipping, the best parameters kept, the stopping rules); :attr:`Network.POSITIVE`
    parameters are optimised through their logarithm and :meth:`Network.project` corrects
    the parameters after every step.

    With ``layerwise``, training grows the network layer by layer, as Borgerding, Schniter
    and Rangan train LAMP: for every depth ``d = 1 .. K``, a stage trains the new layer
    ``d`` on the network of ``d`` layers (its own entries of the per-layer parameters, and
    the shared ones; the earlier layers' entries frozen), then one stage per factor of
    ``refinements`` trains all ``d`` layers together at ``learning_rate`` times that
    factor. Every stage has a fresh optimiser and starts from the previous stage's best
    parameters; each is a row of ``TrainingResult.stages``.

    Parameters
    ----------
    network : Network
        E.g. ``sparserec.learned.NETWORKS['lista']()``.
    params : Network.Params
        Initial parameters (not modified).
    X : ndarray of shape (n, M) or (n, T, M)
        Training inputs, of the network's ``input_ndim`` (trusted: validated by the
        caller).
    Y : ndarray of shape (n, N) or (n, T, N)
        Training targets.
    names : iterable of str, optional
        The parameters to train, among ``network.TRAINABLE``; default
        ``network.TRAINED``.
    X_val, Y_val : ndarrays, optional
        Validation pairs: the best parameters (of every stage) are those of the best
        validation NMSE; without them, of the mean training loss.
    score : callable, optional
        ``score(params) -> float``, lower is better: replaces the validation NMSE (e.g.
        minus a validation PSNR). Not counted in the training time.
    layerwise : bool, default=False
        Grow the network layer by layer (needs per-layer parameters among ``names``).
    refinements : sequence of float, default=(0.5, 0.1)
        Layer-wise only: the learning-rate factors of the stages that refine all layers.
    optimizer : {'adam', 'rmsprop'}, default='adam'
        A new one for every stage.
    learning_rate : float, default=1e-3
    batch_size : int, default=50
    max_epochs : int, default=100
        Per stage.
    max_seconds : float, optional
        Per stage: end it after the epoch during which its training time (steps only, on
        ``clock``) reached this budget.
    n_iter_no_change : int, optional
        Per stage: end it after this many epochs without an improvement of more than
        ``tol`` (dB of validation NMSE, or relative training loss). None: no such stop.
    tol : float, default=0.0
    clip_norm : float, optional
        Clip the joint gradient norm of the optimised variables to this value.
    guard : bool, default=True
        Undo a step after which the loss is NaN or explodes, and halve the learning rate.
    explode_factor : float, default=10.0
        A batch loss above this factor times the median of the recent ones counts as an
        explosion (``np.inf``: only NaN and infinite losses do).
    dtype : {float32, float64}, optional
        Of the network's computations; default that of ``X``.
    random_state : int or None
        Seed of the mini-batch order: the same seed gives the same result.
    clock : callable, default=time.perf_counter
        The clock of ``max_seconds`` (``time.process_time``: this process's CPU time).
    callback : callable, optional
        ``callback(result)`` after every epoch, with the :class:`TrainingResult` so far
        (``final_params`` the current parameters); a true value ends the stage.
    on_depth : callable, optional
        Layer-wise: ``on_depth(params, depth)`` once a depth is trained.
    resample : callable, optional
        ``resample(rng) -> (X, Y)``: new training pairs, of the shapes of ``X`` and ``Y``,
        drawn after every epoch with the NumPy generator ``rng`` (seeded by
        ``random_state``), so that no pair is seen twice. This is training on fresh data
        from a known model of the signals, as Borgerding, Schniter and Rangan and Chen et
        al. train their networks: a network with many parameters cannot overfit then.
    verbose : bool, default=False
        Print one line per epoch: loss, validation score, time.
    progress : bool, optional
        Show a progress line on standard error, rewritten in place; default: when it is a
        terminal and not ``verbose``.

    Returns
    -------
    TrainingResult
        A Ctrl-C ends training early with the best parameters so far (``stop_reason``
        'interrupted', and a :class:`TrainingStoppedWarning` that says so).
    """
    names = network.check_names(names)
    params = network.setup(params, names)
    start = params.copy()
    K = network.n_layers(params)
    stages = _stages(network, params, names, layerwise, refinements, K)
    has_val = X_val is not None and len(X_val) > 0
    score_format = "score {:8.3f}" if score is not None or not has_val \
        else "validation NMSE {:8.3f} dB"
    show = _Progress(progress, verbose, max_epochs, len(stages))
    total = TrainingResult(params=params.copy(), final_params=params.copy())
    rng = np.random.default_rng(random_state)
    data = [X, Y]  # the training pairs of the current epoch
    if resample is not None:
        callback = _chain(_resampling(resample, data, random_state), callback)

    for index, (depth, trained, factor, masks) in enumerate(stages):
        def loss_and_grad(current, batch, depth=depth, masks=masks):
            X, Y = data
            loss, grads = network.loss_and_grad(current, X[batch], Y[batch], depth=depth,
                                                names=names, dtype=dtype)
            for name, mask in masks.items():
                grads[name] = grads[name] * mask
            for name in set(network.POSITIVE) & set(grads):  # d/d log v = v d/dv
                grads[name] = grads[name] * getattr(current, name)
            return loss, grads

        def stage_score(current, depth=depth):
            if score is not None:
                return score(current)
            return float(nmse_db(Y_val, network.forward(current, X_val, depth=depth,
                                                        dtype=dtype)))

        if len(stages) > 1 and verbose:
            print(f"depth {depth}: {trained}, learning rate {learning_rate * factor:g}")
        show.stage = (index, depth, trained)
        began = time.perf_counter()
        result = train_loop(
            params, _encode(network, params, names), loss_and_grad, len(X),
            decode=lambda current, variables: _decode(network, current, variables),
            project=lambda current, variables: _project(network, current, variables, start),
            score=stage_score if score is not None or has_val else None,
            optimizer=optimizer, learning_rate=learning_rate * factor, batch_size=batch_size,
            max_epochs=max_epochs, max_seconds=max_seconds, clock=clock,
            n_iter_no_change=n_iter_no_change, tol=tol, clip_norm=clip_norm, guard=guard,
            explode_factor=explode_factor,
            random_state=random_state if len(stages) == 1 else int(rng.integers(2**31)),
            callback=_chain(show.epoch, callback), verbose=verbose, score_format=score_format)
        params = result.params
        _append(total, result)
        if layerwise:
            scores = result.validation_scores or result.loss_curve
            total.stages.append(dict(depth=depth, trained=trained,
                                     learning_rate=learning_rate * factor,
                                     n_epochs=result.n_epochs,
                                     best_score=float(min(scores, default=np.nan)),
                                     seconds=time.perf_counter() - began))
        if result.stop_reason == "interrupted" or result.stop_reason.startswith("training "):
            break  # (Ctrl-C, or the loss stayed NaN)
        last_of_depth = index + 1 == len(stages) or stages[index + 1][0] != depth
        if layerwise and on_depth is not None and last_of_depth:
            on_depth(params, depth)
    show.close()
    total.params = params
    if not layerwise:
        total.final_params = result.final_params
    else:
        total.final_params = params
    return total


def _stages(network, params, names, layerwise, refinements, K):
    """``(depth, what is trained, learning-rate factor, gradient masks)`` of every stage."""
    if not layerwise:
        return [(None, "all", 1.0, {})]
    untied = [name for name in network.LAYERED if name in names
              and np.shape(getattr(params, name))[0] == K]
    if not untied:
        raise ValueError(f"layer-wise training of {network.name} needs a per-layer parameter "
                         f"among {', '.join(names)}")
    stages = []
    for depth in range(1, K + 1):
        for what, factor in [("new layer", 1.0)] + [("all layers", f) for f in refinements]:
            masks = {name: _layer_mask(np.shape(getattr(params, name)), depth,
                                       what == "new layer") for name in untied}
            stages.append((depth, what, factor, masks))
    return stages


def _encode(network, params, names):
    """The optimised variables: float64 copies, the logarithms of the positive ones."""
    return {name: np.array(np.log(getattr(params, name)) if name in network.POSITIVE
                           else getattr(params, name), np.float64)
            for name in names}


def _decode(network, params, variables):
    # The parameters share the variables' arrays (the loop copies what it keeps): a step
    # then costs no copy of matrices of a million entries.
    values = {}
    for name, value in variables.items():
        if name in network.POSITIVE:
            value = np.exp(value)
        values[name] = float(value) if np.ndim(getattr(params, name)) == 0 and not \
            isinstance(getattr(params, name), np.ndarray) else value
    return dataclasses.replace(params, **values)


def _project(network, params, variables, start):
    """The network's correction after a step, carried back into the variables of the
    fields it gave new values."""
    before = {name: getattr(params, name) for name in variables}
    if not network.project(params, start):
        return False
    changed = [name for name in variables if getattr(params, name) is not before[name]]
    variables.update(_encode(network, params, changed))
    return True


def _resampling(resample, data, random_state):
    """The callback that replaces the training pairs ``data`` with ``resample``'s."""
    rng = np.random.default_rng(random_state)
    shapes = [np.shape(array) for array in data]

    def draw(result):
        pairs = tuple(resample(rng))
        if [np.shape(array) for array in pairs] != shapes:
            raise ValueError(f"resample must return X and Y of shapes {shapes[0]} and "
                             f"{shapes[1]}, got {[np.shape(array) for array in pairs]}")
        data[:] = pairs

    return draw


def _chain(first, callback):
    """``first(result)``, then ``callback(result)``'s answer."""
    def both(result):
        first(result)
        return callback is not None and callback(result)
    return both


def _append(total, result):
    """Add a stage's history to the whole training's."""
    total.best_epoch = total.n_epochs + result.best_epoch
    offset = total.train_seconds[-1] if total.train_seconds else 0.0
    total.train_seconds.extend(offset + t for t in result.train_seconds)
    for name in ("loss_curve", "validation_scores", "epoch_times"):
        getattr(total, name).extend(getattr(result, name))
    if total.initial_validation_score is None:
        total.initial_validation_score = result.initial_validation_score
    total.n_epochs += result.n_epochs
    total.n_rejected += result.n_rejected
    total.n_projected += result.n_projected
    total.stop_reason, total.learning_rate = result.stop_reason, result.learning_rate


class _Progress:
    """One line on standard error, rewritten after every epoch (a terminal only)."""

    def __init__(self, enabled, verbose, max_epochs, n_stages):
        self.enabled = (sys.stderr.isatty() and not verbose) if enabled is None else enabled
        self.max_epochs, self.n_stages, self.stage = max_epochs, n_stages, (0, None, "all")
        self.shown = False

    def epoch(self, result):
        if not self.enabled:
            return
        index, depth, what = self.stage
        done = int(20 * result.n_epochs / self.max_epochs)
        where = f"depth {depth} ({what}), stage {index + 1}/{self.n_stages}, " \
            if depth is not None else ""
        score = (f"  validation {result.validation_scores[-1]:.3f}"
                 if result.validation_scores else "")
        sys.stderr.write(f"\r{where}epoch {result.n_epochs}/{self.max_epochs} "
                         f"[{'#' * done}{'.' * (20 - done)}]  loss {result.loss_curve[-1]:.4g}"
                         f"{score}  lr {result.learning_rate:.3g}  best epoch "
                         f"{result.best_epoch}\x1b[K")
        sys.stderr.flush()
        self.shown = True

    def close(self):
        if self.shown:
            sys.stderr.write("\n")
            sys.stderr.flush()


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


def _layer_mask(shape, depth, new_only):
    """1 on the entries of layer ``depth`` (``new_only``) or of layers ``1..depth``."""
    mask = np.zeros(shape)
    if new_only:
        mask[depth - 1] = 1.0
    else:
        mask[:depth] = 1.0
    return mask
