import numpy as np
import pytest

from sparserec import nmse_db, psnr, snr, support_recovery


def test_snr_and_nmse_on_a_known_error():
    y = np.array([3.0, 4.0])  # energy 25
    y_hat = y + np.array([0.5, 0.0])  # error energy 0.25: ratio 100
    assert snr(y, y_hat) == pytest.approx(20.0)
    assert nmse_db(y, y_hat) == pytest.approx(-20.0)


def test_scores_per_item_along_an_axis():
    y = np.array([[1.0, 0.0], [0.0, 2.0]])
    y_hat = np.array([[1.1, 0.0], [0.0, 2.0 + 0.02]])
    np.testing.assert_allclose(snr(y, y_hat, axis=1), [20.0, 40.0])


def test_psnr_with_and_without_a_data_range():
    image = np.array([[0.0, 255.0], [128.0, 64.0]])
    noisy = image + np.array([[1.0, -1.0], [1.0, -1.0]])  # MSE 1
    assert psnr(image, noisy, data_range=255) == pytest.approx(20 * np.log10(255))
    assert psnr(image, noisy) == pytest.approx(20 * np.log10(255))
    assert psnr(image, image) == np.inf


def test_support_recovery_counts_hits_and_exact_supports():
    h = np.array([[0, 1.0, 0, 2.0], [1.0, 0, 0, 0]])
    h_hat = np.array([[0, 0.9, 0.01, 2.1], [0, 0.5, 0, 0]])
    scores = support_recovery(h, h_hat, threshold=0.05)
    assert scores.precision == pytest.approx(2 / 3)
    assert scores.recall == pytest.approx(2 / 3)
    assert scores.f1 == pytest.approx(2 / 3)
    assert scores.exact == 0.5


def test_metrics_reject_mismatched_shapes():
    with pytest.raises(ValueError, match="shapes differ"):
        snr(np.zeros(3), np.zeros(4))


@pytest.mark.filterwarnings("error")  # a NumPy warning here would reach a user
def test_scores_of_a_zero_truth_are_defined_and_silent():
    zero = np.zeros(4)
    assert snr(zero, zero) == np.inf and psnr(zero, zero) == np.inf
    assert nmse_db(zero, zero) == -np.inf
    assert snr(zero, zero + 0.1) == -np.inf and nmse_db(zero, zero + 0.1) == np.inf
    assert psnr(zero, zero + 0.1) == -np.inf
    assert psnr(zero, zero + 0.1, data_range=1.0) == pytest.approx(20.0)
    y = np.array([[0.0, 0.0], [1.0, 0.0]])
    np.testing.assert_array_equal(snr(y, y, axis=1), [np.inf, np.inf])
    np.testing.assert_allclose(snr(y, y + [[0.0, 0.0], [0.1, 0.0]], axis=1), [np.inf, 20.0])
