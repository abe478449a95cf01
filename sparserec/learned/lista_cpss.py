"""LISTA-CPSS: LISTA with coupled weights and support selection.

The network of Chen, Liu, Wang and Yin (*Theoretical linear convergence of unfolded ISTA
and its practical weights and thresholds*, NeurIPS 2018). Its layers keep ISTA's coupling
of the two matrices (``W_k`` in place of LISTA's ``B`` and ``S``) and let the largest
entries of each code through untouched. With the fixed measurement matrix ``A`` (M, N),
learned ``W_k`` (M, N) and thresholds ``theta_k``, for every signal (a row ``x``) and
``k = 1..K``::

    h_0 = 0
    z_k = h_{k-1} + (x - h_{k-1} A^T) W_k        (the row form of h + W_k^T (x - A h))
    h_k = eta_ss(z_k; theta_k, p_k)

and the output is ``h_K``. ``W_k`` is learned per layer (untied, ``W`` of shape (K, M, N)) or
shared (tied, (1, M, N)).

Support selection. With ``p_k = min(k p, p_max)`` percent, ``n_k = floor(p_k N / 100)``
(:func:`support_sizes`): in each row, the entries among the ``n_k`` largest ``|z|`` (ties
to the lower index) that also have ``|z| > theta_k`` pass unchanged; every other entry is
soft-thresholded at ``max(theta_k, 0)``. ``p = 0`` turns the selection off: the network is
then LISTA-CP, and with :meth:`LISTACPSSParams.initial` K iterations of ISTA with step
``1 / L`` for the lasso with penalty ``lam``. ``p = 1.2`` and ``p_max = 13`` are the values of
the authors' experiments (the ALISTA repository's commands).

Gradients. The selection is held constant, as in the authors' code (a stop-gradient on the
mask): ``dh/dz`` is 1 on the passed entries and ``1{|z| > theta}`` elsewhere, and ``dh/dtheta``
is ``-sign(z)`` on the shrunk nonzero entries only. Backward, with ``r_k = x - h_{k-1} A^T``::

    dL/dW_k     = sum over the batch of r_k^T dL/dz_k
    dL/dh_{k-1} = dL/dz_k - (dL/dz_k W_k^T) A

The products are BLAS's; the selection, the threshold and their backward are one numba pass
per layer (:mod:`sparserec.learned._cpss_kernels`). The batch is split between the package's
threads, each with one BLAS thread, as for the other networks. :mod:`sparserec.learned.alista`
subclasses it with ``W_k = gamma_k W``.
"""

import math
from dataclasses import dataclass

import numpy as np

from .._threads import over_rows, summed_over_rows
from .._validation import check_array, check_int, check_number
from . import _cpss_kernels as kernels
from .base import (Network, Record, check_batch, check_layer_arrays, check_thresholds,
                   ista_start)

__all__ = ["LISTACPSS", "LISTACPSSParams", "support_sizes"]

#: The trained parameters.
PARAMETERS = ("W", "theta")


@dataclass
class LISTACPSSParams(Record):
    """The parameters of a K-layer LISTA-CPSS network: the fixed measurement matrix ``A``
    (M, N), the layers' weights ``W`` (K, M, N), or one shared by every layer (tied, (1, M,
    N)), and their thresholds ``theta`` (K,), used as ``max(theta_k, 0)``."""

    A: np.ndarray
    W: np.ndarray
    theta: np.ndarray

    @classmethod
    def initial(cls, A, n_layers, *, lam=0.4, tied=False):
        """ISTA's parameters for the lasso with penalty ``lam``.

        ``L = 1.001 ||A||_2^2``, ``W_k = A / L``, ``theta_k = lam / L``: without support
        selection, K iterations of ISTA with step ``1 / L``.

        Parameters
        ----------
        A, n_layers, lam, tied
            As for :meth:`sparserec.learned.LISTAParams.initial` (``tied``: one ``W`` for
            every layer).

        Returns
        -------
        LISTACPSSParams
        """
        A, K, L = ista_start(A, n_layers)
        W = np.repeat((A / L)[None], 1 if tied else K, axis=0)
        return cls(A=A.copy(), W=W, theta=np.full(K, float(lam) / L))


