"""Tests of the data builders: the synthetic sequences and the paper's image task."""

import numpy as np
import pytest

from sparserec import dct_dictionary, make_bernoulli_gaussian, sample_image
from sparserec.datasets import (make_sparse_sequences, paper_task, perturbed_dictionary)
from sparserec.io import read_data


@pytest.fixture(scope="module")
def sources():
    """Small sources that need neither scikit-image nor a download: three disjoint crops."""
    image = sample_image() * 255.0
    return {"a": image[:64, :64], "b": image[64:, :64], "c": image[:, 64:]}


def test_sparse_sequences_are_sparse_in_the_dictionary_and_measured_by_A():
    X, Y, A, D = make_sparse_sequences(5, 10, 16, 6, n_nonzero=3, random_state=0)
    assert X.shape == (5, 10, 6) and Y.shape == (5, 10, 16)
    codes = Y @ D  # D orthonormal
    assert np.all(np.sum(np.abs(codes) > 1e-9, axis=-1) == 3)
    np.testing.assert_allclose(X, Y @ A.T)
    np.testing.assert_allclose(A @ A.T, np.eye(6), atol=1e-12)


def test_sparse_sequences_share_A_across_seeds_and_repeat_with_a_seed():
    first = make_sparse_sequences(3, random_state=1)
    again = make_sparse_sequences(3, random_state=1)
    other = make_sparse_sequences(3, random_state=2)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(first[2], other[2])
    assert not np.allclose(first[1], other[1])


def test_sparse_sequences_follow_the_transition():
    N = 8
    F = np.roll(np.eye(N), 1, axis=0)  # a circular shift
    _, Y_eye, _, D = make_sparse_sequences(2, 6, N, 4, random_state=3)
    _, Y, _, _ = make_sparse_sequences(2, 6, N, 4, transition=F, random_state=3)
    # the innovations y_t - F y_{t-1} are those of the F = I sequences
    np.testing.assert_allclose(Y[:, 1:] - Y[:, :-1] @ F.T, np.diff(Y_eye, axis=1), atol=1e-12)
    np.testing.assert_allclose(Y[:, 0], Y_eye[:, 0])


def test_sparse_sequences_add_measurement_noise():
    X, Y, A, _ = make_sparse_sequences(4, noise_std=0.1, random_state=0)
    assert 0.05 < np.std(X - Y @ A.T) < 0.2


def test_perturbed_dictionary_is_orthonormal_and_close():
    D = dct_dictionary(16)
    Q = perturbed_dictionary(D)
    np.testing.assert_allclose(Q.T @ Q, np.eye(16), atol=1e-12)
    assert np.all(np.sum(Q * D, axis=0) > 0)
    assert 0.1 < np.linalg.norm(Q - D) / 4 < 1


def test_paper_task_splits_by_source_image_and_normalises_on_train(sources):
    task = paper_task(9, 4, 4, size=32, measurement="bernoulli", images=sources,
                      validation_images=("b",), test_images=("c",), random_state=0)
    assert task.images == {"validation": ("b",), "test": ("c",), "train": ("a",)}
    assert task.X_train.shape == (9, 32, 8) and task.Y_test.shape == (4, 32, 32)
    train_pixels = task.to_pixels(task.Y_train) / 255.0
    assert np.mean(task.Y_train) == pytest.approx(0.0, abs=1e-12)
    # every frame's standard deviation is 16.433 on average (the reference code's rule)
    assert np.std(task.Y_train, axis=2).mean() == pytest.approx(16.433)
    assert np.mean(train_pixels) == pytest.approx(task.mean)
    np.testing.assert_allclose(task.X_val, task.Y_val @ task.A.T)
    # ||A D|| close to 1, as the paper's A / 3
    assert 0.7 < np.linalg.norm(task.A @ task.D, 2) < 1.4


def test_paper_task_crops_come_from_their_split_images(sources):
    task = paper_task(2, 2, 3, size=32, measurement="bernoulli", images=sources,
                      validation_images=("b",), test_images=("c",), random_state=1)
    values = task.to_pixels(task.Y_test)
    assert values.min() >= sources["c"].min() - 1e-6
    assert values.max() <= sources["c"].max() + 1e-6


