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
per batch to theta. :class:`SISTARNN` is the network of the learned mode's protocol, which
the one trainer (:func:`sparserec.learned.train`) fits; its guard undoes a step that makes
the loss NaN or explode. alpha, lam1 and lam2 are optimised through their logarithms (so they
stay positive) or as raw values (the authors' choice; then kept non-negative). Nothing
holds alpha at a stability bound: that fought the optimiser, because the bound grows with
the scale of D, which the loss barely constrains (D c with lam1 c and alpha c^2 computes
almost the same network). Instead, every atom (column) of a learned D keeps its initial
norm, as in dictionary learning, which removes that free scale.
"""

from dataclasses import dataclass, fields
from types import MappingProxyType

import numpy as np

from .._threads import one_blas_thread
from ..solvers import sista_weights
from ..solvers._base import default_alpha
from . import _network_kernels
from .base import Network
from .network import Weights, _dtype, _kernel_inputs, forward_weights, loss_and_weight_grads

__all__ = ["SISTARNN", "SISTAParams", "LEARNABLE", "PAPER_SETTINGS", "check_learn",
           "effective_weights", "forward", "loss_and_grad"]

#: Names of the parameters that can be trained.
LEARNABLE = ("D", "Dinv", "F", "A", "alpha", "lam1", "lam2", "h0")

#: The settings of the SISTA-RNN's authors (Wisdom et al.'s published code), by name of
#: the hyperparameter of :class:`sparserec.SISTARegressor`: every parameter trained,
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


class SISTARNN(Network):
    """The SISTA-RNN in the learned mode's protocol.

    Parameters
    ----------
    n_layers : int, default=3
        K, the layers (SISTA iterations) per frame.
    keep_atom_norms : bool, default=True
        After every step, rescale every atom (column) of a learned D to its initial norm.
    log_scalars : bool, default=True
        Train alpha, lam1 and lam2 through their logarithms; False: as raw values (the
        authors' choice), clipped at 0 (alpha at 1e-6) after every step.
    """

    name = "sista-rnn"
    input_ndim = 3
    Params = SISTAParams
    TRAINABLE = LEARNABLE
    TRAINED = ("D", "F", "alpha", "lam1", "lam2")

    def __init__(self, n_layers=3, *, keep_atom_norms=True, log_scalars=True):
        self.layers = n_layers
        self.keep_atom_norms = keep_atom_norms
        self.log_scalars = log_scalars
        self.POSITIVE = LOG_PARAMETERS if log_scalars else ()

    def n_layers(self, params):
        return self.layers

    def per_layer(self, params):
        # Every layer (SISTA iteration) has the same step and threshold.
        alpha = float(params.alpha)
        return {"step 1/alpha": np.full(self.layers, 1 / alpha),
                "threshold lam1/alpha": np.full(self.layers, float(params.lam1) / alpha)}

    def forward(self, params, X, *, depth=None, dtype=None):
        return forward(params, X, depth or self.layers, dtype=dtype)

    def loss_and_grad(self, params, X, Y, *, depth=None, names=None, dtype=None):
        return loss_and_grad(params, X, Y, depth or self.layers, self.check_names(names),
                             dtype=dtype)

    def setup(self, params, names):
        """Untie the inverse dictionary (from ``D^T``) when 'Dinv' is trained."""
        if "Dinv" in names and params.Dinv is None:
            params = params.copy()
            params.Dinv = params.D.T.copy()
        return params

    def project(self, params, start):
        rescaled = self.keep_atom_norms and _rescale_atoms(params, start)
        clipped = not self.log_scalars and _clip_scalars(params)
        return bool(rescaled or clipped)


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


def _rescale_atoms(params, start):
    """Rescale the atoms of D to those of ``start``, in place; whether they were off."""
    norms, atom_norms = np.linalg.norm(params.D, axis=0), np.linalg.norm(start.D, axis=0)
    if np.allclose(norms, atom_norms, rtol=1e-12, atol=0):
        return False
    params.D = params.D * (atom_norms / np.where(norms > 0, norms, 1.0))
    return True


def _clip_scalars(params):
    """Clip the raw scalars at 0 (alpha just above), in place; whether one was below."""
    clipped = False
    for name in LOG_PARAMETERS:
        low = _MIN_RAW_ALPHA if name == "alpha" else 0.0
        if getattr(params, name) < low:
            setattr(params, name, low)
            clipped = True
    return clipped


# A raw alpha is kept above this: the network divides by it.
_MIN_RAW_ALPHA = 1e-6
