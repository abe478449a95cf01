"""Tests of the l1 phase transition of sparse recovery (sparserec.theory)."""

import numpy as np
import pytest
from scipy import integrate
from scipy.stats import norm

import sparserec
from sparserec.theory import _rho_at, donoho_tanner_rho, minimax_threshold


@pytest.mark.parametrize("delta, positive, expected", [
    # DMM 2009 eq. 5 as tabulated by an independent implementation (Magni, rho_se doctests)
    (0.19, False, 0.238), (0.19, True, 0.318), (0.5, False, 0.386), (0.5, True, 0.558),
    # the cross-polytope and simplex weak thresholds at delta = 1/2 (Donoho and Tanner)
    (0.5, False, 0.3857), (0.5, True, 0.5582),
])
def test_theoretical_curve_at_published_points(delta, positive, expected):
    decimals = len(str(expected).split(".")[1])
    assert round(donoho_tanner_rho(delta, positive=positive), decimals) == expected


def test_at_the_curve_the_minimax_risk_equals_delta():
    """Independent check of the closed form: integrate the soft-threshold risk numerically.

    At ``rho_l1(delta)``, with ``z`` the minimax threshold and ``eps = rho delta``, the risk
    of soft thresholding against the least favourable eps-sparse signal,
    ``eps (1 + z^2) + (1 - eps) E soft(Z; z)^2``, equals ``delta`` (state evolution's slope
    at zero error is 1).
    """
    for delta in (0.1, 0.25, 0.5, 0.75, 0.9):
        rho, z = donoho_tanner_rho(delta), minimax_threshold(delta)
        risk_at_zero = 2 * integrate.quad(lambda u, z=z: (u - z) ** 2 * norm.pdf(u), z,
                                          np.inf)[0]
        eps = rho * delta
        assert eps * (1 + z * z) + (1 - eps) * risk_at_zero == pytest.approx(delta, rel=1e-7)


def test_the_curve_is_a_maximum_over_thresholds_and_increases():
    deltas = np.linspace(0.05, 0.95, 19)
    rhos = donoho_tanner_rho(deltas)
    assert rhos.shape == deltas.shape and np.all(np.diff(rhos) > 0)
    z = minimax_threshold(0.3)
    assert _rho_at(np.array([z - 0.05, z + 0.05]), 0.3, 2).max() < donoho_tanner_rho(0.3)
    assert donoho_tanner_rho(1.0) == 1.0 and donoho_tanner_rho(0.01) < 0.13
    assert np.all(donoho_tanner_rho(deltas, positive=True) > rhos)


def test_bad_deltas_are_refused():
    for bad in (0.0, -0.5, np.nan, []):
        with pytest.raises(ValueError, match="delta must be positive"):
            donoho_tanner_rho(bad)


def test_the_theory_is_at_the_top_level_and_no_longer_in_phase():
    assert sparserec.donoho_tanner_rho is donoho_tanner_rho
    assert sparserec.minimax_threshold is minimax_threshold
    for name in ("SOLVERS", "donoho_tanner_rho", "minimax_threshold"):
        assert name not in sparserec.phase.__all__
