"""A conventional stacked RNN: the generic-RNN baseline of the SISTA-RNN paper's authors.

The conventional counterpart of the SISTA-RNN (Wisdom et al., 2016): K recurrent layers
stacked in the usual way, each recurring on its own previous state, the measurements
entering the first layer only::

    h^1_t = f(W_1 h^1_{t-1} + V x_t;       b_1)
    h^k_t = f(W_k h^k_{t-1} + S_k h^(k-1)_t; b_k),   k = 2..K
    y_t   = U h^K_t + c

with untied weights per layer and a learned initial state ``h^k_0`` per layer (zero at
the start). The unit is the modReLU of unitary RNNs with a per-unit bias ``b``,

    f(z; b) = z max(m + b, 0) / m,   m = sqrt(z^2 + eps),   eps = 1e-9,

that is ``sign(z) max(|z| + b, 0)`` up to the smoothing of the modulus: a soft threshold
``-b`` where the bias is negative, a push away from zero where it is positive.

This is the authors' "generic RNN" as their code builds it: a stack of their real-composite
complex RNN layers with full, unconstrained matrices, the input connected to the
first layer only, and a random initialisation; its imaginary parts start at zero and their
gradients vanish, so they stay zero and the network is exactly the real one above. Their
initialisation, :meth:`StackedRNNParams.random`, draws every matrix and the biases from a
centred Gaussian with variance ``2 / (rows * cols)`` (``2 / n`` for a bias), and sets the
output bias and the initial states to zero.

The sequences of a batch are split across numba's threads, as for the SISTA-RNN
(:mod:`sparserec.learned.network`); the forward pass and backpropagation through time and
through the layers are two numba kernels (:mod:`sparserec.learned._stacked_kernels`).
"""

from dataclasses import dataclass

import numpy as np

from .._threads import over_rows, summed_over_rows
from .._validation import check_dtype, float_dtype
from . import _stacked_kernels
from .base import Network

__all__ = ["StackedRNN", "StackedRNNParams", "forward", "loss_and_grad", "EPS"]

#: The smoothing of the modulus in the modReLU unit (the authors' value).
EPS = 1e-9

#: The trained parameters, in the order of :attr:`StackedRNNParams.n_parameters`.
PARAMETERS = ("V", "W", "S", "b", "h0", "U", "c")


@dataclass
class StackedRNNParams:
    """The parameters of a conventional stacked RNN with K layers of n units.

    Attributes
    ----------
    V : ndarray of shape (n, M)
        Input matrix of the first layer.
    W : ndarray of shape (K, n, n)
        ``W[k]``: the recurrent matrix of layer k + 1.
    S : ndarray of shape (K - 1, n, n)
        ``S[k]``: the matrix from layer k + 1 to layer k + 2.
    b : ndarray of shape (K, n)
        The biases of the units (``-b`` is the threshold where ``b < 0``).
    h0 : ndarray of shape (K, n)
        Every layer's state before the first frame.
    U : ndarray of shape (N, n)
        Output matrix.
    c : ndarray of shape (N,)
        Output bias.
    """

    V: np.ndarray
    W: np.ndarray
    S: np.ndarray
    b: np.ndarray
    h0: np.ndarray
    U: np.ndarray
    c: np.ndarray

    @classmethod
    def random(cls, n_features, n_measurements, *, n_hidden=None, n_layers=3,
               random_state=None):
        """The authors' random initialisation.

        Every matrix ``A`` (V, each W_k and S_k, U) and every layer's bias vector is drawn
        from a centred Gaussian of standard deviation ``sqrt(2 / A.size)``: ``sqrt(2 /
        (n M))`` for V, ``sqrt(2) / n`` for W_k and S_k, ``sqrt(2 / (N n))`` for U and
        ``sqrt(2 / n)`` for a bias. The output bias and the initial states are zero.

        (The authors' script drew the upper layers' W_k once and copied it, and likewise
        the S_k; here every matrix has its own draw.)

        Parameters
        ----------
        n_features : int
            N, the size of the output.
        n_measurements : int
            M, the size of the input.
        n_hidden : int, optional
            n, the units per layer; default N (the authors').
        n_layers : int, default=3
            K.
        random_state : int or None

        Returns
        -------
        StackedRNNParams
        """
        N, M = int(n_features), int(n_measurements)
        n = N if n_hidden is None else int(n_hidden)
        K = int(n_layers)
        if min(N, M, n, K) < 1:
            raise ValueError("n_features, n_measurements, n_hidden and n_layers must be "
                             f"positive, got {N}, {M}, {n} and {K}")
        rng = np.random.default_rng(random_state)

        def draw(*shape):
            return np.sqrt(2.0 / np.prod(shape)) * rng.standard_normal(shape)

        V = draw(n, M)
        W = np.stack([draw(n, n) for _ in range(K)])
        S = np.stack([draw(n, n) for _ in range(K - 1)]) if K > 1 else np.zeros((0, n, n))
        U = draw(N, n)
        b = np.stack([draw(n) for _ in range(K)])
        return cls(V=V, W=W, S=S, b=b, h0=np.zeros((K, n)), U=U, c=np.zeros(N))

    @property
    def n_layers(self):
        """K."""
        return self.W.shape[0]

    @property
    def n_parameters(self):
        """The number of trained scalars: ``n M + K n^2 + (K - 1) n^2 + 2 K n + N n + N``
        (103,296 for the paper's M = 32, N = n = 128, K = 3)."""
        return sum(np.size(getattr(self, name)) for name in PARAMETERS)

    def copy(self):
        """A deep copy."""
        return StackedRNNParams(**{name: np.array(getattr(self, name), dtype=np.float64)
                                   for name in PARAMETERS})


