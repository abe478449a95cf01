"""The SISTA-RNN: SISTA unfolded into K layers per time step, its gradients and training.

The network of :mod:`sparserec.learned.network`, whose weights are functions of the
interpretable parameters theta = {D, F, alpha, lam1, lam2} (and optionally A, h0 and a
separate inverse dictionary Dinv), held in a :class:`SISTAParams` (the SISTA-RNN in
docs/theory.rst)::

    S = I - D^T (A^T A + lam2 I) D / alpha,   V = D^T A^T / alpha,   P = Dinv F D,
    W1 = S P + (lam2/alpha) P,   W = (lam2/alpha) P,   b = lam1 / alpha,

with ``Dinv = D^T`` (tied, the default) or a parameter of its own (the authors' code).

:func:`loss_and_grad` backpropagates the mean squared error to the weights
(:func:`sparserec.learned.network.loss_and_weight_grads`), then applies the chain rule once
per batch to theta. :func:`train` fits theta with the shared training loop
(:func:`sparserec.learned.training.train_loop`), whose guard undoes a step that makes the
loss NaN or explode. alpha, lam1 and lam2 are optimised through their logarithms (so they
stay positive) or as raw values (the authors' choice; then kept non-negative). Nothing
holds alpha at a stability bound: that fought the optimiser, because the bound grows with
the scale of D, which the loss barely constrains (D c with lam1 c and alpha c^2 computes
almost the same network). Instead, every atom (column) of a learned D keeps its initial
norm, as in dictionary learning, which removes that free scale.
"""

import time
from dataclasses import dataclass, fields
from types import MappingProxyType

import numpy as np

from .._threads import one_blas_thread
from ..solvers import sista_weights
from ..solvers._base import default_alpha
from . import _network_kernels
from .network import Weights, _dtype, _kernel_inputs, forward_weights, loss_and_weight_grads
from .training import train_loop, validation_score

__all__ = ["SISTAParams", "LEARNABLE", "PAPER_SETTINGS", "check_learn", "effective_weights",
           "forward", "loss_and_grad", "train"]

#: Names of the parameters that can be trained.
LEARNABLE = ("D", "Dinv", "F", "A", "alpha", "lam1", "lam2", "h0")

#: The settings of the SISTA-RNN's authors (Wisdom et al.'s published code), by name of
#: the argument of :meth:`SISTAParams.initial` and :func:`train`: every parameter trained,
#: a separate inverse dictionary, raw scalars, atoms free to grow, RMSprop at 1e-4 in
#: batches of 50, alpha = 1, no clipping. (Their initial D is the Daubechies-8 wavelet
#: matrix and F the identity.)
PAPER_SETTINGS = MappingProxyType(dict(
    alpha=1.0, lam1=0.5, lam2=1.0, learn=("D", "Dinv", "F", "A", "alpha", "lam1", "lam2", "h0"),
    log_scalars=False, keep_atom_norms=False, optimizer="rmsprop", learning_rate=1e-4,
    batch_size=50, clip_norm=None))

#: Parameters optimised through their logarithm, to stay positive.
LOG_PARAMETERS = ("alpha", "lam1", "lam2")


def check_learn(learn):
    """``learn`` as a tuple of names, all among :data:`LEARNABLE`."""
    learn = (learn,) if isinstance(learn, str) else tuple(learn)
    unknown = [name for name in learn if name not in LEARNABLE]
    if unknown:
        raise ValueError(f"learn contains {unknown}; choose among {', '.join(LEARNABLE)}")
    return learn


