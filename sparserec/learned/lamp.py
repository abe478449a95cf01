r"""LAMP: approximate message passing unfolded into K layers, the Onsager term kept.

The learned AMP of Borgerding, Schniter and Rangan (*AMP-inspired deep networks for sparse
linear inverse problems*, IEEE TSP 65(16), 2017). With the fixed measurement matrix ``A``
(M, N), learned matrices ``B_t`` (N, M) and denoiser parameters ``theta_t``, for every
signal ``x`` and ``t = 0..K-1``::

    v_0 = x,  h_0 = 0
    v_t = x - A h_t + b_t v_{t-1}                 (t >= 1)
    sigma_t = max(||v_t|| / sqrt(M), FLOOR)        (the effective noise level)
    r_t = h_t + B_t v_t
    h_{t+1} = eta(r_t; sigma_t, theta_t)
    b_{t+1} = (1/M) sum_j eta'(r_t)_j              (the Onsager coefficient)

and the output is ``h_K``. ``B_t`` is learned per layer (untied, ``B`` of shape (K, N, M))
or shared (tied, ``B`` of shape (1, N, M)). With ``B_t = A^T`` for ``A`` of unit mean column
norm and the soft threshold at ``alpha`` times the noise level, LAMP is K iterations of
AMP (:func:`sparserec.amp`); :meth:`LAMPParams.initial` starts there.

Denoisers
---------
``'soft'``, ``theta_t = (alpha_t, beta_t)``::

    eta(r) = beta_t soft(r; max(alpha_t, 0) sigma_t),   eta'(r) = beta_t 1{|r| > alpha_t sigma_t}

``'bg'``, ``theta_t = (log nu_t, logit lam_t)``: the posterior mean ``E[x | r]`` of the
Bernoulli-Gaussian prior ``x ~ (1 - lam) delta_0 + lam N(0, nu)`` observed as ``r = x +
N(0, sigma^2)``. See Notes.

Signals are rows, (B, M) in and (B, N) out. The products over the batch are BLAS's; the
element-wise work of each layer is one numba pass (:mod:`sparserec.learned._unfolded_kernels`).
The batch is split between the package's threads, each with one BLAS thread.

Notes
-----
The Bernoulli-Gaussian posterior mean. With ``s = sigma^2``, the two components give ``r ~
N(0, s)`` (``x = 0``) and ``r ~ N(0, nu + s)``; the posterior probability that ``x`` is
nonzero is ``p = logistic(u)`` with the log-odds

.. math::

    u = \theta_1 - \tfrac12 \log(1 + \nu/s) + \tfrac12 w, \qquad
    w = \frac{\nu}{\nu + s}\,\frac{r^2}{s} = g\,\frac{r^2}{s}, \qquad g = \frac{\nu}{\nu+s},

and given that it is nonzero its mean is ``g r``. Hence

.. math::

    \eta = p\,g\,r, \qquad
    \eta' = \frac{\partial\eta}{\partial r} = g\,p\,\bigl(1 + (1-p)\,w\bigr)
          = g\,p + g\,w\,P, \qquad P = p(1-p).

For backpropagation, with ``x`` any of ``sigma``, ``theta_0``, ``theta_1`` (``dp/du = P``,
``dP/du = P (1 - 2p)``)::

    d eta / dx  = r (g P du/dx + p dg/dx)
    d eta' / dx = dg/dx (p + w P) + g P [du/dx (1 + w (1 - 2p)) + dw/dx]
    d eta' / dr = g^2 (r / s) P (3 + w (1 - 2p))

where ``du/dsigma = (g - w (2 - g)) / sigma``, ``du/dtheta_0 = (w (1 - g) - g) / 2``,
``du/dtheta_1 = 1``, ``dg/dsigma = -2 g (1 - g) / sigma``, ``dg/dtheta_0 = g (1 - g)``,
``dw/dsigma = -2 w (2 - g) / sigma``, ``dw/dtheta_0 = w (1 - g)``. They are evaluated in
float64, with ``g = logistic(theta_0 - log s)``, ``log(1 + nu/s)`` as a softplus and ``p`` as
a logistic, so that nothing overflows; beyond ``|u| > 500`` the posterior is certain (``p``
is 0 or 1 and ``P`` vanishes): ``eta = g r`` or 0, with the derivatives of those.

The gradient flows through everything: ``B_t``, ``theta_t``, the noise levels ``sigma_t``
(the thresholds depend on ``v_t``) and the Onsager coefficients (``d eta'/dr`` is zero
almost everywhere for the soft threshold, but ``b_t`` depends on ``beta_t``).
"""

from dataclasses import dataclass

import numpy as np

from .._threads import over_rows, summed_over_rows
from .._validation import check_array, check_choice, check_int
from ..theory import minimax_threshold
from . import _unfolded_kernels as kernels
from .base import Network, Record, check_batch, check_layer_arrays

__all__ = ["LAMP", "LAMPParams", "DENOISERS", "FLOOR"]

#: The denoisers.
DENOISERS = ("soft", "bg")

