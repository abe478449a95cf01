"""The SISTA-RNN: SISTA unfolded into K layers per time step, and its gradients.

The network of section 3 of the theory page, over a batch of sequences::

    h_t^(1) = soft_b(W1 h_{t-1} + V x_t)
    h_t^(k) = soft_b(W h_{t-1} + S h_t^(k-1) + V x_t),   k = 2..K
    y_hat_t = D h_t^(K)

Every weight is a function of the interpretable parameters theta = {D, F, alpha, lam1,
lam2} (and optionally A and h0), held in a :class:`SISTAParams`. :func:`loss_and_grad`
backpropagates the mean squared error through time and through the K layers by hand
(two numba kernels), then applies the chain rule once per batch to theta. The sequences
of a batch are split across numba's threads (``numba.set_num_threads`` sets how many;
:func:`sparserec.solvers.in_threads`), BLAS on one thread inside them: they are independent
but for the weight gradients, sums over the batch, which each thread accumulates for its
own sequences and which are then added in float64.

Conventions are those of :mod:`sparserec.solvers`: codes are rows, ``X`` has shape
(B, T, M), codes and signals (B, T, N). Inside the kernels the arrays are time-major,
(T, B, ...), so that every frame is a contiguous (B, N) block and every layer one
matrix-matrix product over the batch.
"""

from dataclasses import dataclass, fields
from typing import NamedTuple

import numpy as np
from numba import njit

from .solvers import _one_blas_thread, in_threads, lipschitz_constant

__all__ = ["SISTAParams", "Weights", "LEARNABLE", "effective_weights", "forward",
           "forward_weights", "loss_and_grad", "loss_and_weight_grads"]

#: Names of the parameters that can be trained.
LEARNABLE = ("D", "F", "A", "alpha", "lam1", "lam2", "h0")


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
    """

    D: np.ndarray
    F: np.ndarray
    A: np.ndarray
    alpha: float
    lam1: float
    lam2: float
    h0: np.ndarray

    @classmethod
    def initial(cls, A, D=None, F=None, alpha=None, lam1=0.5, lam2=1.0, h0=None):
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
            bound = lipschitz_constant(A, D, lam2)
            alpha = 1.001 * bound if bound > 0 else 1.0
        h0 = np.zeros(N) if h0 is None else np.array(h0, dtype=np.float64).reshape(N)
        return cls(D=D, F=F, A=A, alpha=float(alpha), lam1=float(lam1), lam2=float(lam2), h0=h0)

    def copy(self):
        """A deep copy."""
        return SISTAParams(**{f.name: np.copy(v) if isinstance(v, np.ndarray) else v
                              for f in fields(self) for v in [getattr(self, f.name)]})


class Weights(NamedTuple):
    """The effective weights of the network, functions of theta (section 3)."""

    S: np.ndarray  #: (N, N), ``I - D^T (A^T A + lam2 I) D / alpha``
    V: np.ndarray  #: (N, M), ``D^T A^T / alpha``
    W1: np.ndarray  #: (N, N), ``S P + (lam2/alpha) P``
    W: np.ndarray  #: (N, N), ``(lam2/alpha) P``
    P: np.ndarray  #: (N, N), ``D^T F D``
    b: float  #: the threshold ``lam1 / alpha``


def effective_weights(params):
    """The weights S, V, W1, W, P and the threshold b of the network, in float64.

    Parameters
    ----------
    params : SISTAParams

    Returns
    -------
    Weights
    """
    D, F, A, alpha, lam2 = params.D, params.F, params.A, params.alpha, params.lam2
    N = D.shape[0]
    G = A.T @ A + lam2 * np.eye(N)
    S = np.eye(N) - (D.T @ G @ D) / alpha
    V = (A @ D).T / alpha
    P = D.T @ F @ D
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
    with _one_blas_thread():  # (see loss_and_grad)
        return forward_weights(effective_weights(params), params.D, params.h0, X, n_layers,
                               dtype=dtype, return_codes=return_codes)


def forward_weights(weights, D, h0, X, n_layers=3, *, dtype=None, return_codes=False):
    """:func:`forward` from the effective weights themselves, free or tied to theta.

    Parameters
    ----------
    weights : Weights
        S, V, W1, W and the threshold b (P is not used).
    D : ndarray of shape (N, N)
        The output matrix, ``y_hat_t = D h_t``.
    h0 : ndarray of shape (N,)
        The code before the first frame.
    X, n_layers, dtype, return_codes
        As in :func:`forward`.

    Returns
    -------
    y_hat : ndarray of shape (B, T, N)
    h : ndarray of shape (B, T, N), only when ``return_codes``
    """
    dtype = _dtype(X, dtype)
    X = np.asarray(X)
    B, T, _ = X.shape
    N = weights.S.shape[0]
    y_hat = np.empty((B, T, N), dtype)
    h = np.empty((B, T, N), dtype) if return_codes else None
    with _one_blas_thread():  # threads of our own over the batch instead
        in_threads(_forward_chunk, B, weights, D, h0, X, n_layers, dtype, y_hat, h,
                   chunks_per_thread=1)
    return (y_hat, h) if return_codes else y_hat


def loss_and_grad(params, X, Y, n_layers=3, learn=("D", "F", "alpha", "lam1", "lam2"), *,
                  dtype=None):
    """The mean squared error of the SISTA-RNN on a batch, and its gradients.

    ``L = 1/(B T N) sum_{b,t} ||y_hat_{b,t} - y_{b,t}||^2``. The forward pass stores the
    pre-activations, the backward pass walks t = T..1 and k = K..1 accumulating the
    gradients of the effective weights, and the chain rule (section 4) maps them to theta.

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
    learn = tuple(learn)
    unknown = set(learn) - set(LEARNABLE)
    if unknown:
        raise ValueError(f"cannot learn {sorted(unknown)}; choose among {LEARNABLE}")
    # All on one BLAS thread: OpenBLAS's threads would spin after the (N, N) products of
    # the chain rule and take the cores from the kernels' threads in the next call.
    with _one_blas_thread():
        weights = effective_weights(params)
        loss, g = loss_and_weight_grads(weights, params.D, params.h0, X, Y, n_layers,
                                        dtype=dtype, output_grad="D" in learn)
        grads = _chain_rule(params, weights, learn, g["S"], g["V"], g["W1"], g["W"], g["b"],
                            g.get("D"), g["h0"])
    return loss, grads