class StackedRNN(Network):
    """The stacked RNN in the learned mode's protocol (every parameter trained by default;
    the authors train the initial states ``h0`` too)."""

    name = "stacked-rnn"
    input_ndim = 3
    Params = StackedRNNParams
    TRAINABLE = TRAINED = PARAMETERS

    def n_layers(self, params):
        return params.n_layers

    def forward(self, params, X, *, depth=None, dtype=None):
        return forward(params, X, dtype=dtype)

    def loss_and_grad(self, params, X, Y, *, depth=None, names=None, dtype=None):
        loss, grads = loss_and_grad(params, X, Y, dtype=dtype)
        return loss, {name: grads[name] for name in self.check_names(names)}


def forward(params, X, *, dtype=None, return_codes=False):
    """Run the network on a batch of sequences.

    Parameters
    ----------
    params : StackedRNNParams
    X : ndarray of shape (B, T, M)
    dtype : {float32, float64}, optional
        Default that of ``X`` (float64 unless float32).
    return_codes : bool, default=False
        Also return the top layer's states.

    Returns
    -------
    y_hat : ndarray of shape (B, T, N)
    h : ndarray of shape (B, T, n), only when ``return_codes``
    """
    X, dtype = _check(params, X, None, dtype)
    B, T, _ = X.shape
    N, n = params.U.shape
    y_hat = np.empty((B, T, N), dtype)
    h = np.empty((B, T, n), dtype) if return_codes else None
    over_rows(_forward_chunk, B, params, X, dtype, y_hat, h)
    return (y_hat, h) if return_codes else y_hat


def loss_and_grad(params, X, Y, *, dtype=None):
    """The mean squared error on a batch and its gradients in every parameter.

    The loss is ``sum (y_hat - y)^2 / (B T N)``, as for the other networks.

    Parameters
    ----------
    params : StackedRNNParams
    X : ndarray of shape (B, T, M)
    Y : ndarray of shape (B, T, N)
    dtype : {float32, float64}, optional
        Default that of ``X``.

    Returns
    -------
    loss : float
    grads : dict
        float64 gradients of 'V', 'W', 'S', 'b', 'h0', 'U' and 'c', each of its
        parameter's shape.
    """
    X, dtype = _check(params, X, Y, dtype)
    Y = np.asarray(Y)
    B, T, _ = X.shape
    N = params.U.shape[0]
    sq, *totals = summed_over_rows(_loss_and_grads_chunk, B, params, X, Y, dtype,
                                   2.0 / (B * T * N))
    grads = dict(zip(PARAMETERS, totals, strict=True))
    return float(sq / (B * T * N)), grads


# ----------------------------------------------------------------------------------------
# internals


def _check(params, X, Y, dtype):
    """``X`` as an array and the dtype of the pass; shapes that do not fit are refused."""
    X = np.asarray(X)
    dtype = float_dtype(X) if dtype is None else check_dtype(dtype)
    K, n = params.b.shape
    if X.ndim != 3 or X.shape[2] != params.V.shape[1]:
        raise ValueError(f"X must have shape (B, T, {params.V.shape[1]}), got {X.shape}")
    if Y is not None and np.shape(Y) != X.shape[:2] + (params.U.shape[0],):
        raise ValueError(f"Y must have shape {X.shape[:2] + (params.U.shape[0],)}, "
                         f"got {np.shape(Y)}")
    shapes = {"V": (n, X.shape[2]), "W": (K, n, n), "S": (K - 1, n, n), "h0": (K, n),
              "U": (params.U.shape[0], n), "c": (params.U.shape[0],)}
    for name, shape in shapes.items():
        if np.shape(getattr(params, name)) != shape:
            raise ValueError(f"params.{name} must have shape {shape}, got "
                             f"{np.shape(getattr(params, name))}")
    return X, dtype


