"""Data for examples, demos and tests.

- :func:`sample_image`: one small grey natural image that ships with sparserec.
- :func:`make_bernoulli_gaussian`: the standard compressed-sensing problem of the AMP
  literature (Bernoulli-Gaussian codes, a Gaussian matrix, noise at a given SNR).
- :func:`make_sparse_sequences`: synthetic sequences of sparse codes that evolve slowly
  under a transition, for quick tests.
- :func:`paper_task`: the SISTA-RNN paper's sequential compressed-sensing task, built from
  natural images that ship inside installable packages (scikit-image's bundled images and
  scikit-learn's sample images; ``pip install sparserec[data]``).
"""

import os
from dataclasses import dataclass, field
from importlib import resources

import numpy as np

from ._validation import check_choice
from .matrices import bernoulli_matrix, paper_matrices, wavelet_dictionary

__all__ = ["sample_image", "make_bernoulli_gaussian", "make_sparse_sequences",
           "perturbed_dictionary", "paper_task", "PaperTask", "natural_images",
           "DEFAULT_VALIDATION_IMAGES", "DEFAULT_TEST_IMAGES"]

#: Natural photographs bundled with scikit-image (``skimage.data``) and scikit-learn.
#: Synthetic pictures (chessboard, logo, phantom, ...) are left out, and of the motorcycle
#: stereo pair only the left view, as the right one shows the same scene.
SKIMAGE_IMAGES = ("astronaut", "brick", "camera", "chelsea", "coffee", "coins", "grass",
                  "gravel", "hubble_deep_field", "immunohistochemistry", "moon",
                  "motorcycle", "retina", "rocket", "text")
SKLEARN_IMAGES = ("china", "flower")
DEFAULT_VALIDATION_IMAGES = ("chelsea", "rocket")
DEFAULT_TEST_IMAGES = ("astronaut", "camera", "coffee")

#: The reference code's ``std_cols``: the standard deviation of the normalised pixels.
PAPER_SCALE = 16.433

# ITU-R BT.601 luma, as MATLAB's rgb2gray (the paper's reference code is MATLAB/Theano).
_LUMA = np.array([0.299, 0.587, 0.114])


def sample_image(name="china"):
    """A 128x128 grey natural image that ships with sparserec.

    Parameters
    ----------
    name : {'china', 'astronaut'}, default='china'
        'china': the luminance of a crop of scikit-learn's sample photograph ``china.jpg``
        (a temple roof; Creative Commons Attribution 2.0, by danielbuechele), averaged over
        2x2 blocks. 'astronaut': the face of scikit-image's ``astronaut`` (Eileen Collins,
        NASA, public domain), the same way; a test image of :func:`paper_task`, never seen
        by the pre-trained SISTA-RNN (:func:`sparserec.load_pretrained`).

    Returns
    -------
    ndarray of shape (128, 128), float64
        Intensities in [0, 1].
    """
    check_choice(name, "name", ("china", "astronaut"))
    path = resources.files("sparserec") / "data" / f"{name}_128.npz"
    with resources.as_file(path) as file, np.load(file, allow_pickle=False) as data:
        return data["image"].astype(np.float64) / 255.0


# ----------------------------------------------------------------------------------------
# synthetic sequences