class LISTACPSS(Network):
    """LISTA-CPSS in the learned mode's protocol (``A`` is fixed).

    ``forward`` maps measurements ``X`` (B, M) to codes (B, N); ``loss_and_grad`` gives
    the gradients 'W' (of ``params.W``'s shape; tied: the sum over the layers) and 'theta'
    (K,), zero for the layers beyond ``depth``. With a smaller ``depth``, layer k still
    selects ``p_k`` percent.

    Parameters
    ----------
    p : float, default=1.2
        The percentage of the entries that support selection lets through grows by ``p``
        per layer: ``p_k = min(k p, p_max)``. 0: no selection (LISTA-CP).
    p_max : float, default=13.0
        Its ceiling, in percent.
    """

    name = "lista-cpss"
    Params = LISTACPSSParams
    TRAINABLE = TRAINED = PARAMETERS
    LAYERED = ("theta", "W")

    def __init__(self, p=1.2, p_max=13.0):
        self.p, self.p_max = check_selection(p, p_max)

    def forward(self, params, X, *, depth=None, dtype=None):
        return run_forward(self._network(params, X, None, depth, dtype))

    def loss_and_grad(self, params, X, Y, *, depth=None, names=None, dtype=None):
        net = self._network(params, X, Y, depth, dtype)
        loss, gW, _, g_theta = run_loss_and_grad(net, Y, weight_grad=True)
        return loss, self.selected({"W": gW, "theta": g_theta}, names)

    def per_layer(self, params):
        W = np.asarray(params.W)
        return {"threshold": np.maximum(params.theta, 0),
                "||W_k||_2": np.resize([np.linalg.norm(W_k, 2) for W_k in W], params.n_layers),
                "entries passed unchanged": self._passed(params)}

    def _network(self, params, X, Y, depth, dtype):
        """The validated inputs of a pass, as the internals take them."""
        A = check_array(params.A, "params.A", ndim=2, dtype=np.float64)
        M, N = A.shape
        theta, K = check_thresholds(params.theta)
        W = check_layer_arrays(params.W, "W", K, ("M", M), ("N", N))
        X, n, dtype = check_batch(X, Y, depth, dtype, M, N, K)
        return make_network(X, n, dtype, A, W, None, theta, self.p, self.p_max)

    def _passed(self, params):
        """The most entries that support selection passes, by layer, as floats."""
        return np.array(support_sizes(np.shape(params.A)[1], params.n_layers, self.p,
                                      self.p_max), dtype=np.float64)


def support_sizes(N, n_layers, p=1.2, p_max=13.0):
    """``n_k``, the most entries that support selection lets through in layer k = 1..K.

    ``n_k = floor(min(k p, p_max) N / 100)`` (a product within rounding of an integer counts
    as that integer), at most ``N``.

    Parameters
    ----------
    N : int
        The length of a code.
    n_layers : int
        K.
    p, p_max : float, default=1.2 and 13.0
        In percent.

    Returns
    -------
    list of int
    """
    N = check_int(N, "N", low=1)
    K = check_int(n_layers, "n_layers", low=1)
    p, p_max = check_selection(p, p_max)
    return [min(math.floor(min(k * p, p_max) * N / 100 + 1e-9), N) for k in range(1, K + 1)]


def check_selection(p, p_max):
    """``(p, p_max)`` as floats: ``p >= 0``, ``0 <= p_max <= 100``."""
    return (check_number(p, "p", low=0.0),
            check_number(p_max, "p_max", low=0.0, high=100.0))


# ----------------------------------------------------------------------------------------
# internals, shared with ALISTA: a network is a dict of trusted arrays in its dtype,
# {"X", "n", "dtype", "A" (M, N), "W" (1 or K, M, N), "scale" (K,) or None, "theta" (K,),
# "sizes" (K,)}; layer k's weight is scale[k] W[k] (scale None: 1).


def run_forward(net):
    """The codes of ``net``'s first ``n`` layers, (B, N), the batch split between threads."""
    X = net["X"]
    out = np.empty((len(X), net["A"].shape[1]), net["dtype"])

    def rows(start, stop):
        out[start:stop] = _forward(net, X[start:stop], store=False)[0][0]

    over_rows(rows, len(X))
    return out