def loss_and_weight_grads(weights, D, h0, X, Y, n_layers=3, *, dtype=None, output_grad=True):
    """The mean squared error and its gradients in the effective weights themselves.

    The forward and backward kernels of :func:`loss_and_grad` without the chain rule to
    theta: what a network with free (untied) S, V, W1, W, b and D needs.

    Parameters
    ----------
    weights : Weights
        S, V, W1, W and the threshold b (P is not used).
    D : ndarray of shape (N, N)
        The output matrix, ``y_hat_t = D h_t``.
    h0 : ndarray of shape (N,)
        The code before the first frame.
    X, Y, n_layers, dtype
        As in :func:`loss_and_grad`.
    output_grad : bool, default=True
        Also return the gradient of ``D`` as an output matrix (``sum_t dL/dy_hat_t h_t^T``).

    Returns
    -------
    loss : float
    grads : dict
        float64 gradients 'S', 'V', 'W1', 'W', 'b' (float), 'h0' (summed over the batch)
        and, with ``output_grad``, 'D' (the output term only).
    """
    dtype = _dtype(X, dtype)
    X, Y = np.asarray(X), np.asarray(Y)
    B, T, _ = X.shape
    N = weights.S.shape[0]
    with _one_blas_thread():  # threads of our own over the batch instead
        chunks = in_threads(_loss_and_grads_chunk, B, weights, D, h0, X, Y, n_layers, dtype,
                            output_grad, 2.0 / (B * T * N), chunks_per_thread=1)
    sq, gS, gW_stack, gV, gb, gh0, gD = (_total(part) for part in zip(*chunks, strict=True))
    grads = {"S": gS.astype(np.float64), "V": gV.astype(np.float64),
             "W1": gW_stack[:N].astype(np.float64), "W": gW_stack[N:].astype(np.float64),
             "b": float(gb), "h0": gh0}
    if output_grad:
        grads["D"] = gD.astype(np.float64)
    return float(sq / (B * T * N)), grads


# ----------------------------------------------------------------------------------------
# internals


def _dtype(X, dtype):
    if dtype is None:
        dtype = np.float32 if np.asarray(X).dtype == np.float32 else np.float64
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {dtype}")
    return dtype


def _kernel_inputs(weights, h0, X, dtype):
    """Time-major, contiguous arrays of one dtype, as the kernels expect them."""
    X = np.asarray(X)
    B, T, M = X.shape
    N = weights.S.shape[0]
    Xt = np.ascontiguousarray(X.transpose(1, 0, 2), dtype=dtype)
    Vx = np.ascontiguousarray((Xt.reshape(T * B, M) @ weights.V.T.astype(dtype))
                              .reshape(T, B, N))
    # One product per frame gives both W1 h_{t-1} and W h_{t-1}.
    WT = np.ascontiguousarray(np.hstack([weights.W1.T, weights.W.T]), dtype=dtype)
    ST = np.ascontiguousarray(weights.S.T, dtype=dtype)
    h0 = np.ascontiguousarray(np.broadcast_to(h0, (B, N)), dtype=dtype)
    return Vx, WT, ST, h0, dtype.type(weights.b)