def make_bernoulli_gaussian(n_samples, A=None, *, n_features=500, n_measurements=250,
                            sparsity=0.1, snr_db=40.0, random_state=None):
    """Bernoulli-Gaussian codes measured by a Gaussian matrix, with white noise.

    The standard problem of the AMP literature (e.g. Borgerding, Schniter and Rangan, 2017):
    every entry of a code is nonzero with probability ``sparsity``, with a standard normal
    value; ``A`` has i.i.d. N(0, 1/M) entries (:func:`sparserec.gaussian_matrix`); the
    noise is white and Gaussian, scaled so that ``||A H^T||^2 / ||noise||^2`` over the whole
    batch is ``10^(snr_db / 10)``.

    Parameters
    ----------
    n_samples : int
    A : ndarray of shape (M, N), optional
        The measurement matrix; default a new Gaussian one of shape
        (``n_measurements``, ``n_features``), drawn first from ``random_state``.
    n_features, n_measurements : int, default=500, 250
        N and M, when ``A`` is not given.
    sparsity : float, default=0.1
        The probability of a nonzero.
    snr_db : float or None, default=40.0
        None: no noise.
    random_state : int, Generator or None

    Returns
    -------
    X : ndarray of shape (n_samples, M)
        Measurements ``x = A h + noise``.
    H : ndarray of shape (n_samples, N)
        Codes.
    A : ndarray of shape (M, N)
    """
    from .matrices import gaussian_matrix

    rng = np.random.default_rng(random_state)
    if A is None:
        A = gaussian_matrix(n_measurements, n_features, random_state=rng)
    A = np.asarray(A, dtype=np.float64)
    H = rng.standard_normal((n_samples, A.shape[1])) * (rng.random((n_samples, A.shape[1]))
                                                        < sparsity)
    X = H @ A.T
    if snr_db is not None:
        noise = rng.standard_normal(X.shape)
        X += noise * (np.linalg.norm(X) / np.linalg.norm(noise) * 10 ** (-snr_db / 20))
    return X, H, A


def make_sparse_sequences(n_sequences, n_steps=16, n_features=16, n_measurements=12,
                          n_nonzero=2, *, transition=None, dictionary=None,
                          switch_probability=0.02, drift=0.02, noise_std=0.0,
                          random_state=None, matrix_seed=100):
    """Sequences of sparse codes that evolve slowly, measured by a fixed matrix.

    Each sequence starts with ``n_nonzero`` active atoms of amplitude +-[0.5, 1.5]. At
    every step the amplitudes drift by ``drift`` times a standard normal, and with
    probability ``switch_probability`` one active atom is replaced by another. The signal
    follows the transition: ``y_1 = D h_1`` and ``y_t = F y_{t-1} + D (h_t - h_{t-1})``, so
    that ``y_t - F y_{t-1}`` is sparse in ``D`` (with ``F = I``, ``y_t = D h_t``).

    Parameters
    ----------
    n_sequences : int
    n_steps, n_features, n_measurements : int, default=16, 16, 12
        T, N and M.
    n_nonzero : int, default=2
        Active atoms per frame.
    transition : ndarray of shape (N, N), optional
        F; default the identity.
    dictionary : ndarray of shape (N, N), optional
        D; default the orthonormal DCT.
    switch_probability, drift : float, default=0.02, 0.02
    noise_std : float, default=0.0
        Standard deviation of Gaussian noise added to the measurements.
    random_state : int or None
        Seed of the codes (and of the noise).
    matrix_seed : int, default=100
        Seed of the measurement matrix, separate so that every ``random_state`` shares it.

    Returns
    -------
    X : ndarray of shape (n_sequences, T, M)
        Measurements ``x_t = A y_t`` (+ noise).
    Y : ndarray of shape (n_sequences, T, N)
        Signals.
    A : ndarray of shape (M, N)
        Measurement matrix with orthonormal rows.
    D : ndarray of shape (N, N)
        The dictionary.
    """
    from .matrices import dct_dictionary

    rng = np.random.default_rng(random_state)
    N, M, k = n_features, n_measurements, n_nonzero
    D = dct_dictionary(N) if dictionary is None else np.asarray(dictionary, dtype=np.float64)
    A = np.linalg.qr(np.random.default_rng(matrix_seed).standard_normal((N, M)))[0].T
    codes = np.zeros((n_sequences, n_steps, N))
    for i in range(n_sequences):
        support = rng.choice(N, k, replace=False)
        amplitude = np.sign(rng.standard_normal(k)) * rng.uniform(0.5, 1.5, k)
        for t in range(n_steps):
            if rng.random() < switch_probability:
                support[rng.integers(k)] = rng.choice(np.setdiff1d(np.arange(N), support))
            amplitude = amplitude + drift * rng.standard_normal(k)
            codes[i, t, support] = amplitude
    Y = codes @ D.T
    if transition is not None:
        F = np.asarray(transition, dtype=np.float64)
        innovations = np.diff(Y, axis=1)
        for t in range(1, n_steps):
            Y[:, t] = Y[:, t - 1] @ F.T + innovations[:, t - 1]
    X = Y @ A.T
    if noise_std:
        X = X + noise_std * rng.standard_normal(X.shape)
    return X, Y, A, D


