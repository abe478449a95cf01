"""Training of the unfolded one-shot networks: LISTA and LAMP.

Both map one measurement vector to one code in K layers (:mod:`~sparserec.learned.lista`,
:mod:`~sparserec.learned.lamp`), and both are trained the same way: on the mean squared
error, either end to end, or layer by layer as Borgerding, Schniter and Rangan train LAMP
(:func:`sparserec.learned.train_layerwise`): the new layer alone, the earlier ones frozen,
then all layers together at smaller learning rates, for every depth in turn.
"""

import dataclasses
import time

import numpy as np

from ..metrics import nmse_db
from . import lamp, lista
from .training import train_layerwise, train_loop, validation_score

__all__ = ["train"]

#: The module of every kind of parameters, and the parameters it trains.
_MODULES = {lista.LISTAParams: lista, lamp.LAMPParams: lamp}
_TRAINED = {lista.LISTAParams: ("B", "S", "theta"), lamp.LAMPParams: ("B", "theta")}


def _layered(params):
    """The trained parameters with one entry per layer (the others are shared)."""
    untied = isinstance(params, lamp.LAMPParams) and not params.tied
    return {"theta", "B"} if untied else {"theta"}


def train(params, X, Y, *, layerwise=True, refinements=(0.5, 0.1), optimizer="adam",
          learning_rate=1e-3, batch_size=100, max_epochs=50, n_iter_no_change=5, tol=0.0,
          max_seconds=None, X_val=None, Y_val=None, score=None, clip_norm=None, dtype=None,
          random_state=None, clock=time.perf_counter, callback=None, on_depth=None,
          verbose=False):
    """Train a LISTA or LAMP network by mini-batch gradient descent on the MSE.

    Parameters
    ----------
    params : LISTAParams or LAMPParams
        Initial parameters (not modified). LAMP's measurement matrix ``A`` is not trained.
    X : ndarray of shape (n_samples, M)
        Training measurements.
    Y : ndarray of shape (n_samples, N)
        Training codes.
    layerwise : bool, default=True
        Train layer by layer (:func:`~sparserec.learned.train_layerwise`); False: all
        layers together from the start, one :func:`~sparserec.learned.train_loop`.
    refinements : sequence of float, default=(0.5, 0.1)
        Layer-wise only: the learning-rate factors of the stages that refine all layers
        after each new one.
    optimizer : {'adam', 'rmsprop'}, default='adam'
    learning_rate : float, default=1e-3
    batch_size : int, default=100
    max_epochs : int, default=50
        Per stage when ``layerwise``.
    n_iter_no_change : int or None, default=5
        End a stage (or training) after this many epochs without an improvement of more
        than ``tol``.
    tol : float, default=0.0
        In dB of validation NMSE (relative, of the training loss, without validation data).
    max_seconds : float, optional
        Per stage when ``layerwise``: the training time after which it ends.
    X_val, Y_val : ndarrays, optional
        Validation data: the best parameters of every stage are chosen on its NMSE, at the
        stage's depth; without it, on the training loss.
    score : callable, optional
        ``score(params)``, lower is better, of the whole network; replaces the validation
        NMSE (at every depth when ``layerwise``, the network's first layers are scored
        through ``score(params)`` with the later layers' parameters unchanged: prefer
        validation data there).
    clip_norm : float, optional
    dtype : {float32, float64}, optional
        Of the network's computations; default that of ``X``.
    random_state : int or None
        Seed of the mini-batch order.
    clock : callable, default=time.perf_counter
        The clock of ``max_seconds`` (``time.process_time``: this process's CPU time).
    callback : callable, optional
        ``callback(result)`` after every epoch (of every stage); a true value ends the stage.
    on_depth : callable, optional
        Layer-wise only: ``on_depth(params, depth)`` when a depth is trained.
    verbose : bool, default=False

    Returns
    -------
    sparserec.learned.TrainingResult
        With ``stages`` when ``layerwise``: the best validation score at every depth.
    """
    module = _MODULES[type(params)]
    names = _TRAINED[type(params)]
    n_layers = params.n_layers

    def encode(current):
        return {name: np.array(getattr(current, name), dtype=np.float64) for name in names}

    def decode(current, variables):
        # The parameters share the variables' arrays (the loop copies what it keeps): a
        # step then costs no copy of matrices of a million entries.
        return dataclasses.replace(current, **{name: variables[name] for name in names})

    def predict(current, X, depth=None):
        return module.forward(current, X, n_layers=depth, dtype=dtype)

    loop_options = dict(optimizer=optimizer, batch_size=batch_size, clip_norm=clip_norm, tol=tol,
                        max_seconds=max_seconds, clock=clock, callback=callback,
                        random_state=random_state, verbose=verbose)
    if not layerwise:
        score, score_format = validation_score(score, predict, X_val, Y_val)

        def loss_and_grad(current, batch):
            return module.loss_and_grad(current, X[batch], Y[batch], dtype=dtype)

        return train_loop(params, encode(params), loss_and_grad, len(X), decode=decode,
                          score=score, learning_rate=learning_rate, max_epochs=max_epochs,
                          n_iter_no_change=n_iter_no_change,
                          score_format=score_format, **loop_options)

    if score is not None:
        depth_score = lambda current, depth: score(current)  # noqa: E731
    elif X_val is not None and len(X_val):
        def depth_score(current, depth):
            return float(nmse_db(Y_val, predict(current, X_val, depth)))
    else:
        depth_score = None

    def depth_loss_and_grad(current, batch, depth):
        return module.loss_and_grad(current, X[batch], Y[batch], n_layers=depth, dtype=dtype)

    return train_layerwise(params, encode(params), depth_loss_and_grad, len(X),
                           n_layers=n_layers, layered=_layered(params), decode=decode,
                           encode=encode, score=depth_score, refinements=refinements,
                           learning_rate=learning_rate, max_epochs=max_epochs,
                           n_iter_no_change=n_iter_no_change, on_depth=on_depth,
                           score_format="validation NMSE {:8.3f} dB", **loop_options)