def _preactivations(params, X, n_layers, dtype=None):
    """The pre-activations Z, shape (T, K, B, N), and the threshold b (for tests of kinks)."""
    dtype = _dtype(X, dtype)
    Vx, WT, ST, h0, thresh = _kernel_inputs(effective_weights(params), params.h0, X,
                                             dtype)
    T, B, N = Vx.shape
    Z = np.empty((T, n_layers, B, N), dtype)
    H = np.empty_like(Z)
    _forward_kernel(Vx, WT, ST, h0, thresh, n_layers, True, Z, H, np.empty((T, B, N), dtype))
    return Z, float(thresh)


def _forward_chunk(weights, D, h0, X, n_layers, dtype, y_hat, h_out, start, stop):
    """:func:`forward_weights` on the sequences ``start:stop``, into rows of its outputs."""
    Vx, WT, ST, h0, thresh = _kernel_inputs(weights, h0, X[start:stop], dtype)
    T, B, N = Vx.shape
    h = np.empty((T, B, N), dtype)
    dummy = np.empty((1, 1, 1, 1), dtype)
    _forward_kernel(Vx, WT, ST, h0, thresh, n_layers, False, dummy, dummy, h)
    h = np.ascontiguousarray(h.transpose(1, 0, 2))
    np.matmul(h.reshape(B * T, N), D.T.astype(dtype), out=y_hat[start:stop].reshape(B * T, N))
    if h_out is not None:
        h_out[start:stop] = h


def _total(parts):
    """The sum in float64 of one result of every chunk (``None`` stays ``None``)."""
    if parts[0] is None:
        return None
    total = np.array(parts[0], dtype=np.float64)
    for part in parts[1:]:
        total += part
    return total


def _loss_and_grads_chunk(weights, D, h0, X, Y, K, dtype, output_grad, scale, start, stop):
    """Forward and backward passes on the sequences ``start:stop`` of a batch.

    ``scale`` is ``2 / (B T N)`` for the whole batch. Returns the chunk's sums: the squared
    error (float64), gS, [gW1; gW], gV (in ``dtype``), gb (float), gh0 summed over the
    sequences (float64) and the output term of gD (``None`` unless ``output_grad``).
    """
    Vx, WT, ST, h0b, thresh = _kernel_inputs(weights, h0, X[start:stop], dtype)
    T, B, N = Vx.shape
    Z = np.empty((T, K, B, N), dtype)
    H = np.empty((T, K, B, N), dtype)
    h = np.empty((T, B, N), dtype)
    _forward_kernel(Vx, WT, ST, h0b, thresh, K, True, Z, H, h)

    Yt = np.ascontiguousarray(Y[start:stop].transpose(1, 0, 2), dtype=dtype)
    residual = h.reshape(T * B, N) @ D.T.astype(dtype) - Yt.reshape(T * B, N)
    sq = np.dot(residual.ravel().astype(np.float64), residual.ravel())
    dy = residual * dtype.type(scale)  # dL/dy_hat, (T B, N)
    Gh = np.ascontiguousarray((dy @ D.astype(dtype)).reshape(T, B, N))

    Xt = np.ascontiguousarray(X[start:stop].transpose(1, 0, 2), dtype=dtype)
    W_stack = np.ascontiguousarray(np.vstack([weights.W1, weights.W]), dtype=dtype)
    gS = np.zeros((N, N), dtype)
    gW_stack = np.zeros((2 * N, N), dtype)
    gV = np.zeros((N, Xt.shape[2]), dtype)
    gh0 = np.empty((B, N), dtype)
    gb = _backward_kernel(Gh, Xt, Z, H, h0b, np.ascontiguousarray(weights.S, dtype=dtype),
                          W_stack, thresh, gS, gW_stack, gV, gh0)
    gD = dy.T @ h.reshape(T * B, N) if output_grad else None
    return sq, gS, gW_stack, gV, gb, gh0.astype(np.float64).sum(axis=0), gD


def _chain_rule(params, weights, learn, gS, gV, gW1, gW, gb, gD_out, gh0):
    """Gradients of theta from those of the effective weights (section 4 of the theory).

    With ``G = A^T A + lam2 I``, ``Q = D^T G D``, ``c = lam2/alpha``:
    ``S = I - Q/alpha``, ``V = (A D)^T/alpha``, ``P = D^T F D``, ``W1 = S P + c P``,
    ``W = c P``, ``b = lam1/alpha``, ``y_hat = D h``.
    """
    D, F, A = params.D, params.F, params.A
    alpha, lam1, lam2 = params.alpha, params.lam1, params.lam2
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
        gD += F @ D @ gP.T + F.T @ D @ gP  # P = D^T F D
        gD += gD_out  # y_hat = D h
        grads["D"] = gD
    if "F" in learn:
        grads["F"] = D @ gP @ D.T
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


