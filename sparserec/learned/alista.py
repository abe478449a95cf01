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

from .._validation import check_array, check_int
from . import lista_cpss as cpss
from .base import Network

__all__ = ["ALISTA", "ALISTAParams", "analytic_weight", "forward", "loss_and_grad"]

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
class ALISTAParams:
    """The parameters of a K-layer ALISTA network.

    Attributes
    ----------
    A : ndarray of shape (M, N)
        The measurement matrix (fixed).
    W : ndarray of shape (M, N)
        The analytic weight (fixed).
    gamma : ndarray of shape (K,)
        The step sizes of the layers.
    theta : ndarray of shape (K,)
        The thresholds of the layers (used as ``max(theta_k, 0)``).
    """

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
        A = check_array(A, "A", ndim=2, dtype=np.float64)
        K = check_int(n_layers, "n_layers", low=1)
        L = cpss.lipschitz(A)
        W = analytic_weight(A) if W is None else np.array(check_array(W, "W", ndim=2,
                                                                      dtype=np.float64))
        if W.shape != A.shape:
            raise ValueError(f"W must have the shape of A, {A.shape}, got {W.shape}")
        return cls(A=A.copy(), W=W, gamma=np.ones(K), theta=np.full(K, float(lam) / L))

    @property
    def n_layers(self):
        """K."""
        return int(np.shape(self.theta)[0])

    def copy(self):
        """A deep copy, in float64."""
        return ALISTAParams(**{name: np.array(getattr(self, name), dtype=np.float64)
                               for name in ("A", "W", "gamma", "theta")})


class ALISTA(Network):
    """ALISTA in the learned mode's protocol (``A`` and ``W`` are fixed).

    Parameters
    ----------
    p, p_max : float, default=1.2 and 13.0
        The support selection, as for :class:`~sparserec.learned.lista_cpss.LISTACPSS`.
    """

    name = "alista"
    Params = ALISTAParams
    TRAINABLE = TRAINED = PARAMETERS
    LAYERED = ("theta", "gamma")

    def __init__(self, p=1.2, p_max=13.0):
        self.p, self.p_max = cpss.check_selection(p, p_max)

    def forward(self, params, X, *, depth=None, dtype=None):
        return forward(params, X, n_layers=depth, p=self.p, p_max=self.p_max, dtype=dtype)

    def loss_and_grad(self, params, X, Y, *, depth=None, names=None, dtype=None):
        loss, grads = loss_and_grad(params, X, Y, n_layers=depth, p=self.p, p_max=self.p_max,
                                    dtype=dtype)
        return loss, {name: grads[name] for name in self.check_names(names)}


def forward(params, X, *, n_layers=None, p=1.2, p_max=13.0, dtype=None):
    """The codes after the first ``n_layers`` layers.

    Parameters
    ----------
    params : ALISTAParams
    X : array_like of shape (B, M)
        Measurements, one signal per row.
    n_layers : int, optional
        Layers to run, 1 to K (default K).
    p, p_max : float, default=1.2 and 13.0
        The support selection (:func:`sparserec.learned.lista_cpss.support_sizes`).
    dtype : {float32, float64}, optional
        Default that of ``X`` (float64 unless float32).

    Returns
    -------
    ndarray of shape (B, N), of ``dtype``
    """
    return cpss.run_forward(_check(params, X, None, n_layers, p, p_max, dtype))


def loss_and_grad(params, X, Y, *, n_layers=None, p=1.2, p_max=13.0, dtype=None):
    """The mean squared error ``sum (h_n - Y)^2 / (B N)`` and its gradients in ``gamma`` and
    ``theta``.

    Parameters
    ----------
    params : ALISTAParams
    X : array_like of shape (B, M)
    Y : array_like of shape (B, N)
        The target codes.
    n_layers, p, p_max, dtype
        As for :func:`forward`.

    Returns
    -------
    loss : float
    grads : dict
        float64 gradients 'gamma' and 'theta', (K,) each (zero beyond ``n_layers``).
    """
    net = _check(params, X, Y, n_layers, p, p_max, dtype)
    loss, _, g_gamma, g_theta = cpss.run_loss_and_grad(net, Y, weight_grad=False)
    return loss, {"gamma": g_gamma, "theta": g_theta}


def _check(params, X, Y, n_layers, p, p_max, dtype):
    """The validated inputs of a pass, as LISTA-CPSS's internals take them."""
    A = check_array(params.A, "params.A", ndim=2, dtype=np.float64)
    M, N = A.shape
    W = check_array(params.W, "params.W", ndim=2, dtype=np.float64)
    if W.shape != (M, N):
        raise ValueError(f"params.W must have shape (M, N) = ({M}, {N}), got {W.shape}")
    theta = check_array(params.theta, "params.theta", ndim=1, dtype=np.float64)
    K = theta.shape[0]
    gamma = check_array(params.gamma, "params.gamma", ndim=1, dtype=np.float64)
    if gamma.shape != (K,):
        raise ValueError(f"params.gamma must have shape (K,) = ({K},), got {gamma.shape}")
    X, n, dtype = cpss.check_batch(X, Y, n_layers, dtype, M, N, K)
    return cpss.make_network(X, n, dtype, A, W[None], gamma, theta, p, p_max)