#: The floor of the noise levels ``sigma_t`` (a residual of zero).
FLOOR = 1e-12


@dataclass
class LAMPParams(Record):
    """The parameters of a K-layer LAMP network.

    Attributes
    ----------
    A : ndarray of shape (M, N)
        The measurement matrix (fixed, not trained).
    B : ndarray of shape (K, N, M) or (1, N, M)
        The layers' matrices (untied), or one shared by every layer (tied).
    theta : ndarray of shape (K, 2)
        The denoiser's parameters per layer: ``(alpha, beta)`` for 'soft', ``(log nu,
        logit lam)`` for 'bg'.
    denoiser : {'soft', 'bg'}
    """

    A: np.ndarray
    B: np.ndarray
    theta: np.ndarray
    denoiser: str = "soft"

    @classmethod
    def initial(cls, A, n_layers, *, denoiser="soft", tied=False, alpha=None, nu=1.0,
                sparsity=0.1):
        """AMP's parameters: ``B_t = A^T N / ||A||_F^2`` (the matched filter for columns of
        unit mean norm).

        Parameters
        ----------
        A : array_like of shape (M, N)
        n_layers : int
            K.
        denoiser : {'soft', 'bg'}, default='soft'
        tied : bool, default=False
            One ``B`` for every layer.
        alpha : float, optional
            'soft': the threshold in units of the noise level; default
            :func:`sparserec.minimax_threshold` at ``min(M / N, 1)``, as :func:`sparserec.amp`.
            ``beta = 1``.
        nu, sparsity : float, default=1.0 and 0.1
            'bg': the prior's variance of the nonzero entries and their fraction.

        Returns
        -------
        LAMPParams
        """
        A = check_array(A, "A", ndim=2, dtype=np.float64)
        K = check_int(n_layers, "n_layers", low=1)
        check_choice(denoiser, "denoiser", DENOISERS)
        M, N = A.shape
        norm2 = float(np.sum(A * A))
        if norm2 == 0.0:
            raise ValueError("A is zero: nothing can be recovered")
        B = np.repeat((A.T * (N / norm2))[None], 1 if tied else K, axis=0)
        if denoiser == "soft":
            a = minimax_threshold(min(M / N, 1.0)) if alpha is None else float(alpha)
            theta = np.tile([a, 1.0], (K, 1))
        else:
            if not (nu > 0 and 0 < sparsity < 1):
                raise ValueError(f"nu must be positive and sparsity in (0, 1), got {nu!r} "
                                 f"and {sparsity!r}")
            theta = np.tile([np.log(nu), np.log(sparsity / (1 - sparsity))], (K, 1))
        return cls(A=A.copy(), B=B, theta=theta, denoiser=denoiser)


class LAMP(Network):
    """LAMP in the learned mode's protocol (``A`` and the denoiser are fixed).

    ``forward`` maps measurements ``X`` (B, M) to codes (B, N); ``loss_and_grad`` gives
    the gradients 'B' (of ``params.B``'s shape; tied: the sum over the layers) and 'theta'
    (K, 2), zero for the layers beyond ``depth``.
    """

    name = "lamp"
    Params = LAMPParams
    TRAINABLE = TRAINED = ("B", "theta")
    LAYERED = ("theta", "B")

    def forward(self, params, X, *, depth=None, dtype=None):
        net = _check(params, X, None, depth, dtype)
        X = net["X"]
        out = np.empty((len(X), net["A"].shape[1]), net["dtype"])

        def rows(start, stop):
            out[start:stop] = _forward(dict(net, X=X[start:stop]), store=False)[0]

        over_rows(rows, len(X))
        return out

    def loss_and_grad(self, params, X, Y, *, depth=None, names=None, dtype=None):
        net = _check(params, X, Y, depth, dtype)
        Y = np.asarray(Y, net["dtype"])
        size = Y.size
        squares, gB, g_theta = summed_over_rows(_loss_and_grad_rows, len(Y), net, Y,
                                                2.0 / size)
        return float(squares) / size, self.selected({"B": gB, "theta": g_theta}, names)

    def per_layer(self, params):
        theta = np.asarray(params.theta, dtype=np.float64)
        if params.denoiser == "soft":
            return {"threshold factor alpha": np.maximum(theta[:, 0], 0),
                    "scale beta": theta[:, 1]}
        return {"prior variance": np.exp(theta[:, 0]),
                "prior probability of a nonzero": 1 / (1 + np.exp(-theta[:, 1]))}


# ----------------------------------------------------------------------------------------
# internals