def test_paper_task_is_reproducible_and_seeded(sources):
    kwargs = dict(size=32, measurement="bernoulli", images=sources, validation_images=("b",),
                  test_images=("c",))
    one, two = paper_task(3, 2, 2, random_state=5, **kwargs), paper_task(3, 2, 2, random_state=5,
                                                                       **kwargs)
    np.testing.assert_array_equal(one.X_train, two.X_train)
    assert not np.array_equal(one.Y_train, paper_task(3, 2, 2, random_state=6, **kwargs).Y_train)


def test_paper_task_uses_the_paper_matrices_at_size_128(sources):
    big = {name: np.kron(image, np.ones((2, 2))) for name, image in sources.items()}
    task = paper_task(2, 1, 1, images=big, validation_images=("b",), test_images=("c",))
    from sparserec import paper_matrices
    A, D, F = paper_matrices()
    np.testing.assert_array_equal(task.A, A)
    np.testing.assert_array_equal(task.D, D)
    np.testing.assert_array_equal(task.F, F)


def test_paper_task_adds_noise(sources):
    task = paper_task(4, 2, 2, size=32, measurement="bernoulli", noise_std=0.05,
                      images=sources, validation_images=("b",), test_images=("c",))
    assert 0.02 < np.std(task.X_train - task.Y_train @ task.A.T) < 0.1


@pytest.mark.parametrize("kwargs, message", [
    (dict(validation_images=("zz",), test_images=("c",)), "not among"),
    (dict(validation_images=("b",), test_images=("b",)), "both"),
    (dict(validation_images=("a", "b"), test_images=("c",)), "no image is left"),
    (dict(validation_images=("b",), test_images=("c",), measurement="paper"), "size=128"),
    (dict(validation_images=("b",), test_images=("c",), measurement="gauss"), "unknown"),
])
def test_paper_task_rejects_bad_settings(sources, kwargs, message):
    kwargs = {"measurement": "bernoulli", **kwargs}
    with pytest.raises(ValueError, match=message):
        paper_task(2, 1, 1, size=32, images=sources, **kwargs)


def test_paper_task_writes_npz_files_the_cli_reads(sources, tmp_path):
    task = paper_task(3, 2, 2, size=32, measurement="bernoulli", images=sources,
                      validation_images=("b",), test_images=("c",))
    paths = task.write_npz(tmp_path / "data")
    data = read_data(paths["test"])
    np.testing.assert_array_equal(data["x"], task.X_test)
    np.testing.assert_array_equal(data["y"], task.Y_test)
    np.testing.assert_array_equal(data["D"], task.D)
    assert set(paths) == {"train", "validation", "test"}


def test_natural_images_are_grey_8_bit():
    pytest.importorskip("skimage")
    from sparserec.datasets import natural_images
    images = natural_images(["camera", "astronaut", "china"])
    for image in images.values():
        assert image.ndim == 2 and 0 <= image.min() and 100 < image.max() <= 255
    with pytest.raises(ValueError, match="unknown image"):
        natural_images(["nope"])


def test_make_bernoulli_gaussian_has_the_asked_sparsity_and_snr():
    X, H, A = make_bernoulli_gaussian(400, n_features=200, n_measurements=100, sparsity=0.2,
                                      snr_db=20.0, random_state=0)
    assert X.shape == (400, 100) and H.shape == (400, 200) and A.shape == (100, 200)
    assert np.mean(H != 0) == pytest.approx(0.2, abs=0.01)
    noise = X - H @ A.T
    assert 10 * np.log10(np.sum((H @ A.T) ** 2) / np.sum(noise**2)) == pytest.approx(20.0)
    # A given matrix is used as is; no noise without an SNR.
    X2, H2, A2 = make_bernoulli_gaussian(5, A, snr_db=None, random_state=1)
    np.testing.assert_array_equal(A2, A)
    np.testing.assert_allclose(X2, H2 @ A.T)
