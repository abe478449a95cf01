"""Numba kernels of the conventional stacked RNN (:mod:`sparserec.learned.stacked_rnn`).

Arrays are layer- and time-major, (K, T, B, n), so that every layer's frame is a
contiguous (B, n) block, every step one matrix-matrix product over the batch, and every
layer's whole sequence a contiguous (T B, n) block for the weight gradients, which the
caller forms as a few large products after the backward pass.

The unit is the modReLU with a smoothed modulus, ``m = sqrt(z^2 + eps)``::

    f(z; b) = z max(m + b, 0) / m          (about sign(z) max(|z| + b, 0))
    df/dz   = 1 + b eps / m^3,  df/db = z / m    where m + b > 0, else 0.
"""

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def forward_kernel(Vx, WT, ST, b, h0, eps, Z, H):
    """The forward pass over time and layers, for a batch of sequences.

    Parameters
    ----------
    Vx : (T, B, n) array, ``V x_t`` for every frame and sequence.
    WT : (K, n, n) array, the recurrent matrices transposed, ``W_k^T``.
    ST : (K - 1, n, n) array, the matrices between layers transposed, ``S_k^T`` (layer
        k - 1 to layer k, k = 2..K).
    b : (K, n) array, the biases of the units.
    h0 : (K, B, n) array, every layer's state before the first frame.
    eps : float, the smoothing of the modulus.
    Z : (K, T, B, n) array, the pre-activations (written), or of length 0 along its first
        axis (not written).
    H : (K, T, B, n) array, every layer's states (written), or (1, T, B, n): the top
        layer's only.
    """
    T, B, n = Vx.shape
    K = WT.shape[0]
    store_z = Z.shape[0] == K
    all_layers = H.shape[0] == K
    h_prev = h0.copy()
    h_new = np.empty_like(h_prev)
    for t in range(T):
        for k in range(K):
            z = np.dot(h_prev[k], WT[k])  # W_k h^k_{t-1}
            if k == 0:
                z += Vx[t]
            else:
                z += np.dot(h_new[k - 1], ST[k - 1])  # S_k h^(k-1)_t
            hk = h_new[k]
            for i in range(B):
                for j in range(n):
                    v = z[i, j]
                    m = np.sqrt(v * v + eps)
                    a = m + b[k, j]
                    hk[i, j] = v * a / m if a > 0 else 0.0
            if store_z:
                Z[k, t] = z
            if all_layers:
                H[k, t] = hk
        if not all_layers:
            H[0, t] = h_new[K - 1]
        h_prev, h_new = h_new, h_prev


@njit(cache=True, nogil=True)
def backward_kernel(Gh, Z, W, S, b, eps, dZ, gb, gh0):
    """Backpropagation through time and through the K layers.

    Walks t = T..1 and k = K..1, carrying ``dL/dh^k_t`` from the output (top layer), from
    the layer above (through ``S_(k+1)``) and from step t+1 (through ``W_k``), and writes
    ``dL/dz^k_t`` for the weight gradients.

    Parameters
    ----------
    Gh : (T, B, n) array, ``dL/dh^K_t`` through the output ``y_t = U h^K_t + c``.
    Z : (K, T, B, n) array, the pre-activations of the forward pass.
    W : (K, n, n) array, the recurrent matrices.
    S : (K - 1, n, n) array, the matrices between layers.
    b : (K, n) array, the biases.
    eps : float, the smoothing of the modulus.
    dZ : (K, T, B, n) array, ``dL/dz^k_t`` (written).
    gb : (K, n) float64 array, ``dL/db`` (accumulated).
    gh0 : (K, B, n) array, ``dL/dh^k_0`` per sequence (written).
    """
    K, T, B, n = Z.shape
    carry = np.zeros((K, B, n), Gh.dtype)  # dL/dh^k_t through step t+1
    below = np.empty((B, n), Gh.dtype)  # dL/dh^k_t through the layer above
    for t in range(T - 1, -1, -1):
        for k in range(K - 1, -1, -1):
            if k == K - 1:
                g = Gh[t] + carry[k]
            else:
                g = below + carry[k]
            d = dZ[k, t]
            for i in range(B):
                for j in range(n):
                    v = Z[k, t, i, j]
                    m = np.sqrt(v * v + eps)
                    bk = b[k, j]
                    if m + bk > 0:
                        d[i, j] = g[i, j] * (1 + bk * eps / (m * m * m))
                        gb[k, j] += g[i, j] * (v / m)
                    else:
                        d[i, j] = 0.0
            carry[k] = np.dot(d, W[k])
            if k > 0:
                below = np.dot(d, S[k - 1])
    gh0[:, :, :] = carry
