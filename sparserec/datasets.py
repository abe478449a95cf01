"""Data for examples, demos and tests."""

from importlib import resources

import numpy as np

__all__ = ["sample_image"]


def sample_image():
    """A 128x128 grey natural image that ships with sparserec.

    The luminance of a crop of scikit-learn's sample photograph ``china.jpg`` (a temple
    roof; Creative Commons Attribution 2.0, by danielbuechele), averaged over 2x2 blocks.

    Returns
    -------
    ndarray of shape (128, 128), float64
        Intensities in [0, 1].
    """
    path = resources.files("sparserec") / "data" / "china_128.npz"
    with resources.as_file(path) as file, np.load(file, allow_pickle=False) as data:
        return data["image"].astype(np.float64) / 255.0
