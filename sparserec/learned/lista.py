"""LISTA: ISTA unfolded into K layers with learned weights.

The learned ISTA of Gregor and LeCun (*Learning fast approximations of sparse coding*,
ICML 2010): K layers that share one pair of matrices, each with its own threshold::

    h_0 = 0,    h_{k+1} = soft(B x + S_k h_k; theta_k),    k = 0..K-1,

so that ``h_1 = soft(B x; theta_0)``. The thresholds act as ``max(theta_k, 0)``. ``S_k`` is
one matrix shared by the layers (tied, Gregor and LeCun's network) or one per layer
(untied, as Borgerding, Schniter and Rangan train it; ``S_0`` then multiplies ``h_0 = 0``
and stays unused). With ``B = A^T / L``, ``S_k = I - A^T A / L`` and ``theta_k = lam / L``
(:meth:`LISTAParams.initial`) the network is K iterations of ISTA with step ``1 / L``.

Signals are the rows of a batch, (B, M) in and (B, N) out. The products over the batch are
BLAS's; the element-wise work of each layer (the threshold forward, its backward with the
threshold's gradient) is one numba pass (:mod:`sparserec.learned._unfolded_kernels`). When
fewer than :data:`SPARSE_DENSITY` of the codes are nonzero, the products with them (``S
h_k`` forward; ``dL/dz_k S`` and ``sum_k dL/dz_k^T h_k`` back, whose ``dL/dz_k`` is zero
where ``h_{k+1}`` is) skip their zero entries, which autograd cannot know of. The batch is
split between the package's threads, each with one BLAS thread, as for the other networks.
"""

from dataclasses import dataclass

import numpy as np

from .._threads import over_rows, summed_over_rows
from .._validation import check_array
from . import _unfolded_kernels as kernels
from .base import (Network, Record, check_batch, check_layer_arrays, check_thresholds,
                   ista_start)

__all__ = ["LISTA", "LISTAParams"]

#: The trained parameters.
PARAMETERS = ("B", "S", "theta")

#: Below this fraction of nonzero codes, the products with the codes skip their zeros
#: (numba kernels) instead of BLAS's dense products.
SPARSE_DENSITY = 0.1


@dataclass
class LISTAParams(Record):
    """The parameters of a K-layer LISTA network.

    Attributes
    ----------
    B : ndarray of shape (N, M)
        Input matrix.
    S : ndarray of shape (1, N, N) or (K, N, N)
        Mutual inhibition: one shared by the layers (tied) or one per layer.
    theta : ndarray of shape (K,)
        The thresholds of the layers (used as ``max(theta_k, 0)``).
    """

    B: np.ndarray
    S: np.ndarray
    theta: np.ndarray

    @classmethod
    def initial(cls, A, n_layers, *, lam=0.1, tied=True):
        """The parameters with which LISTA is ISTA for the lasso with penalty ``lam``.

        ``L = 1.001 ||A||_2^2``, ``B = A^T / L``, ``S = I - A^T A / L``, ``theta_k = lam / L``.

        Parameters
        ----------
        A : array_like of shape (M, N)
            Measurement matrix.
        n_layers : int
            K.
        lam : float, default=0.1
            The lasso's penalty.
        tied : bool, default=True
            One ``S`` for all layers; False: one per layer.

        Returns
        -------
        LISTAParams
        """
        A, K, L = ista_start(A, n_layers)
        N = A.shape[1]
        S = np.repeat((np.eye(N) - A.T @ A / L)[None], 1 if tied else K, axis=0)
        return cls(B=A.T / L, S=S, theta=np.full(K, float(lam) / L))


class LISTA(Network):
    """LISTA in the learned mode's protocol (:class:`~sparserec.learned.base.Network`).

    ``forward`` maps measurements ``X`` (B, M) to codes (B, N); ``loss_and_grad`` gives
    the gradients 'B' (N, M), 'S' (of ``params.S``'s shape; tied: the sum over the layers)
    and 'theta' (K,), zero for the layers beyond ``depth``.
    """

    name = "lista"
    Params = LISTAParams
    TRAINABLE = TRAINED = PARAMETERS
    LAYERED = ("theta", "S")

    def forward(self, params, X, *, depth=None, dtype=None):
        X, n, dtype, weights = _check(params, X, None, depth, dtype)
        out = np.empty((len(X), weights[1].shape[0]), dtype)

        def rows(start, stop):
            out[start:stop] = _forward(X[start:stop], n, weights, store=False)[-1]

        over_rows(rows, len(X))
        return out

    def loss_and_grad(self, params, X, Y, *, depth=None, names=None, dtype=None):
        X, n, dtype, weights = _check(params, X, Y, depth, dtype)
        Y = np.asarray(Y, dtype)
        size = Y.size
        squares, gB, gS, g_theta = summed_over_rows(_loss_and_grad_rows, len(Y), X, Y, n,
                                                    weights, 2.0 / size)
        return float(squares) / size, self.selected({"B": gB, "S": gS, "theta": g_theta},
                                                    names)

    def per_layer(self, params):
        K = params.n_layers
        S = np.asarray(params.S)
        return {"threshold": np.maximum(params.theta, 0),
                "||S_k||_2": np.resize([np.linalg.norm(S_k, 2) for S_k in S], K)}


