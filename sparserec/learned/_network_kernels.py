"""Numba kernels of the soft-threshold recurrent networks (:mod:`sparserec.learned.network`).

Arrays are time-major, (T, B, ...), so that every frame is a contiguous (B, N) block and
every layer one matrix-matrix product over the batch.
"""

import numpy as np
from numba import njit

from ..solvers._base_kernels import soft


@njit(cache=True, nogil=True)
def forward_kernel(Vx, WT, ST, h0, thresh, n_layers, store, Z, H, h_out):
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
                    h[b, j] = soft(z[b, j], thresh, False)
            if store:
                Z[t, k] = z
                H[t, k] = h
        h_out[t] = h
        h_prev = h


@njit(cache=True, nogil=True)
def backward_kernel(Gh, Xt, Z, H, h0, S, W_stack, thresh, gS, gW_stack, gV, gh0):
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