def _kernel_inputs(params, X, dtype):
    """Time-major, contiguous arrays of one dtype, as the kernels expect them."""
    B, T, M = X.shape
    K, n = params.b.shape
    Xt = np.ascontiguousarray(X.transpose(1, 0, 2), dtype=dtype)
    Vx = np.ascontiguousarray((Xt.reshape(T * B, M) @ params.V.T.astype(dtype))
                              .reshape(T, B, n))
    WT = np.ascontiguousarray(np.transpose(params.W, (0, 2, 1)), dtype=dtype)
    ST = np.ascontiguousarray(np.transpose(params.S, (0, 2, 1)), dtype=dtype)
    b = np.ascontiguousarray(params.b, dtype=dtype)
    h0 = np.ascontiguousarray(np.broadcast_to(np.asarray(params.h0)[:, None, :], (K, B, n)),
                              dtype=dtype)
    return Xt, Vx, WT, ST, b, h0


def _forward_chunk(params, X, dtype, y_hat, h_out, start, stop):
    """:func:`forward` on the sequences ``start:stop``, into rows of its outputs."""
    _, Vx, WT, ST, b, h0 = _kernel_inputs(params, X[start:stop], dtype)
    T, B, n = Vx.shape
    H = np.empty((1, T, B, n), dtype)
    _stacked_kernels.forward_kernel(Vx, WT, ST, b, h0, dtype.type(EPS),
                                    np.empty((0, 1, 1, 1), dtype), H)
    h = np.ascontiguousarray(H[0].transpose(1, 0, 2))  # (B, T, n)
    out = y_hat[start:stop].reshape(B * T, -1)
    np.matmul(h.reshape(B * T, n), params.U.T.astype(dtype), out=out)
    out += params.c.astype(dtype)
    if h_out is not None:
        h_out[start:stop] = h


def _loss_and_grads_chunk(params, X, Y, dtype, scale, start, stop):
    """Forward and backward passes on the sequences ``start:stop`` of a batch.

    ``scale`` is ``2 / (B T N)`` for the whole batch. Returns the chunk's squared error
    (float64) and its sums of the gradients, in the order of :data:`PARAMETERS`.
    """
    Xt, Vx, WT, ST, b, h0 = _kernel_inputs(params, X[start:stop], dtype)
    T, B, n = Vx.shape
    K, M = b.shape[0], Xt.shape[2]
    Z = np.empty((K, T, B, n), dtype)
    H = np.empty((K, T, B, n), dtype)
    _stacked_kernels.forward_kernel(Vx, WT, ST, b, h0, dtype.type(EPS), Z, H)

    U = params.U.astype(dtype)
    N = U.shape[0]
    top = H[K - 1].reshape(T * B, n)
    Yt = np.ascontiguousarray(Y[start:stop].transpose(1, 0, 2), dtype=dtype)
    residual = top @ U.T + params.c.astype(dtype) - Yt.reshape(T * B, N)
    sq = np.dot(residual.ravel().astype(np.float64), residual.ravel())
    dy = residual * dtype.type(scale)  # dL/dy_hat, (T B, N)
    Gh = np.ascontiguousarray((dy @ U).reshape(T, B, n))

    dZ = np.empty((K, T, B, n), dtype)
    gb = np.zeros((K, n))
    gh0 = np.empty((K, B, n), dtype)
    _stacked_kernels.backward_kernel(Gh, Z, np.ascontiguousarray(params.W, dtype=dtype),
                                     np.ascontiguousarray(params.S, dtype=dtype), b,
                                     dtype.type(EPS), dZ, gb, gh0)

    # The weight gradients, one large product per matrix over all frames.
    rows = dZ.reshape(K, T * B, n)
    gV = rows[0].T @ Xt.reshape(T * B, M)
    gW = np.empty((K, n, n), dtype)
    for k in range(K):
        gW[k] = dZ[k, 0].T @ h0[k]
        if T > 1:
            gW[k] += dZ[k, 1:].reshape((T - 1) * B, n).T @ H[k, :-1].reshape((T - 1) * B, n)
    gS = np.empty((K - 1, n, n), dtype)
    for k in range(1, K):
        gS[k - 1] = rows[k].T @ H[k - 1].reshape(T * B, n)
    gU = dy.T @ top
    gc = dy.sum(axis=0, dtype=np.float64)
    return (sq, gV, gW, gS, gb, gh0.sum(axis=1, dtype=np.float64), gU, gc)
