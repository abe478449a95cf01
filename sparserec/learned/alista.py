"""ALISTA: LISTA-CPSS with an analytic weight, two scalars learned per layer.

The network of Liu, Chen, Wang and Yin (*ALISTA: analytic weights are as good as learned
weights in LISTA*, ICLR 2019): the layers of :mod:`~sparserec.learned.lista_cpss` with
``W_k = gamma_k W``, where ``W`` (M, N) is computed from ``A`` before training
(:func:`analytic_weight`) and only the step sizes ``gamma_k`` and the thresholds
``theta_k`` are learned::

    h_0 = 0
    z_k = h_{k-1} + gamma_k (x - h_{k-1} A^T) W
    h_k = eta_ss(z_k; theta_k, p_k)

with LISTA-CPSS's support selection (``p``, ``p_max``). The forward and backward passes are
LISTA-CPSS's; ``dL/dgamma_k = <dL/dW_k, W> = sum (x - h_{k-1} A^T) * (dL/dz_k W^T)`` costs
no product beyond those.
"""

import warnings
from dataclasses import dataclass

import numpy as np
import scipy.linalg

from .._validation import check_array
from . import lista_cpss as cpss
from .base import Record, check_batch, check_thresholds, ista_start

__all__ = ["ALISTA", "ALISTAParams", "analytic_weight"]

#: The trained parameters.
PARAMETERS = ("gamma", "theta")


def analytic_weight(A):
    """The analytic weight: ``W`` minimising ``||W^T A||_F^2`` subject to ``w_j^T a_j = 1``
    for every column ``j``.

    The problem splits over the columns; with ``G = A A^T`` (invertible when ``A`` has full
    row rank), ``w_j = G^{-1} a_j / (a_j^T G^{-1} a_j)``.

    Parameters
    ----------
    A : array_like of shape (M, N)
        Measurement matrix, of full row rank (so ``M <= N``) and without a zero column.

    Returns
    -------
    ndarray of shape (M, N), float64
    """
    A = check_array(A, "A", ndim=2, dtype=np.float64)
    M, N = A.shape
    zero = np.flatnonzero(~A.any(axis=0))
    if zero.size:
        raise ValueError(f"A has {zero.size} zero column(s) (e.g. column {zero[0]}): no "
                         f"weight w_j can have w_j^T a_j = 1")
    if M > N:
        raise ValueError(f"A must have full row rank for the analytic weight, but it has more "
                         f"rows than columns (shape {A.shape})")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", scipy.linalg.LinAlgWarning)
            GA = scipy.linalg.solve(A @ A.T, A, assume_a="pos")  # G^{-1} a_j, every j
    except (np.linalg.LinAlgError, scipy.linalg.LinAlgWarning):
        raise ValueError("A must have full row rank for the analytic weight: A A^T is "
                         "singular to working precision") from None
    return GA / np.einsum("mn,mn->n", A, GA)


@dataclass
class ALISTAParams(Record):
    """The parameters of a K-layer ALISTA network: the fixed measurement matrix ``A``
    (M, N) and analytic weight ``W`` (M, N), and the layers' step sizes ``gamma`` (K,) and
    thresholds ``theta`` (K,), used as ``max(theta_k, 0)``."""

    A: np.ndarray
    W: np.ndarray
    gamma: np.ndarray
    theta: np.ndarray

    @classmethod
    def initial(cls, A, n_layers, *, lam=0.4, W=None):
        """``W = analytic_weight(A)``, ``gamma_k = 1``, ``theta_k = lam / (1.001 ||A||_2^2)``.

        Parameters
        ----------
        A : array_like of shape (M, N)
        n_layers : int
            K.
        lam : float, default=0.4
            Sets the thresholds, as for LISTA-CPSS.
        W : array_like of shape (M, N), optional
            The weight, instead of the analytic one.

        Returns
        -------
        ALISTAParams
        """
        A, K, L = ista_start(A, n_layers)
        W = analytic_weight(A) if W is None else np.array(check_array(W, "W", ndim=2,
                                                                      dtype=np.float64))
        if W.shape != A.shape:
            raise ValueError(f"W must have the shape of A, {A.shape}, got {W.shape}")
        return cls(A=A.copy(), W=W, gamma=np.ones(K), theta=np.full(K, float(lam) / L))



class ALISTA(cpss.LISTACPSS):
    """ALISTA in the learned mode's protocol: LISTA-CPSS with ``W_k = gamma_k W`` (``A``
    and ``W`` are fixed).

    ``forward`` maps measurements ``X`` (B, M) to codes (B, N); ``loss_and_grad`` gives
    the gradients 'gamma' and 'theta', (K,) each, zero for the layers beyond ``depth``.

    Parameters
    ----------
    p, p_max : float, default=1.2 and 13.0
        The support selection, as for :class:`~sparserec.learned.lista_cpss.LISTACPSS`.
    """

    name = "alista"
    Params = ALISTAParams
    TRAINABLE = TRAINED = PARAMETERS
    LAYERED = ("theta", "gamma")

    def loss_and_grad(self, params, X, Y, *, depth=None, names=None, dtype=None):
        net = self._network(params, X, Y, depth, dtype)
        loss, _, g_gamma, g_theta = cpss.run_loss_and_grad(net, Y, weight_grad=False)
        return loss, self.selected({"gamma": g_gamma, "theta": g_theta}, names)

    def per_layer(self, params):
        return {"step gamma": np.asarray(params.gamma, dtype=np.float64),
                "threshold": np.maximum(params.theta, 0),
                "entries passed unchanged": self._passed(params)}

    def _network(self, params, X, Y, depth, dtype):
        A = check_array(params.A, "params.A", ndim=2, dtype=np.float64)
        M, N = A.shape
        W = check_array(params.W, "params.W", ndim=2, dtype=np.float64)
        if W.shape != (M, N):
            raise ValueError(f"params.W must have shape (M, N) = ({M}, {N}), got {W.shape}")
        theta, K = check_thresholds(params.theta)
        gamma = check_array(params.gamma, "params.gamma", ndim=1, dtype=np.float64)
        if gamma.shape != (K,):
            raise ValueError(f"params.gamma must have shape (K,) = ({K},), got {gamma.shape}")
        X, n, dtype = check_batch(X, Y, depth, dtype, M, N, K)
        return cpss.make_network(X, n, dtype, A, W[None], gamma, theta, self.p, self.p_max)