def run_loss_and_grad(net, Y, *, weight_grad):
    """``(loss, dL/dW or None, dL/dscale or None, dL/dtheta)``, float64, over the batch:
    ``dL/dW`` when ``weight_grad``, ``dL/dscale`` when ``net`` has a scale."""
    Y = np.asarray(Y, net["dtype"])
    size = Y.size
    squares, gW, g_scale, g_theta = summed_over_rows(_loss_and_grad_rows, len(Y), net, Y,
                                                     weight_grad, 2.0 / size)
    return float(squares) / size, gW, g_scale, g_theta


def make_network(X, n, dtype, A, W, scale, theta, p, p_max):
    """The dict of the internals (the arrays float64 and validated)."""
    # (no copies in float64: a step must not copy the parameters it only reads)
    return {"X": X, "n": n, "dtype": dtype, "A": np.ascontiguousarray(A, dtype),
            "W": np.ascontiguousarray(W, dtype), "scale": scale, "theta": theta,
            "sizes": support_sizes(A.shape[1], len(theta), p, p_max)}


def _forward(net, X, store):
    """The forward pass over the rows ``X``: ``(H, R, masks)``, every layer's code ``H[k] =
    h_{k+1}``, input ``R[k] = x - h_k A^T`` and mask when ``store``; else the output alone,
    ``H`` of shape (1, B, N)."""
    n, dtype, A, W, scale, theta, sizes = (
        net[k] for k in ("n", "dtype", "A", "W", "scale", "theta", "sizes"))
    Bn, M = X.shape
    N = A.shape[1]
    depth = n if store else 1
    H = np.empty((depth, Bn, N), dtype)
    R = np.empty((depth, Bn, M), dtype)
    masks = np.empty((depth, Bn, N), np.int8)
    P = np.empty((Bn, N), dtype)
    tied = W.shape[0] == 1
    for k in range(n):
        i, o = (k - 1, k) if store else (0, 0)
        r = R[k] if store else R[0]
        if k == 0:
            r[...] = X
        else:  # r_k = x - h_{k-1} A^T
            np.dot(H[i], A.T, out=r)
            np.subtract(X, r, out=r)
        np.dot(r, W[0 if tied else k], out=P)
        c = dtype.type(1.0 if scale is None else scale[k])
        kernels.ss_layer(H[i], P, k == 0, c, dtype.type(max(theta[k], 0.0)), sizes[k], H[o],
                         masks[o])
    return H, R, masks


def _loss_and_grad_rows(net, Y, weight_grad, scale_loss, start, stop):
    """The squared error of the rows ``start:stop`` of a batch and their gradients;
    ``scale_loss`` is ``2 / Y.size`` for the whole batch."""
    X, Y = net["X"][start:stop], Y[start:stop]
    n, dtype, A, W, scale, theta = (net[k] for k in ("n", "dtype", "A", "W", "scale", "theta"))
    Bn, M = X.shape
    N = A.shape[1]
    K = len(theta)
    tied = W.shape[0] == 1
    H, R, masks = _forward(net, X, store=True)
    residual = H[n - 1] - Y
    r64 = residual.ravel().astype(np.float64)
    squares = float(np.dot(r64, r64))

    G = residual * dtype.type(scale_loss)  # dL/dh_n
    DZ = np.empty((n, Bn, N), dtype)
    Pm = np.empty((Bn, M), dtype)
    Q = np.empty((Bn, N), dtype)
    g_theta = np.zeros(K)
    g_scale = None if scale is None else np.zeros(K)
    gW = np.zeros(W.shape) if weight_grad else None
    for k in range(n - 1, -1, -1):
        gt = kernels.ss_layer_backward(G, masks[k], DZ[k])
        g_theta[k] = gt if theta[k] > 0 else 0.0
        if weight_grad and not tied:
            gW[k] = R[k].T @ DZ[k]
        if k == 0 and scale is None:
            break  # h_0 = 0: nothing below
        np.dot(DZ[k], W[0 if tied else k].T, out=Pm)  # dL/dz_k W_k^T, then dL/dr_k
        if scale is not None:
            g_scale[k] = kernels.inner_and_scale(R[k], Pm, dtype.type(scale[k]))
        if k > 0:  # dL/dh_{k-1} = dL/dz_k - dL/dr_k A
            np.dot(Pm, A, out=Q)
            np.subtract(DZ[k], Q, out=G)
    if weight_grad and tied:  # one product over the layers: sum_k r_k^T dL/dz_k
        gW[0] = R.reshape(-1, M).T @ DZ.reshape(-1, N)
    return squares, gW, g_scale, g_theta