def _loss_and_grad_rows(net, Y, scale, start, stop):
    """The squared error of the rows ``start:stop`` of a batch and their gradients;
    ``scale`` is ``2 / Y.size`` for the whole batch."""
    net = dict(net, X=net["X"][start:stop])
    Y = Y[start:stop]
    X, n, dtype, A, Bs, theta = (net[k] for k in ("X", "n", "dtype", "A", "B", "theta"))
    Bn, M = X.shape
    N = A.shape[1]
    soft = net["denoiser"] == "soft"
    tied = Bs.shape[0] == 1
    H, V, R, sig, bco = _forward(net, store=True)
    residual = H[n] - Y
    r64 = residual.ravel().astype(np.float64)
    squares = float(np.dot(r64, r64))

    Hbar = residual * dtype.type(scale)  # dL/dh_n
    Tmp = Hbar  # dL/dh_t = Hbar - Tmp below the top layer
    subtract = False
    carry = np.zeros((Bn, M), dtype)  # dL/dv_t through v_{t+1} = ... + b_{t+1} v_t
    b_bar = np.zeros(Bn, dtype)  # dL/db_{t+1}
    Rbar = np.empty((n, Bn, N), dtype)
    sigma_bar = np.empty(Bn, dtype)
    Vbar = np.empty((Bn, M), dtype)
    W = np.empty((Bn, M), dtype)
    g_theta = np.zeros((theta.shape[0], 2))
    gB = np.zeros(Bs.shape, dtype)  # (summed over the chunks in float64)
    first = np.empty((0, M), dtype)
    floor = dtype.type(FLOOR)
    for t in range(n - 1, -1, -1):
        Bt = Bs[0 if tied else t]
        th0, th1 = theta[t]
        if soft:
            kernel, th0, th1 = kernels.soft_layer_backward, dtype.type(th0), dtype.type(th1)
        else:
            kernel = kernels.bg_layer_backward
        g_theta[t] = kernel(Hbar, Tmp,
                             subtract, R[t], sig[t], th0, th1, b_bar, M, Rbar[t], sigma_bar)
        np.dot(Rbar[t], Bt, out=W)
        kernels.lamp_residual_backward(W, carry,
                sigma_bar, V[t], sig[t], bco[t], V[t - 1] if t else first, floor, Vbar, b_bar)
        if not tied:
            gB[t] = Rbar[t].T @ V[t]
        if t:
            Hbar, Tmp, subtract = Rbar[t], Vbar @ A, True
    if tied:  # one product over all layers
        gB[0] = Rbar.reshape(-1, N).T @ V[:n].reshape(-1, M)
    return squares, gB, g_theta


def _forward(net, store):
    """The forward pass. ``store``: every layer's ``(H, V, R, sigma, b)`` with ``H[t] =
    h_t`` (t = 0..n); else two of each, reused, and the output first."""
    X, n, dtype, A, Bs, theta = (net[k] for k in ("X", "n", "dtype", "A", "B", "theta"))
    Bn, M = X.shape
    N = A.shape[1]
    soft = net["denoiser"] == "soft"
    depth = n if store else 2
    H = np.empty((depth + 1 if store else 2, Bn, N), dtype)
    H[0] = 0
    V = np.empty((depth, Bn, M), dtype)
    R = np.empty((depth, Bn, N), dtype)
    sig = np.empty((depth, Bn), dtype)
    bco = np.zeros((depth + 1 if store else 2, Bn), dtype)
    P = np.empty((Bn, M), dtype)
    Z = np.empty((Bn, N), dtype)
    floor = dtype.type(FLOOR)
    first = np.empty((0, M), dtype)
    for t in range(n):
        i, o = (t, t + 1) if store else (t % 2, (t + 1) % 2)
        if t == 0:
            kernels.lamp_residual(X, X, bco[i], first, floor, V[i], sig[i])
        else:
            np.dot(H[i], A.T, out=P)
            kernels.lamp_residual(X, P, bco[i],
                    V[o if not store else t - 1], floor, V[i], sig[i])
        np.dot(V[i], Bs[0 if Bs.shape[0] == 1 else t].T, out=Z)
        th0, th1 = theta[t]
        if soft:
            kernel, th0, th1 = kernels.soft_layer, dtype.type(th0), dtype.type(th1)
        else:
            kernel = kernels.bg_layer
        kernel(H[i], Z, sig[i], th0, th1, M, R[i],
                H[o], bco[o])
    if store:
        return H, V, R, sig, bco
    return (H[n % 2],)


def _check(params, X, Y, depth, dtype):
    """The validated inputs of a pass, as a dict."""
    denoiser = check_choice(params.denoiser, "params.denoiser", DENOISERS)
    A = check_array(params.A, "params.A", ndim=2, dtype=np.float64)
    M, N = A.shape
    theta = check_array(params.theta, "params.theta", ndim=2, dtype=np.float64)
    K = theta.shape[0]
    if theta.shape != (K, 2):
        raise ValueError(f"params.theta must have shape (K, 2), got {theta.shape}")
    Bs = check_layer_arrays(params.B, "B", K, ("N", N), ("M", M))
    X, n, dtype = check_batch(X, Y, depth, dtype, M, N, K)
    # (no copies in float64: a step must not copy a million parameters it only reads)
    return {"X": X, "n": n, "dtype": dtype, "A": np.ascontiguousarray(A, dtype),
            "B": np.ascontiguousarray(Bs, dtype),
            "theta": theta, "denoiser": denoiser}