@dataclass
class SISTAParams:
    """The interpretable parameters theta of a SISTA-RNN.

    Attributes
    ----------
    D : ndarray of shape (N, N)
        Dictionary: the signal is ``y = D h``.
    F : ndarray of shape (N, N)
        Transition in the signal domain, ``y_t ~ F y_{t-1}``.
    A : ndarray of shape (M, N)
        Measurement matrix, ``x_t = A y_t``.
    alpha : float
        Inverse step size (positive).
    lam1 : float
        Weight of the l1 penalty (positive).
    lam2 : float
        Weight of the temporal term (positive).
    h0 : ndarray of shape (N,)
        Code before the first frame, shared by all sequences.
    Dinv : ndarray of shape (N, N) or None
        The inverse dictionary of the transition's ``P = Dinv F D``; None: tied to ``D^T``
        (exact for an orthonormal D).
    """

    D: np.ndarray
    F: np.ndarray
    A: np.ndarray
    alpha: float
    lam1: float
    lam2: float
    h0: np.ndarray
    Dinv: np.ndarray = None

    @classmethod
    def initial(cls, A, D=None, F=None, alpha=None, lam1=0.5, lam2=1.0, h0=None, Dinv=None):
        """Parameters of classical SISTA, the starting point of training.

        Parameters
        ----------
        A : array_like of shape (M, N)
            Measurement matrix.
        D, F : array_like of shape (N, N), optional
            Dictionary and transition (identity when omitted).
        alpha : float, optional
            Inverse step size; default 1.001 times the Lipschitz bound
            ``||D^T (A^T A + lam2 I) D||_2``, as :func:`sparserec.sista` chooses it.
        lam1, lam2 : float, default=0.5, 1.0
            Penalty weights (the paper's values).
        h0 : array_like of shape (N,), optional
            Code before the first frame (zeros when omitted).
        Dinv : array_like of shape (N, N), optional
            A separate inverse dictionary (None: tied to ``D^T``). :func:`train` unties it
            (from ``D^T``) when 'Dinv' is learned.

        Returns
        -------
        SISTAParams
            With float64 copies of every array.
        """
        A = np.array(A, dtype=np.float64)
        N = A.shape[1]
        eye = np.eye(N)
        D = eye.copy() if D is None else np.array(D, dtype=np.float64)
        F = eye.copy() if F is None else np.array(F, dtype=np.float64)
        if alpha is None:
            alpha = default_alpha(A, D, lam2)
        h0 = np.zeros(N) if h0 is None else np.array(h0, dtype=np.float64).reshape(N)
        Dinv = None if Dinv is None else np.array(Dinv, dtype=np.float64)
        return cls(D=D, F=F, A=A, alpha=float(alpha), lam1=float(lam1), lam2=float(lam2), h0=h0,
                   Dinv=Dinv)

    def copy(self):
        """A deep copy."""
        return SISTAParams(**{f.name: np.copy(v) if isinstance(v, np.ndarray) else v
                              for f in fields(self) for v in [getattr(self, f.name)]})


def effective_weights(params):
    """The weights S, V, W1, W, P and the threshold b of the network, in float64.

    Parameters
    ----------
    params : SISTAParams

    Returns
    -------
    Weights
    """
    # (numpy scalars: an alpha that underflowed to 0 gives infinite weights and a NaN
    # loss, which training undoes, rather than a ZeroDivisionError)
    alpha, lam2 = np.float64(params.alpha), params.lam2
    S, V, P = sista_weights(params.A, params.D, params.F, alpha, lam2, params.Dinv)
    W = (lam2 / alpha) * P
    return Weights(S=S, V=V, W1=S @ P + W, W=W, P=P, b=params.lam1 / alpha)


def forward(params, X, n_layers=3, *, dtype=None, return_codes=False):
    """Run the SISTA-RNN on a batch of sequences (inference: nothing stored).

    Parameters
    ----------
    params : SISTAParams
    X : ndarray of shape (B, T, M)
        Measurements (trusted: validated by the caller).
    n_layers : int, default=3
        K, the number of layers (SISTA iterations) per time step.
    dtype : {float32, float64}, optional
        Precision of the computation; default that of ``X`` (float64 unless float32).
    return_codes : bool, default=False
        Also return the codes ``h``.

    Returns
    -------
    y_hat : ndarray of shape (B, T, N)
        The reconstructed signals ``D h_t``.
    h : ndarray of shape (B, T, N)
        The codes, only when ``return_codes``.
    """
    with one_blas_thread():  # (see loss_and_grad)
        return forward_weights(effective_weights(params), params.D, params.h0, X, n_layers,
                               dtype=dtype, return_codes=return_codes)


def loss_and_grad(params, X, Y, n_layers=3, learn=("D", "F", "alpha", "lam1", "lam2"), *,
                  dtype=None):
    """The mean squared error of the SISTA-RNN on a batch, and its gradients.

    ``L = 1/(B T N) sum_{b,t} ||y_hat_{b,t} - y_{b,t}||^2``. The forward pass stores the
    pre-activations, the backward pass walks t = T..1 and k = K..1 accumulating the
    gradients of the effective weights, and the chain rule maps them to theta.

    Parameters
    ----------
    params : SISTAParams
    X : ndarray of shape (B, T, M)
        Measurements (trusted).
    Y : ndarray of shape (B, T, N)
        Target signals (trusted).
    n_layers : int, default=3
        K, the number of layers per time step.
    learn : iterable of str, default=('D', 'F', 'alpha', 'lam1', 'lam2')
        The parameters whose gradient is wanted, among :data:`LEARNABLE`.
    dtype : {float32, float64}, optional
        Precision of the forward and backward kernels; default that of ``X``. The chain
        rule is always done in float64.

    Returns
    -------
    loss : float
    grads : dict
        ``dL/dtheta`` for every name in ``learn``, with the shape of the parameter (floats
        for alpha, lam1, lam2: the gradient with respect to the value itself, not its
        logarithm).
    """
    learn = check_learn(learn)
    if "Dinv" in learn and params.Dinv is None:
        raise ValueError("learning Dinv needs a separate one in params (Dinv=D.T to start)")
    # All on one BLAS thread: OpenBLAS's threads would spin after the (N, N) products of
    # the chain rule and take the cores from the kernels' threads in the next call.
    with one_blas_thread():
        weights = effective_weights(params)
        loss, g = loss_and_weight_grads(weights, params.D, params.h0, X, Y, n_layers,
                                        dtype=dtype, output_grad="D" in learn)
        grads = _chain_rule(params, weights, learn, g["S"], g["V"], g["W1"], g["W"], g["b"],
                            g.get("D"), g["h0"])
    return loss, grads


