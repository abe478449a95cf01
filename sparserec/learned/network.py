"""The soft-threshold recurrent network that SISTA unfolds into, with given weights.

Over a batch of sequences, K layers per time step::

    h_t^(1) = soft_b(W1 h_{t-1} + V x_t)
    h_t^(k) = soft_b(W h_{t-1} + S h_t^(k-1) + V x_t),   k = 2..K
    y_hat_t = D h_t^(K)

:func:`forward_weights` runs it and :func:`loss_and_weight_grads` backpropagates the mean
squared error through time and through the K layers by hand (two numba kernels), to the
weights themselves. The SISTA-RNN (:mod:`sparserec.learned.sista_rnn`) ties the weights to
a dictionary, a transition, a step and two penalties; the generic RNN
(:mod:`sparserec.learned.generic_rnn`) leaves them free.

The sequences of a batch are split across numba's threads (``numba.set_num_threads`` sets
how many; :func:`sparserec._threads.over_rows`), BLAS on one thread inside them: they are
independent but for the weight gradients, sums over the batch, which each thread
accumulates for its own sequences and which are then added in float64.

Codes are rows, ``X`` has shape (B, T, M), codes and signals (B, T, N); inside the kernels
the arrays are time-major.
"""

from typing import NamedTuple

import numpy as np

from .._threads import over_rows, summed_over_rows
from .._validation import check_dtype, float_dtype
from . import _network_kernels

__all__ = ["Weights", "forward_weights", "loss_and_weight_grads"]


class Weights(NamedTuple):
    """The weights of the network: free, or functions of theta for the SISTA-RNN."""

    S: np.ndarray  #: (N, N), ``I - D^T (A^T A + lam2 I) D / alpha``
    V: np.ndarray  #: (N, M), ``D^T A^T / alpha``
    W1: np.ndarray  #: (N, N), ``S P + (lam2/alpha) P``
    W: np.ndarray  #: (N, N), ``(lam2/alpha) P``
    P: np.ndarray  #: (N, N), ``D^T F D``
    b: float  #: the threshold ``lam1 / alpha``


def forward_weights(weights, D, h0, X, n_layers=3, *, dtype=None, return_codes=False):
    """:func:`sparserec.learned.forward` from the effective weights themselves, free or tied
    to theta.

    Parameters
    ----------
    weights : Weights
        S, V, W1, W and the threshold b (P is not used).
    D : ndarray of shape (N, N)
        The output matrix, ``y_hat_t = D h_t``.
    h0 : ndarray of shape (N,)
        The code before the first frame.
    X, n_layers, dtype, return_codes
        As in :func:`sparserec.learned.forward`.

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
    over_rows(_forward_chunk, B, weights, D, h0, X, n_layers, dtype, y_hat, h)
    return (y_hat, h) if return_codes else y_hat


def loss_and_weight_grads(weights, D, h0, X, Y, n_layers=3, *, dtype=None, output_grad=True):
    """The mean squared error and its gradients in the effective weights themselves.

    The forward and backward kernels of :func:`sparserec.learned.loss_and_grad` without the
    chain rule to theta: what a network with free (untied) S, V, W1, W, b and D needs.

    Parameters
    ----------
    weights, D, h0
        As in :func:`forward_weights`.
    X, Y, n_layers, dtype
        As in :func:`sparserec.learned.loss_and_grad`.
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
    sq, gS, gW_stack, gV, gb, gh0, gD = summed_over_rows(
        _loss_and_grads_chunk, B, weights, D, h0, X, Y, n_layers, dtype, output_grad,
        2.0 / (B * T * N))
    grads = {"S": gS.astype(np.float64), "V": gV.astype(np.float64),
             "W1": gW_stack[:N].astype(np.float64), "W": gW_stack[N:].astype(np.float64),
             "b": float(gb), "h0": gh0}
    if output_grad:
        grads["D"] = gD.astype(np.float64)
    return float(sq / (B * T * N)), grads


# ----------------------------------------------------------------------------------------
# internals


def _dtype(X, dtype):
    """The precision of a pass: ``dtype``, or that of ``X`` (float64 unless float32)."""
    return float_dtype(np.asarray(X)) if dtype is None else check_dtype(dtype)


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


def _forward_chunk(weights, D, h0, X, n_layers, dtype, y_hat, h_out, start, stop):
    """:func:`forward_weights` on the sequences ``start:stop``, into rows of its outputs."""
    Vx, WT, ST, h0, thresh = _kernel_inputs(weights, h0, X[start:stop], dtype)
    T, B, N = Vx.shape
    h = np.empty((T, B, N), dtype)
    dummy = np.empty((1, 1, 1, 1), dtype)
    _network_kernels.forward_kernel(Vx, WT, ST, h0, thresh, n_layers, False, dummy, dummy, h)
    h = np.ascontiguousarray(h.transpose(1, 0, 2))
    np.matmul(h.reshape(B * T, N), D.T.astype(dtype), out=y_hat[start:stop].reshape(B * T, N))
    if h_out is not None:
        h_out[start:stop] = h


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
    _network_kernels.forward_kernel(Vx, WT, ST, h0b, thresh, K, True, Z, H, h)

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
    gb = _network_kernels.backward_kernel(Gh, Xt, Z, H, h0b,
                                          np.ascontiguousarray(weights.S, dtype=dtype),
                                          W_stack, thresh, gS, gW_stack, gV, gh0)
    gD = dy.T @ h.reshape(T * B, N) if output_grad else None
    return sq, gS, gW_stack, gV, gb, gh0.astype(np.float64).sum(axis=0), gD