@njit(cache=True, nogil=True)
def _forward_kernel(Vx, WT, ST, h0, thresh, n_layers, store, Z, H, h_out):
    """The SISTA-RNN forward pass over a batch of sequences.

    Parameters
    ----------
    Vx : (T, B, N) array, ``V x_t`` for every frame and sequence.
    WT : (N, 2N) array, ``[W1^T | W^T]``.
    ST : (N, N) array, ``S^T``.
    h0 : (B, N) array, the code before the first frame.
    thresh : float, the threshold ``b = lam1 / alpha``.
    n_layers : int, K.
    store : bool, write the pre-activations ``Z`` and layer outputs ``H``.
    Z, H : (T, K, B, N) arrays, written when ``store`` (ignored otherwise).
    h_out : (T, B, N) array, the codes ``h_t = h_t^(K)`` (written).
    """
    T, B, N = Vx.shape
    h_prev = h0.copy()
    for t in range(T):
        U = np.dot(h_prev, WT)  # (B, 2N): W1 h_{t-1} | W h_{t-1}
        c = U[:, N:] + Vx[t]  # the input shared by layers 2..K
        z = U[:, :N] + Vx[t]
        h = np.empty((B, N), Vx.dtype)
        for k in range(n_layers):
            if k > 0:
                z = np.dot(h, ST) + c
            for b in range(B):
                for j in range(N):
                    v = z[b, j]
                    if v > thresh:
                        h[b, j] = v - thresh
                    elif v < -thresh:
                        h[b, j] = v + thresh
                    else:
                        h[b, j] = 0.0
            if store:
                Z[t, k] = z
                H[t, k] = h
        h_out[t] = h
        h_prev = h


@njit(cache=True, nogil=True)
def _backward_kernel(Gh, Xt, Z, H, h0, S, W_stack, thresh, gS, gW_stack, gV, gh0):
    """Backpropagation through time and through the K layers of the SISTA-RNN.

    Walks t = T..1 and k = K..1, carrying ``dL/dh_t`` from the output and from step t+1
    (through W1 and W), and accumulates the gradients of the effective weights.

    Parameters
    ----------
    Gh : (T, B, N) array, ``dL/dh_t`` through the output ``y_hat_t = D h_t``.
    Xt : (T, B, M) array, the measurements.
    Z, H : (T, K, B, N) arrays, pre-activations and layer outputs of the forward pass.
    h0 : (B, N) array, the code before the first frame.
    S : (N, N) array.
    W_stack : (2N, N) array, ``[W1; W]`` (W1 on top).
    thresh : float, the threshold ``b``.
    gS : (N, N) array, ``dL/dS`` (accumulated).
    gW_stack : (2N, N) array, ``[dL/dW1; dL/dW]`` (accumulated).
    gV : (N, M) array, ``dL/dV`` (accumulated).
    gh0 : (B, N) array, ``dL/dh0`` per sequence (written).

    Returns
    -------
    float
        ``dL/db``, the gradient of the threshold.
    """
    T, K, B, N = Z.shape
    carry = np.zeros((B, N), Gh.dtype)
    dU = np.empty((B, 2 * N), Gh.dtype)  # dL/d(W1 h_{t-1}) | dL/d(W h_{t-1})
    dZ = np.empty((K, B, N), Gh.dtype)
    gb = 0.0
    for t in range(T - 1, -1, -1):
        g = Gh[t] + carry
        for k in range(K - 1, -1, -1):
            z = Z[t, k]
            for b in range(B):
                for j in range(N):
                    # d soft_b(z)/dz = 1[|z| > b], d soft_b(z)/db = -sign(z) 1[|z| > b]
                    v = z[b, j]
                    if v > thresh:
                        dZ[k, b, j] = g[b, j]
                        gb -= g[b, j]
                    elif v < -thresh:
                        dZ[k, b, j] = g[b, j]
                        gb += g[b, j]
                    else:
                        dZ[k, b, j] = 0.0
            if k > 0:
                g = np.dot(dZ[k], S)
        dU[:, :N] = dZ[0]
        dU[:, N:] = 0.0
        for k in range(1, K):
            dU[:, N:] += dZ[k]
        if K > 1:
            gS += np.dot(dZ[1:].reshape((K - 1) * B, N).T, H[t, :K - 1].reshape((K - 1) * B, N))
        h_prev = H[t - 1, K - 1] if t > 0 else h0
        gW_stack += np.dot(dU.T, h_prev)
        gV += np.dot((dU[:, :N] + dU[:, N:]).T, Xt[t])
        carry = np.dot(dU, W_stack)
    gh0[:, :] = carry
    return gb
