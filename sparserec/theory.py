"""The l1 phase transition of sparse recovery, from the minimax risk of soft thresholding.

A phase diagram maps the undersampling ``delta = M / N`` and the sparsity ``rho = K / M``
(K nonzeros among N, measured by M random projections) to the probability that a solver
recovers the signal. For l1 recovery with Gaussian matrices there is a sharp boundary,
``rho_l1(delta)`` (Donoho and Tanner), which :func:`donoho_tanner_rho` computes from the
minimax risk of soft thresholding (Donoho, Maleki and Montanari 2009); the threshold that
attains it, :func:`minimax_threshold`, is AMP's default. The empirical diagrams are
:mod:`sparserec.phase`'s.
"""

import numpy as np

__all__ = ["donoho_tanner_rho", "minimax_threshold"]

_Z_MAX = 10.0  # the optimal threshold is below 4 for delta >= 1e-4


# ----------------------------------------------------------------------------------------
# theory


def _rho_at(z, delta, sides):
    """rho at which soft thresholding at ``z`` stops reducing the state-evolution MSE.

    ``sides * psi(z)`` is the risk at 0 of soft thresholding at ``z`` with unit noise,
    ``E soft(Z; z)^2``; ``1 + z^2`` its risk for an infinitely large nonzero. The l1
    boundary is where the minimax risk at sparsity ``rho delta`` equals ``delta``.
    """
    from scipy.special import ndtr  # scipy.special is slow to import: not at start-up

    psi = (1 + z * z) * ndtr(-z) - z * np.exp(-0.5 * z * z) / np.sqrt(2 * np.pi)
    return (1 - sides * psi / delta) / (1 + z * z - sides * psi)


def _maximise(delta, sides):
    if delta >= 1.0:
        return 1.0, 0.0  # every sparsity: A is invertible (the formula is 0/0 at z = 0)
    from scipy.optimize import minimize_scalar  # slow to import: only when needed

    grid = np.linspace(1e-6, _Z_MAX, 2001)
    best = grid[np.argmax(_rho_at(grid, delta, sides))]
    step = grid[1] - grid[0]
    found = minimize_scalar(lambda z: -_rho_at(z, delta, sides), method="bounded",
                            bounds=(max(best - step, 1e-9), best + step),
                            options=dict(xatol=1e-10))
    return float(-found.fun), float(found.x)


def _over_deltas(delta, sides, index):
    deltas = np.asarray(delta, dtype=np.float64)
    if deltas.size == 0 or not np.all((deltas > 0) & np.isfinite(deltas)):
        raise ValueError(f"delta must be positive and finite, got {delta!r}")
    values = np.array([_maximise(d, sides)[index] for d in deltas.ravel()])
    return float(values[0]) if deltas.ndim == 0 else values.reshape(deltas.shape)


def donoho_tanner_rho(delta, positive=False):
    """The l1 phase transition ``rho_l1(delta)``: the largest ``K / M`` l1 recovers.

    Computed from the minimax risk of soft thresholding (Donoho, Maleki and Montanari,
    *Message-passing algorithms for compressed sensing*, PNAS 106(45):18914-18919, 2009,
    eq. 5)::

        rho(delta) = max_z [1 - (k/delta) psi(z)] / [1 + z^2 - k psi(z)],
        psi(z) = (1 + z^2) Phi(-z) - z phi(z),

    with ``k = 2`` for signed signals and ``k = 1`` for non-negative ones (``Phi``, ``phi``:
    the standard normal distribution and density). It is the boundary where AMP's state
    evolution stops converging to zero error, and it coincides with the weak threshold of
    Donoho and Tanner for l1 minimisation (the cross-polytope; the simplex for
    non-negative signals): for Gaussian matrices and ``N -> infinity``, l1 recovers
    almost all K-sparse signals below it and almost none above.

    Parameters
    ----------
    delta : float or array_like
        Undersampling ratios ``M / N`` (positive; 1 and above give 1).
    positive : bool, default=False
        The curve for non-negative signals (l1 with a positivity constraint).

    Returns
    -------
    float or ndarray
        ``rho_l1`` for each delta.

    See Also
    --------
    minimax_threshold : the maximising ``z``.

    Examples
    --------
    >>> round(donoho_tanner_rho(0.5), 4)
    0.3857
    >>> round(donoho_tanner_rho(0.5, positive=True), 4)
    0.5582
    """
    return _over_deltas(delta, 1 if positive else 2, 0)


def minimax_threshold(delta, positive=False):
    """The threshold ``z`` that attains :func:`donoho_tanner_rho` at ``delta``.

    It is the minimax threshold of soft thresholding for the sparsity of the phase
    transition, in units of the noise level: the default ``tau`` of :func:`sparserec.amp`,
    with which AMP's noiseless phase transition is the l1 curve (DMM 2009).

    Parameters
    ----------
    delta : float or array_like
        Undersampling ratios ``M / N`` (positive).
    positive : bool, default=False
        For non-negative signals.

    Returns
    -------
    float or ndarray

    Examples
    --------
    >>> round(minimax_threshold(0.5), 3)
    0.877
    """
    return _over_deltas(delta, 1 if positive else 2, 1)