def perturbed_dictionary(D, scale=0.5, random_state=7):
    """An orthonormal dictionary at some distance from ``D`` (a start for training).

    Parameters
    ----------
    D : ndarray of shape (N, N)
        An orthonormal dictionary.
    scale : float, default=0.5
        Size of the Gaussian perturbation (relative to the norm of an atom).
    random_state : int or None, default=7

    Returns
    -------
    ndarray of shape (N, N)
        Orthonormal, each atom signed to agree with the corresponding atom of ``D``.
    """
    N = len(D)
    noise = np.random.default_rng(random_state).standard_normal((N, N)) / np.sqrt(N)
    Q = np.linalg.qr(D + scale * noise)[0]
    return Q * np.sign(np.sum(Q * D, axis=0))


# ----------------------------------------------------------------------------------------
# the paper's task on natural images


def natural_images(names=None):
    """Grey natural images that ship inside installable packages, by name.

    Parameters
    ----------
    names : iterable of str, optional
        Among :data:`SKIMAGE_IMAGES` (needs scikit-image) and :data:`SKLEARN_IMAGES`;
        default all of them.

    Returns
    -------
    dict of str to ndarray of shape (height, width), float64
        Luminance in [0, 255] (ITU-R BT.601 weights for colour images).

    Raises
    ------
    ImportError
        When a scikit-image image is asked for and scikit-image is not installed.
    """
    names = SKIMAGE_IMAGES + SKLEARN_IMAGES if names is None else tuple(names)
    images = {}
    for name in names:
        if name in SKLEARN_IMAGES:
            from sklearn.datasets import load_sample_image
            image = load_sample_image(f"{name}.jpg")
        elif name in SKIMAGE_IMAGES:
            try:
                from skimage import data
            except ImportError:
                raise ImportError(f"image {name!r} needs scikit-image: "
                                  "pip install 'sparserec[data]'") from None
            image = (data.stereo_motorcycle()[0] if name == "motorcycle"
                     else getattr(data, name)())
        else:
            raise ValueError(f"unknown image {name!r}; choose among "
                             f"{', '.join(SKIMAGE_IMAGES + SKLEARN_IMAGES)}")
        image = np.asarray(image, dtype=np.float64)
        if image.ndim == 3:
            image = image[..., :3] @ _LUMA
        if image.max() <= 1.0:  # a float image in [0, 1]
            image = image * 255.0
        images[name] = image
    return images


@dataclass
class PaperTask:
    """The sequences of :func:`paper_task`, normalised, with what is needed to undo it.

    Each crop is one sequence: frame ``t`` is the crop's column ``t``, so ``Y[i, t]`` is
    ``crop[:, t]`` and the crop is ``Y[i].T``.

    Attributes
    ----------
    X_train, X_val, X_test : ndarray of shape (n, T, M)
        Measurements ``x_t = A y_t`` (+ noise).
    Y_train, Y_val, Y_test : ndarray of shape (n, T, N)
        Normalised signals ``(pixel / 255 - mean) / std`` (see ``std``).
    A : ndarray of shape (M, N)
    D : ndarray of shape (N, N)
        The initial (wavelet) dictionary.
    F : ndarray of shape (N, N)
        The initial transition (the identity).
    mean : float
        Mean of ``pixel / 255`` over all training crops.
    std : float
        The mean standard deviation of the training frames (columns of ``pixel / 255``)
        divided by the ``scale`` of :func:`paper_task`: the normalised signal is
        ``(pixel / 255 - mean) / std``.
    images : dict
        The source image names of each split: keys 'train', 'validation', 'test'.
    """

    X_train: np.ndarray
    Y_train: np.ndarray
    X_val: np.ndarray
    Y_val: np.ndarray
    X_test: np.ndarray
    Y_test: np.ndarray
    A: np.ndarray
    D: np.ndarray
    F: np.ndarray
    mean: float
    std: float
    images: dict = field(default_factory=dict)

    def to_pixels(self, Y):
        """Undo the normalisation: 8-bit grey images, clipped to [0, 255].

        Parameters
        ----------
        Y : ndarray of shape (n, T, N)
            Normalised sequences (signals or reconstructions).

        Returns
        -------
        ndarray of shape (n, N, T)
            The images (rows, columns), float64.
        """
        pixels = (np.asarray(Y, dtype=np.float64) * self.std + self.mean) * 255.0
        return np.clip(pixels, 0.0, 255.0).transpose(0, 2, 1)

    def write_npz(self, directory):
        """Write train.npz, validation.npz and test.npz in the CLI's data format.

        Each holds ``x`` (n, T, M), ``y`` (n, T, N), ``A``, ``D`` and ``F``, and the
        normalisation ``mean`` and ``std`` (ignored by the CLI).

        Parameters
        ----------
        directory : str or path-like
            Created if missing.

        Returns
        -------
        dict of str to str
            The path of each split's file.
        """
        from .io import write_npz

        os.makedirs(directory, exist_ok=True)
        paths = {}
        for split, X, Y in (("train", self.X_train, self.Y_train),
                            ("validation", self.X_val, self.Y_val),
                            ("test", self.X_test, self.Y_test)):
            paths[split] = os.path.join(directory, f"{split}.npz")
            write_npz(paths[split], dict(x=X, y=Y, A=self.A, D=self.D, F=self.F,
                                         mean=np.float64(self.mean),
                                         std=np.float64(self.std)))
        return paths