def train(params, X, Y, *, n_layers=3, learn=("D", "F", "alpha", "lam1", "lam2"),
          optimizer="rmsprop", learning_rate=1e-4, batch_size=50, max_epochs=100,
          max_seconds=None, X_val=None, Y_val=None, score=None, n_iter_no_change=None,
          tol=0.0, clip_norm=None, dtype=None, random_state=None, guard=True,
          keep_atom_norms=True, log_scalars=True, explode_factor=10.0,
          clock=time.perf_counter, callback=None, verbose=False):
    """Train a SISTA-RNN by mini-batch gradient descent on the mean squared error.

    The loop is :func:`train_loop`'s; this function gives it the SISTA-RNN's parameters,
    gradients and constraints (see the module's docstring). :data:`PAPER_SETTINGS` holds
    the authors' choices of these arguments.

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
        The parameters to train, among ``sparserec.learned.sista_rnn.LEARNABLE``. 'Dinv'
        unties the inverse dictionary (starting from ``D^T`` if ``params`` has none).
    optimizer : {'rmsprop', 'adam'} or optimiser object, default='rmsprop'
        An object needs ``step(variables, grads)``, ``undo(variables)`` (of the last
        step) and a ``learning_rate`` attribute.
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
        Undo steps that make the loss NaN or explode, halving the learning rate
        (:func:`train_loop`).
    keep_atom_norms : bool, default=True
        Rescale every atom (column) of a learned D to its initial norm after each step.
    log_scalars : bool, default=True
        Optimise alpha, lam1 and lam2 through their logarithms; False: as raw values (the
        authors' choice), clipped at 0 (alpha at 1e-6) after each step.
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
    learn = check_learn(learn)
    if "Dinv" in learn and params.Dinv is None:
        params = params.copy()
        params.Dinv = params.D.T.copy()
    score, score_format = validation_score(
        score, lambda current, X: forward(current, X, n_layers, dtype=dtype), X_val, Y_val)
    atom_norms = np.linalg.norm(params.D, axis=0)

    def project(current, variables):
        rescaled = keep_atom_norms and "D" in variables and _rescale_atoms(
            current, variables, atom_norms)
        clipped = not log_scalars and _clip_scalars(current, variables)
        return rescaled or clipped

    def batch_loss_and_grad(current, batch):
        loss, grads = loss_and_grad(current, X[batch], Y[batch], n_layers, learn, dtype=dtype)
        return loss, _variable_grads(current, grads, log_scalars)

    def decode(current, variables):
        return _from_variables(current, variables, log_scalars)

    return train_loop(params, _to_variables(params, learn, log_scalars), batch_loss_and_grad,
                      len(X), decode=decode, project=project, score=score,
                      optimizer=optimizer, learning_rate=learning_rate,
                      batch_size=batch_size, max_epochs=max_epochs, max_seconds=max_seconds,
                      clock=clock, n_iter_no_change=n_iter_no_change, tol=tol,
                      clip_norm=clip_norm, guard=guard, explode_factor=explode_factor,
                      random_state=random_state, callback=callback, verbose=verbose,
                      score_format=score_format)


# ----------------------------------------------------------------------------------------
# internals


def _preactivations(params, X, n_layers, dtype=None):
    """The pre-activations Z, shape (T, K, B, N), and the threshold b (for tests of kinks)."""
    dtype = _dtype(X, dtype)
    Vx, WT, ST, h0, thresh = _kernel_inputs(effective_weights(params), params.h0, X,
                                             dtype)
    T, B, N = Vx.shape
    Z = np.empty((T, n_layers, B, N), dtype)
    H = np.empty_like(Z)
    _network_kernels.forward_kernel(Vx, WT, ST, h0, thresh, n_layers, True, Z, H,
                                    np.empty((T, B, N), dtype))
    return Z, float(thresh)


def _chain_rule(params, weights, learn, gS, gV, gW1, gW, gb, gD_out, gh0):
    """Gradients of theta from those of the effective weights (the chain rule).

    With ``G = A^T A + lam2 I``, ``Q = D^T G D``, ``c = lam2/alpha``:
    ``S = I - Q/alpha``, ``V = (A D)^T/alpha``, ``P = Dinv F D`` (``Dinv = D^T`` when
    tied), ``W1 = S P + c P``, ``W = c P``, ``b = lam1/alpha``, ``y_hat = D h``.
    """
    D, F, A, Dinv = params.D, params.F, params.A, params.Dinv
    # (numpy scalars, as in effective_weights)
    alpha, lam1, lam2 = np.float64(params.alpha), params.lam1, params.lam2
    S, V, P = weights.S, weights.V, weights.P
    c = lam2 / alpha
    N = D.shape[0]
    G = A.T @ A + lam2 * np.eye(N)
    # W1 = S P + c P and W = c P feed S, P and c.
    gS_total = gS + gW1 @ P.T
    gP = S.T @ gW1 + c * (gW1 + gW)
    gc = np.vdot(gW1 + gW, P)
    gQ = -gS_total / alpha
    grads = {}
    if "D" in learn:
        gD = G @ D @ (gQ + gQ.T)  # Q = D^T G D, G symmetric
        gD += A.T @ gV.T / alpha  # V = D^T A^T / alpha
        if Dinv is None:
            gD += F @ D @ gP.T + F.T @ D @ gP  # P = D^T F D
        else:
            gD += F.T @ Dinv.T @ gP  # P = Dinv F D
        gD += gD_out  # y_hat = D h
        grads["D"] = gD
    if "Dinv" in learn:
        grads["Dinv"] = gP @ D.T @ F.T
    if "F" in learn:
        grads["F"] = (D if Dinv is None else Dinv.T) @ gP @ D.T
    if "A" in learn:
        gG = D @ gQ @ D.T
        grads["A"] = A @ (gG + gG.T) + gV.T @ D.T / alpha
    if "alpha" in learn:
        # S = I - Q/alpha, V = .../alpha, c = lam2/alpha, b = lam1/alpha
        Q = D.T @ G @ D
        grads["alpha"] = float((np.vdot(gS_total, Q) - np.vdot(gV, V) * alpha
                                - gc * lam2 - gb * lam1) / alpha**2)
    if "lam1" in learn:
        grads["lam1"] = float(gb / alpha)
    if "lam2" in learn:
        # dQ/dlam2 = D^T D, dc/dlam2 = 1/alpha
        grads["lam2"] = float(np.vdot(gQ, D.T @ D) + gc / alpha)
    if "h0" in learn:
        grads["h0"] = gh0
    return grads


def _to_variables(params, learn, log_scalars=True):
    """The optimised variables: arrays as they are, alpha, lam1, lam2 as logarithms (or
    raw values)."""
    logs = LOG_PARAMETERS if log_scalars else ()
    return {name: np.array(np.log(getattr(params, name))) if name in logs
            else np.array(getattr(params, name), dtype=np.float64) for name in learn}


def _from_variables(params, variables, log_scalars=True):
    out = params.copy()
    for name, value in variables.items():
        if name in LOG_PARAMETERS:
            setattr(out, name, float(np.exp(value) if log_scalars else value))
        else:
            setattr(out, name, value.copy())
    return out


def _variable_grads(params, grads, log_scalars=True):
    """Gradients of the variables: ``dL/dlog(v) = v dL/dv`` for the logarithms."""
    logs = LOG_PARAMETERS if log_scalars else ()
    return {name: np.array(getattr(params, name) * g) if name in logs else np.asarray(g)
            for name, g in grads.items()}


def _rescale_atoms(params, variables, atom_norms):
    """Rescale the atoms of D to ``atom_norms``, in place; whether they were off."""
    norms = np.linalg.norm(params.D, axis=0)
    if np.allclose(norms, atom_norms, rtol=1e-12, atol=0):
        return False
    params.D = params.D * (atom_norms / np.where(norms > 0, norms, 1.0))
    variables["D"] = params.D.copy()
    return True


def _clip_scalars(params, variables):
    """Clip the raw scalars among ``variables`` at 0 (alpha just above), in place; whether
    one was below."""
    clipped = False
    for name in set(LOG_PARAMETERS) & set(variables):
        low = _MIN_RAW_ALPHA if name == "alpha" else 0.0
        if getattr(params, name) < low:
            setattr(params, name, low)
            variables[name] = np.array(low)
            clipped = True
    return clipped


# A raw alpha is kept above this: the network divides by it.
_MIN_RAW_ALPHA = 1e-6