# ----------------------------------------------------------------------------------------
# internals


def _loss_and_grad_rows(X, Y, n, weights, scale, start, stop):
    """The squared error of the rows ``start:stop`` of a batch and their gradients;
    ``scale`` is ``2 / Y.size`` for the whole batch."""
    X, Y = X[start:stop], Y[start:stop]
    S, _, theta, dtype = weights
    Bn, N = Y.shape
    H, counts = _forward(X, n, weights, store=True)  # H[k] = h_{k+1}
    sparse = [c < SPARSE_DENSITY * H[0].size for c in counts]
    residual = H[n - 1] - Y
    r64 = residual.ravel().astype(np.float64)
    squares = float(np.dot(r64, r64))

    tied = S.shape[0] == 1
    G = residual * dtype.type(scale)  # dL/dh_n
    DZ = np.empty((n, Bn, N), dtype)
    gc = np.zeros((Bn, N), dtype)  # dL/d(B x), summed over the layers
    g_theta = np.zeros(len(theta))
    for k in range(n - 1, -1, -1):
        gt = kernels.lista_layer_backward(G, H[k], DZ[k], gc)
        g_theta[k] = gt if theta[k] > 0 else 0.0
        if k > 0:  # dz_k is zero where h_{k+1} is
            Sk = S[0 if tied else k]
            if sparse[k]:
                G = np.empty_like(G)
                kernels.sparse_times(DZ[k], Sk, G)
            else:
                G = DZ[k] @ Sk
    gS = np.zeros(S.shape)
    dense = [k for k in range(1, n) if not (sparse[k] and sparse[k - 1])]
    if tied and dense:  # one product over those layers: sum_k dz_k^T h_k
        gS[0] += DZ[dense].reshape(-1, N).T @ H[[k - 1 for k in dense]].reshape(-1, N)
    for k in range(1, n):
        if not tied and k in dense:
            gS[k] = DZ[k].T @ H[k - 1]
        elif k not in dense:
            gS[0 if tied else k] += kernels.sparse_outer(DZ[k], H[k - 1])
    gB = gc.T @ X
    return squares, gB, gS, g_theta


def _forward(X, n, weights, store):
    """The codes of layers 1..n, (n, B, N) with their counts of nonzero entries when
    ``store``, else the last one (1, B, N)."""
    S, B, theta, dtype = weights
    N = S.shape[1]
    C = X @ B.T
    H = np.empty((n if store else 1, X.shape[0], N), dtype)
    h = H[0]
    nnz = kernels.lista_layer(C, C, False,
                  dtype.type(max(theta[0], 0.0)), h)
    P = np.empty_like(C)
    tied = S.shape[0] == 1
    ST = np.ascontiguousarray(S[0].T) if n > 1 and tied else None
    counts = [nnz]  # the nonzero codes of every layer
    for k in range(1, n):
        Sk = S[0 if tied else k]
        if nnz >= SPARSE_DENSITY * h.size:
            np.dot(h, Sk.T, out=P)
        else:
            kernels.sparse_times(h, ST if tied else np.ascontiguousarray(Sk.T), P)
        out = H[k] if store else h
        nnz = kernels.lista_layer(C, P, True,
                      dtype.type(max(theta[k], 0.0)), out)
        h = out
        counts.append(nnz)
    return (H, counts) if store else H[:1]


def _check(params, X, Y, depth, dtype):
    """``X`` in ``dtype``, the layer count, the dtype and ``(S, B, theta, dtype)``."""
    B = check_array(params.B, "params.B", ndim=2, dtype=np.float64)
    N, M = B.shape
    theta, K = check_thresholds(params.theta)
    S = check_layer_arrays(params.S, "S", K, ("N", N), ("N", N))
    X, n, dtype = check_batch(X, Y, depth, dtype, M, N, K)
    # (no copies in float64: a step must not copy the parameters it only reads)
    return X, n, dtype, (np.ascontiguousarray(S, dtype), np.ascontiguousarray(B, dtype),
                         theta, dtype)