def paper_task(n_train=1000, n_val=100, n_test=100, *, size=128, n_measurements=None,
               measurement="paper", noise_std=0.0, scale=PAPER_SCALE,
               validation_images=DEFAULT_VALIDATION_IMAGES,
               test_images=DEFAULT_TEST_IMAGES, images=None, dtype=np.float64,
               random_state=0):
    """The SISTA-RNN paper's sequential compressed-sensing task on natural images.

    Grey ``size x size`` crops of natural images, each crop's columns one sequence
    (N = T = size), measured frame by frame with ``x_t = A y_t``. The paper (Wisdom et al.,
    2016) used Caltech-256, which cannot be downloaded here; the images that ship with
    scikit-image and scikit-learn stand in (see :func:`natural_images`).

    - Crops: a random square of side ``s`` drawn uniformly in ``[size, min(height,
      width)]``, smoothed and resized to ``size`` (the paper resized whole images, so
      mixing scales keeps some of that coarseness), flipped left-right with probability
      1/2 and up-down with probability 1/2. Every source image gives the same number of
      crops (up to one) within its split.
    - Split by source image: the validation and test images are never seen in training.
    - Normalisation (the reference code's): luminance / 255, minus the mean of all the
      training pixels, divided by the mean of the standard deviations of the training
      crops' columns (the frames), times ``scale``: the reference code's 16.433 (its
      ``std_cols``), which sets the size of the signals against the paper's threshold
      ``lam1 / alpha = 0.5``. Both scalars come from the training split only (the
      reference code computed them on all the images).
    - Measurements: ``measurement='paper'`` uses the paper's Bernoulli ``A`` divided by 3
      and its Daubechies wavelet ``D`` (N = 128, M = 32 only); ``'bernoulli'`` a seeded
      Bernoulli matrix divided by ``1 + sqrt(N/M)`` (so that ``||A D|| ~ 1``, as in the
      paper) with a db4 wavelet ``D``; or an (M, N) array. F is the identity.

    Parameters
    ----------
    n_train, n_val, n_test : int, default=1000, 100, 100
        Number of crops (sequences) in each split.
    size : int, default=128
        N = T, the side of the crops; a multiple of 8 for the wavelet dictionary.
    n_measurements : int, optional
        M; default ``size // 4`` (the paper's compression ratio 4).
    measurement : {'paper', 'bernoulli'} or ndarray, default='paper'
    noise_std : float, default=0.0
        Standard deviation of Gaussian noise added to the measurements (normalised scale).
    scale : float, default=16.433
        Standard deviation of the normalised training pixels.
    validation_images, test_images : tuple of str
        The source images of the validation and test splits; all the others of ``images``
        are for training.
    images : dict of str to ndarray, optional
        Source images (grey, values in [0, 255]); default :func:`natural_images`.
    dtype : {float64, float32}, default=float64
        Of X and Y.
    random_state : int, default=0
        Seed of the crops, flips, the seeded ``A`` and the noise.

    Returns
    -------
    PaperTask
    """
    rng = np.random.default_rng(random_state)
    M = size // 4 if n_measurements is None else n_measurements
    if images is None:
        images = natural_images()
    splits = {"validation": tuple(validation_images), "test": tuple(test_images)}
    held_out = set(splits["validation"]) | set(splits["test"])
    missing = held_out - images.keys()
    if missing:
        raise ValueError(f"validation or test images {sorted(missing)} are not among the "
                         f"source images {sorted(images)}")
    if set(splits["validation"]) & set(splits["test"]):
        raise ValueError("an image cannot be both in the validation and the test split")
    splits["train"] = tuple(name for name in images if name not in held_out)
    if not splits["train"]:
        raise ValueError("no image is left for training")

    crops = {split: _crops(images, splits[split], n, size, rng)
             for split, n in (("train", n_train), ("validation", n_val), ("test", n_test))}
    scaled = {split: c / 255.0 for split, c in crops.items()}
    mean = float(scaled["train"].mean())
    std = float(scaled["train"].std(axis=1).mean())  # of each column (frame) of each crop
    # (n, rows, columns) -> (n, T = columns, N = rows): column t is frame t.
    Y = {split: ((s - mean) * (scale / std)).transpose(0, 2, 1).astype(dtype)
         for split, s in scaled.items()}

    A, D = _measurement(measurement, size, M, rng)
    F = np.eye(size)
    X = {}
    for split in ("train", "validation", "test"):
        x = Y[split] @ A.T
        if noise_std:
            x = x + noise_std * rng.standard_normal(x.shape)
        X[split] = x.astype(dtype)
    return PaperTask(X_train=X["train"], Y_train=Y["train"], X_val=X["validation"],
                     Y_val=Y["validation"], X_test=X["test"], Y_test=Y["test"], A=A, D=D,
                     F=F, mean=mean, std=std / scale, images=splits)


def _measurement(measurement, size, M, rng):
    if isinstance(measurement, str) and measurement == "paper":
        if (size, M) != (128, 32):
            raise ValueError("measurement='paper' is for size=128 and n_measurements=32; "
                             "use measurement='bernoulli' for other sizes")
        A, D, _ = paper_matrices()
        return A, D
    D = wavelet_dictionary(size, "db4", level=min(3, int(np.log2(size)) - 1))
    if isinstance(measurement, str):
        if measurement != "bernoulli":
            raise ValueError(f"unknown measurement {measurement!r}; choose 'paper', "
                             "'bernoulli' or give an (M, N) array")
        return bernoulli_matrix(M, size, random_state=rng) / (1 + np.sqrt(size / M)), D
    A = np.asarray(measurement, dtype=np.float64)
    if A.shape != (M, size):
        raise ValueError(f"measurement matrix has shape {A.shape}; expected ({M}, {size})")
    return A, D


def _crops(images, names, n, size, rng):
    """``n`` random crops (resized to ``size``, flipped) shared evenly among ``names``."""
    from scipy import ndimage  # slow to import: not at the command line's start-up

    out = np.empty((n, size, size))
    counts = np.full(len(names), n // len(names))
    counts[:n % len(names)] += 1
    i = 0
    for name, count in zip(names, counts, strict=True):
        image = images[name]
        side_max = min(image.shape)
        if side_max < size:
            raise ValueError(f"image {name!r} of shape {image.shape} is smaller than the "
                             f"crop size {size}")
        for _ in range(count):
            side = int(rng.integers(size, side_max + 1))
            r = int(rng.integers(0, image.shape[0] - side + 1))
            c = int(rng.integers(0, image.shape[1] - side + 1))
            crop = image[r:r + side, c:c + side]
            if side > size:
                # Anti-aliasing before the downscale, with skimage.transform.resize's sigma.
                factor = side / size
                crop = ndimage.gaussian_filter(crop, max(0.0, (factor - 1) / 2))
                crop = ndimage.zoom(crop, size / side, order=1, grid_mode=True,
                                    mode="nearest")[:size, :size]
            if rng.random() < 0.5:
                crop = crop[:, ::-1]
            if rng.random() < 0.5:
                crop = crop[::-1]
            out[i] = crop
            i += 1
    return out
