"""The learned estimators: every network of the learned mode as a scikit-learn regressor.

One base, :class:`LearnedRegressor`, owns fit, predict, score and save, the validation
split, warm starts and the training history, over the one trainer
(:func:`sparserec.learned.train`), as skglm's estimators stay thin over ``_glm_fit``. A
subclass names its network, maps its fitted attributes to the network's parameters
(``_ATTRIBUTES``), builds the initial parameters from its hyperparameters, and checks the
hyperparameters of its own.
"""

import dataclasses
import inspect
import json
import warnings
from string import Template

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.metrics import r2_score
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from .. import io
from .._validation import ARRAY, BOOLEAN, DTYPE, RANDOM_STATE, Rule, check_array, \
    check_choice, check_dtype, check_int, check_number, check_parameters, check_square, \
    integer, one_of, real
from ..learned import ALISTA, LAMP, LISTA, LISTACPSS, SISTARNN, SISTAParams, \
    UnstableModelWarning, check_learn, train
from ..matrices import make_dictionary

__all__ = ["LearnedRegressor", "SISTARegressor", "LISTARegressor", "LAMPRegressor",
           "ALISTARegressor", "LISTACPSSRegressor", "ESTIMATORS", "load_model", "load_pretrained"]

#: The most layers a network may have.
MAX_LAYERS = 1000

#: The training history every learned estimator keeps (and saves).
HISTORY = ("loss_curve_", "validation_scores_", "layer_scores_", "best_epoch_", "n_epochs_",
           "n_unstable_")

#: An output beyond this many times the largest training target is no recovery: the
#: network is unstable on that sample. (Measured on DCT-sparse sequences: trained stably,
#: the largest output stays below 0.95 times it; the sequences of too large a learning
#: rate that exceed 1.5 times it score 0 to -6 dB SNR.)
UNSTABLE_FACTOR = 2.0

# The parameters every learned estimator shares, documented once: each class's docstring
# names their place with "<training parameters>", filled with the class's own defaults.
_TRAINING_PARAMETERS = """\
optimizer : {'adam', 'rmsprop'}, default=$optimizer
    RMSprop with decay 0.9 (the SISTA-RNN paper's), or Adam.
learning_rate : float, default=$learning_rate
    The optimiser's step.
batch_size : int, default=$batch_size
    Training samples per mini-batch.
max_epochs : int, default=$max_epochs
    Passes over the training data (per stage when ``layerwise``).
n_iter_no_change : int, default=$n_iter_no_change
    End training (a stage when ``layerwise``) after this many epochs without an
    improvement of the validation NMSE by more than ``tol`` dB. None: never.
tol : float, default=$tol
    In dB of validation NMSE (relative training loss without validation).
clip_norm : float, default=$clip_norm
    Clip the joint norm of the gradients to this value. None: no clipping.
validation_fraction : float, default=$validation_fraction
    The fraction of the training pairs held out to choose the best parameters (0: choose
    on the training loss); ignored when ``fit`` is given ``validation_data``.
warm_start : bool, default=$warm_start
    Start from the fitted parameters of a previous ``fit`` instead of the classical
    solver.
dtype : {'float64', 'float32'}, default=$dtype
    Precision of the network's computations.
random_state : int, RandomState or None, default=$random_state
    Seed of the validation split and of the mini-batch order.
verbose : bool, default=$verbose
    Print the loss, the validation NMSE and the time of every epoch; otherwise a
    progress line is shown on a terminal."""

_HISTORY_ATTRIBUTES = """\
loss_curve_ : list of float
    Mean training loss (MSE) of every epoch (of every stage, one after the other).
validation_scores_ : list of float
    Validation NMSE in dB after every epoch (lower is better).
layer_scores_ : list of float
    Layer-wise training with validation: the best validation NMSE (dB) of the network of
    1, 2, ..., ``n_layers`` layers; empty otherwise.
best_epoch_ : int
    The epoch whose parameters were kept (0: the initial ones).
n_epochs_ : int
    Epochs run (0 without ``Y``).
stop_reason_ : str
    Why training ended, as :class:`sparserec.learned.TrainingResult` says it.
n_unstable_ : int
    Validation samples (sequences) on which the fitted network's output is not finite
    or beyond twice the largest training target; each fit warns of them
    (:class:`sparserec.UnstableModelWarning`)."""


_LAYERWISE_PARAMETERS = """\
layerwise : bool, default=$layerwise
    Train layer by layer, as the networks' authors do: for every depth, the new layer
    alone, then all layers at the smaller learning rates of ``refinements``. False: all
    layers together.
refinements : tuple of float, default=$refinements
    The learning-rate factors of the stages that train all layers after each new one."""

_SUPPORT_SELECTION_PARAMETERS = """\
p : float, default=$p
    Support selection lets ``p_k = min(k p, p_max)`` percent of the entries through in
    layer k unchanged. 0: none.
p_max : float, default=$p_max
    Its ceiling, in percent."""

_ONE_SHOT_EXAMPLE = """\
Examples
--------
>>> import numpy as np
>>> from sparserec import $name, gaussian_matrix
>>> A = gaussian_matrix(20, 40, random_state=0)
>>> rng = np.random.default_rng(0)
>>> H = rng.standard_normal((200, 40)) * (rng.random((200, 40)) < 0.1)
>>> model = $name(A, n_layers=3, max_epochs=2, random_state=0)
>>> model.fit(H @ A.T, H).predict(H[:5] @ A.T).shape
(5, 40)"""

_ONE_SHOT_ATTRIBUTE = """\
measurement_matrix_ : ndarray of shape (M, N)
    The measurement matrix ``A``.
"""

# Each marker of a docstring and the section that replaces it.
_SECTIONS = {"<training parameters>": _TRAINING_PARAMETERS,
             "<layer-wise parameters>": _LAYERWISE_PARAMETERS,
             "<support selection parameters>": _SUPPORT_SELECTION_PARAMETERS,
             "<history attributes>": _HISTORY_ATTRIBUTES}


def _documented(cls):
    """Fill the shared sections of a learned estimator's docstring (the markers of
    ``_SECTIONS``) with its name and defaults; a one-shot network's also gets its
    ``measurement_matrix_`` and an example."""
    values = {name: repr(p.default)
              for name, p in inspect.signature(cls.__init__).parameters.items()}
    values["name"] = cls.__name__
    one_shot = cls._network.input_ndim == 2
    indent = " " * 4
    doc = cls.__doc__.rstrip() + ("\n\n<example>" if one_shot else "")
    sections = dict(_SECTIONS, **{
        "<history attributes>": (_ONE_SHOT_ATTRIBUTE if one_shot else "") + _HISTORY_ATTRIBUTES,
        "<example>": _ONE_SHOT_EXAMPLE})
    for marker, section in sections.items():
        if marker in doc:
            text = "\n".join(indent + line if line else line
                             for line in Template(section).substitute(values).splitlines())
            doc = doc.replace(indent + marker, text).replace("\n" + marker, "\n" + text)
    cls.__doc__ = doc + "\n"
    return cls


def _check_factors(value, name):
    if isinstance(value, str) or np.asarray(value, dtype=object).ndim != 1:
        raise TypeError(f"{name} must be a sequence of positive learning-rate factors, got "
                        f"{value!r}")
    for factor in value:
        check_number(factor, name, low=0, low_open=True)


def _check_learn(value, name):
    if not isinstance(value, str) and np.asarray(value, dtype=object).ndim != 1:
        raise TypeError(f"{name} must be a name or a sequence of names, got {value!r}")
    check_learn(value)


def _check_name(value, name):
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a name, got {value!r}")


# The rules of the hyperparameters that are particular to a network or two.
_NAME = Rule(_check_name, "a name of sparserec.make_dictionary")
_LEARN = Rule(_check_learn, "a sequence of names of trainable parameters")
_LAYERWISE = {"layerwise": [BOOLEAN],
              "refinements": [Rule(_check_factors, "a sequence of positive factors")]}


class LearnedRegressor(RegressorMixin, BaseEstimator):
    """The base of the learned estimators: fit, predict, score and save for every network.

    A subclass sets ``_network`` (its :class:`~sparserec.learned.base.Network` class) and
    defines ``_initial_params(A, Y)``. It may set ``_ATTRIBUTES`` (fitted attribute ->
    field of the network's parameters; default ``measurement_matrix_`` for ``A`` and
    ``name_`` for every trained ``name``) and refine ``_make_network()`` (a network with
    settings), ``_parameter_constraints`` (its own hyperparameters' domains, added to the
    base's), ``_check_combinations()``, ``_names()`` (the trained parameters) and
    ``_fixed_fields()``. Hyperparameters ``layerwise`` and ``refinements`` turn on
    layer-wise training. ``measurement_matrix_`` is always fitted.
    """

    _network = None
    #: The domain of every hyperparameter (:func:`sparserec._validation.check_parameters`).
    _parameter_constraints = {
        "measurement_matrix": [ARRAY],
        "n_layers": [integer(1, MAX_LAYERS)],
        "optimizer": [one_of("rmsprop", "adam")],
        "learning_rate": [real(0, low_open=True)],
        "batch_size": [integer(1)],
        "max_epochs": [integer(1)],
        "n_iter_no_change": [integer(1), None],
        "tol": [real(0)],
        "clip_norm": [real(0, low_open=True), None],
        "validation_fraction": [real(0, 1, high_open=True)],
        "warm_start": [BOOLEAN],
        "dtype": [DTYPE],
        "random_state": [RANDOM_STATE],
        "verbose": [BOOLEAN, integer(0)],
    }
    _ATTRIBUTES = {}  # default: measurement_matrix_ for A, and name_ for every trained name
    _EXTRA = ()  # other fitted arrays, saved with the model
    _OPTIONAL = ()  # fitted arrays that may be None (then not saved)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "_ATTRIBUTES" not in vars(cls) and cls._network is not None:
            fields = {f.name for f in dataclasses.fields(cls._network.Params)}
            cls._ATTRIBUTES = {**({"measurement_matrix_": "A"} if "A" in fields else {}),
                               **{f"{name}_": name for name in cls._network.TRAINED}}

    # ---- what a subclass may refine

    def _make_network(self):
        return self._network()

    def _names(self):
        return None  # the network's default

    def _training_options(self):
        if not hasattr(self, "layerwise"):
            return {}
        return dict(layerwise=bool(self.layerwise), refinements=tuple(self.refinements))

    def _fixed_fields(self):
        """Fields of the parameters that are hyperparameters, not fitted arrays."""
        return {}

    # ---- the face

    def fit(self, X, Y=None, *, validation_data=None):
        """Train the network on pairs of measurements and targets (or only set it up).

        Parameters
        ----------
        X : array_like of shape (n_samples, M), or (n_sequences, T, M) for a recurrent network
            Measurements.
        Y : array_like of shape (n_samples, N), or (n_sequences, T, N), optional
            The targets. Without them nothing is learned: the network is the classical
            solver it unfolds.
        validation_data : tuple (X_val, Y_val), optional
            Pairs to choose the best parameters on, instead of holding out
            ``validation_fraction`` of ``X`` (all of ``X`` is then trained on).

        Returns
        -------
        self
        """
        self._check_hyperparameters()
        dtype = check_dtype(self.dtype)
        A = check_array(self.measurement_matrix, "measurement_matrix", ndim=2,
                        dtype=np.float64)
        M, N = A.shape
        ndim = self._network.input_ndim
        X = check_array(X, "X", ndim=ndim, dtype=dtype)
        if X.shape[-1] != M:
            raise ValueError(f"X has {X.shape[-1]} measurements per "
                             f"{'frame' if ndim == 3 else 'row'} but measurement_matrix has "
                             f"M={M} rows")
        if Y is not None:
            Y = check_array(Y, "Y", ndim=ndim, dtype=dtype)
            if Y.shape != X.shape[:-1] + (N,):
                raise ValueError(f"Y must have shape {X.shape[:-1] + (N,)} to match X and "
                                 f"measurement_matrix, got {Y.shape}")
        warm = self.warm_start and hasattr(self, "n_epochs_")
        params = self._params() if warm else self._initial_params(A, Y)
        self.measurement_matrix_ = A
        self.loss_curve_, self.validation_scores_, self.layer_scores_ = [], [], []
        self.best_epoch_ = self.n_epochs_ = self.n_unstable_ = 0
        self.stop_reason_ = "not trained"
        if Y is not None:
            rng = check_random_state(self.random_state)
            if validation_data is not None:
                X_fit, Y_fit = X, Y
                X_val, Y_val = _validation_pair(validation_data, X, Y, dtype)
            else:
                X_fit, Y_fit, X_val, Y_val = _hold_out(X, Y, self.validation_fraction, rng)
            result = train(
                self._make_network(), params, X_fit, Y_fit, names=self._names(),
                X_val=X_val, Y_val=Y_val, optimizer=self.optimizer,
                learning_rate=self.learning_rate, batch_size=self.batch_size,
                max_epochs=self.max_epochs, n_iter_no_change=self.n_iter_no_change,
                tol=self.tol, clip_norm=self.clip_norm, dtype=dtype,
                random_state=rng.randint(2**31), verbose=self.verbose,
                **self._training_options())
            params = result.params
            self.loss_curve_ = list(result.loss_curve)
            self.validation_scores_ = list(result.validation_scores)
            self.best_epoch_, self.n_epochs_ = int(result.best_epoch), int(result.n_epochs)
            self.stop_reason_ = result.stop_reason
            if result.stages and X_val is not None:
                self.layer_scores_ = [min(s["best_score"] for s in result.stages
                                          if s["depth"] == depth)
                                      for depth in range(1, self.n_layers + 1)
                                      if any(s["depth"] == depth for s in result.stages)]
        self._set_learned(params)
        try:
            self._check_learned()
        except ValueError as error:
            raise ValueError(f"training diverged: {error}; expected a smaller "
                             f"learning_rate (now {self.learning_rate:g})") from None
        # (a start far from stable, e.g. a step far beyond the Lipschitz bound, is finite
        # on the zero input of _check_learned, not on data)
        if not np.isfinite(self._make_network().forward(self._params(), X[:256])).all():
            raise ValueError(f"the {type(self).__name__}'s output on X is not finite (NaN or "
                             "Inf); expected hyperparameters under which it is stable (the "
                             "initial step, thresholds and penalties), or a smaller "
                             f"learning_rate (now {self.learning_rate:g})")
        if Y is not None:
            self._check_stability(X_val if X_val is not None else X_fit, float(np.abs(Y_fit).max()))
        return self

    def _check_stability(self, X_check, scale):
        """Count (in ``n_unstable_``) and warn of the samples of ``X_check`` whose output is
        not finite or beyond :data:`UNSTABLE_FACTOR` times ``scale``, the largest training
        target: a silent divergence otherwise, seen only on data."""
        with np.errstate(over="ignore", invalid="ignore"):
            out = self._make_network().forward(self._params(), X_check)
            peak = np.abs(out).reshape(len(out), -1).max(axis=1)
        unstable = ~(peak <= UNSTABLE_FACTOR * max(scale, np.finfo(float).tiny))
        self.n_unstable_ = int(unstable.sum())
        if self.n_unstable_:
            unit = "sequences" if self._network.input_ndim == 3 else "samples"
            worst = float(np.nanmax(np.where(np.isfinite(peak), peak, np.inf)))
            warnings.warn(f"the fitted {type(self).__name__} is unstable on "
                          f"{self.n_unstable_} of {len(out)} validation {unit}: outputs up to "
                          f"{worst:.3g}, against training targets of at most {scale:.3g}; "
                          f"expected a smaller learning_rate (now {self.learning_rate:g}), "
                          "or more training data", UnstableModelWarning, stacklevel=3)

    def predict(self, X):
        """Recover the signals (or codes) from measurements.

        Parameters
        ----------
        X : array_like of shape (n_samples, M) or (M,); for a recurrent network
            (n_sequences, T, M) or (T, M)

        Returns
        -------
        ndarray of shape (n_samples, N) or (N,); (n_sequences, T, N) or (T, N)

        Raises
        ------
        FloatingPointError
            If the output is not finite (it is never returned with NaN).
        """
        check_is_fitted(self, "n_epochs_")
        ndim = self._network.input_ndim
        X = check_array(X, "X", ndim=(ndim - 1, ndim), dtype=check_dtype(self.dtype))
        M = self.measurement_matrix_.shape[0]
        if X.shape[-1] != M:
            raise ValueError(f"X has {X.shape[-1]} measurements per "
                             f"{'frame' if ndim == 3 else 'row'}, the model expects M={M}")
        single = X.ndim == ndim - 1
        out = self._make_network().forward(self._params(), X[None] if single else X)
        if not np.isfinite(out).all():
            raise FloatingPointError(f"the {type(self).__name__}'s output is not finite (NaN "
                                     "or Inf); likely cause: X scaled far from the training "
                                     "data")
        return out[0] if single else out

    def score(self, X, Y, sample_weight=None):
        """R^2 of the prediction over all entries together (1 is perfect).

        ``1 - ||Y - Y_hat||^2 / ||Y - mean(Y)||^2``, with the mean over all entries.

        Parameters
        ----------
        X : array_like, as for :meth:`predict`
        Y : array_like, of the shape of the prediction
        sample_weight : array_like of shape (n_samples,), optional
            Weight of every sample (sequence).

        Returns
        -------
        float
        """
        Y = np.asarray(Y, dtype=np.float64)
        Y_hat = self.predict(X)
        weight = None
        if sample_weight is not None:
            weight = np.repeat(np.asarray(sample_weight, np.float64), Y[0].size)
        return float(r2_score(Y.ravel(), Y_hat.ravel(), sample_weight=weight))

    def save(self, path):
        """Write the fitted model to an npz file (numeric arrays and JSON, no pickle).

        The file is written to a temporary file beside ``path`` and renamed into place, so
        that a reader never sees a partial model (:func:`sparserec.io.write_model`). Read it
        with :func:`load_model`.

        Parameters
        ----------
        path : str or os.PathLike
            The file to write (exactly this name; replaced if it exists).
        """
        check_is_fitted(self, "n_epochs_")
        learned = self._learned() + tuple(name for name in self._OPTIONAL
                                          if getattr(self, name, None) is not None)
        _write_model(self, path, learned)

    # ---- internals

    @classmethod
    def _learned(cls):
        """The fitted arrays a model file holds (optional ones aside)."""
        names = ("measurement_matrix_", *cls._ATTRIBUTES, *cls._EXTRA, *HISTORY)
        return tuple(dict.fromkeys(name for name in names if name not in cls._OPTIONAL))

    def _set_learned(self, params):
        for attribute, field in self._ATTRIBUTES.items():
            setattr(self, attribute, getattr(params, field))

    def _params(self):
        return self._network.Params(**{field: getattr(self, attribute)
                                       for attribute, field in self._ATTRIBUTES.items()},
                                    **self._fixed_fields())

    def _check_hyperparameters(self):
        """Every hyperparameter in its domain, then the rules that tie several together."""
        check_parameters(self)
        self._check_combinations()

    def _check_combinations(self):
        pass

    def _check_learned(self):
        """Check (and convert in place) the fitted arrays: finite, float64, of shapes that
        fit together and with ``n_layers`` (the network's own checks, by a pass over one
        zero input)."""
        _check_history(self)
        for attribute in self._ATTRIBUTES:
            value = getattr(self, attribute)
            if value is not None:
                setattr(self, attribute, check_array(value, attribute, dtype=np.float64))
        self.measurement_matrix_ = check_array(self.measurement_matrix_, "measurement_matrix_",
                                               ndim=2, dtype=np.float64)
        M, N = self.measurement_matrix_.shape
        network = self._make_network()
        params = self._params()
        try:
            codes = network.forward(params, np.zeros((1,) * (network.input_ndim - 1) + (M,)))
        except ValueError as error:  # in the names of the fitted attributes
            message = str(error)
            for attribute, field in self._ATTRIBUTES.items():
                message = message.replace(f"params.{field} ", f"{attribute} ")
            raise ValueError(message) from None
        if codes.shape[-1] != N:
            raise ValueError(f"the network gives codes of {codes.shape[-1]} entries, "
                             f"measurement_matrix_ has N = {N} columns")
        if network.n_layers(params) != self.n_layers:
            raise ValueError(f"the parameters have {network.n_layers(params)} layers, "
                             f"n_layers is {self.n_layers}")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        if self._network.input_ndim == 3:
            tags.input_tags.two_d_array = False
            tags.input_tags.three_d_array = True
        return tags


def _set_hyperparameters(model, arguments):
    """``__init__``'s arguments stored as they are (scikit-learn's rule)."""
    for name, value in arguments.items():
        if name not in ("self", "__class__"):
            setattr(model, name, value)


# ----------------------------------------------------------------------------------------
# the networks


@_documented
class SISTARegressor(LearnedRegressor):
    """The SISTA-RNN (Wisdom et al., 2016) as a scikit-learn regressor from measurements to signals.

    SISTA with ``n_layers`` iterations per frame, unfolded into a recurrent network whose
    parameters (dictionary, transition, step ``alpha``, penalties ``lam1``, ``lam2``, and
    optionally the measurement matrix) are trained by backpropagation through time on pairs
    of measurement and signal sequences (:mod:`sparserec.learned.sista_rnn`). Before
    training (or with ``fit(X)`` and no ``Y``) it is classical SISTA with ``n_layers``
    iterations per frame.

    Parameters
    ----------
    measurement_matrix : array_like of shape (M, N)
        The matrix ``A`` of the measurements ``x_t = A y_t``. Required (None fails at fit).
    n_layers : int, default=3
        K, SISTA iterations (layers) per frame.
    dictionary : {'identity', 'dct', 'wavelet'} or str or array_like, default='identity'
        The initial dictionary ``D`` (N, N): a name for
        :func:`sparserec.make_dictionary` (also 'wavelet:NAME' and 'wavelet:NAME:LEVEL')
        or an array.
    transition : array_like of shape (N, N), optional
        The initial transition ``F`` in the signal domain (identity when None).
    lam1 : float, default=0.5
        Initial weight of the l1 penalty (positive).
    lam2 : float, default=1.0
        Initial weight of the temporal term (positive if trained).
    alpha : float, optional
        Initial inverse step size; default 1.001 times the Lipschitz bound
        ``||D^T (A^T A + lam2 I) D||_2``.
    learn : tuple of str, default=('D', 'F', 'alpha', 'lam1', 'lam2')
        The parameters to train, among 'D', 'Dinv', 'F', 'A', 'alpha', 'lam1', 'lam2',
        'h0'. 'Dinv' unties the inverse dictionary of the transition ``D^-1 F D`` from
        ``D^T`` (the SISTA-RNN's authors train it).
    keep_atom_norms : bool, default=True
        Keep every atom (column) of the learned dictionary at its initial norm, which
        removes a scale that the loss barely constrains.
    log_scalars : bool, default=True
        Train alpha, lam1 and lam2 through their logarithms (False: as raw values, kept
        non-negative, as the authors did).
    <training parameters>

    Attributes
    ----------
    dictionary_, transition_ : ndarray of shape (N, N)
        The learned (or, if not trained, initial) dictionary and transition.
    measurement_matrix_ : ndarray of shape (M, N)
        The measurement matrix (learned if 'A' is in ``learn``).
    alpha_, lam1_, lam2_ : float
        The learned step and penalties.
    h0_ : ndarray of shape (N,)
        The code before the first frame.
    inverse_dictionary_ : ndarray of shape (N, N) or None
        The learned inverse dictionary if 'Dinv' was trained; None: ``dictionary_.T``.
    initial_dictionary_, initial_transition_ : ndarray of shape (N, N)
        The starting values, for comparison (:mod:`sparserec.learned.interpret`).
    <history attributes>

    Notes
    -----
    Training undoes a step that makes the loss NaN or explode and keeps the parameters
    with the best validation score (see :mod:`sparserec.learned.sista_rnn`). :meth:`score`
    is the R^2 of all entries together.

    Examples
    --------
    >>> import numpy as np
    >>> from sparserec import SISTARegressor, gaussian_matrix
    >>> A = gaussian_matrix(8, 16, random_state=0)
    >>> Y = np.random.default_rng(0).standard_normal((20, 10, 16))
    >>> model = SISTARegressor(measurement_matrix=A, max_epochs=2, random_state=0)
    >>> model.fit(Y @ A.T, Y).predict(Y[:3] @ A.T).shape
    (3, 10, 16)
    """

    _network = SISTARNN
    _ATTRIBUTES = {"dictionary_": "D", "transition_": "F", "measurement_matrix_": "A",
                   "h0_": "h0", "alpha_": "alpha", "lam1_": "lam1", "lam2_": "lam2",
                   "inverse_dictionary_": "Dinv"}
    _EXTRA = ("initial_dictionary_", "initial_transition_")
    _OPTIONAL = ("inverse_dictionary_",)
    _parameter_constraints = {
        **LearnedRegressor._parameter_constraints,
        "dictionary": [_NAME, ARRAY],
        "transition": [ARRAY, None],
        "lam1": [real(0)],
        "lam2": [real(0)],
        "alpha": [real(0, low_open=True), None],
        "learn": [_LEARN],
        "keep_atom_norms": [BOOLEAN],
        "log_scalars": [BOOLEAN],
    }

    def __init__(self, measurement_matrix=None, *, n_layers=3, dictionary="identity",
                 transition=None, lam1=0.5, lam2=1.0, alpha=None,
                 learn=("D", "F", "alpha", "lam1", "lam2"), keep_atom_norms=True,
                 log_scalars=True, optimizer="rmsprop", learning_rate=1e-4, batch_size=50,
                 max_epochs=100, n_iter_no_change=None, tol=0.0, clip_norm=None,
                 validation_fraction=0.1, warm_start=False, dtype="float64",
                 random_state=None, verbose=False):
        _set_hyperparameters(self, locals())

    def _make_network(self):
        return SISTARNN(self.n_layers, keep_atom_norms=self.keep_atom_norms,
                        log_scalars=self.log_scalars)

    def _names(self):
        return check_learn(self.learn)

    def _initial_params(self, A, Y):
        N = A.shape[1]
        D = make_dictionary(self.dictionary, N)
        F = (np.eye(N) if self.transition is None
             else check_array(self.transition, "transition", ndim=2, dtype=np.float64))
        if F.shape != (N, N):
            raise ValueError(f"transition must have shape ({N}, {N}), got {F.shape}")
        self.initial_dictionary_, self.initial_transition_ = D.copy(), F.copy()
        return SISTAParams.initial(A, D, F, self.alpha, self.lam1, self.lam2)

    def _check_combinations(self):
        for name in ("lam1", "lam2"):
            if getattr(self, name) == 0 and name in check_learn(self.learn) and self.log_scalars:
                raise ValueError(f"{name}=0 cannot be learned (it is trained through its "
                                 "logarithm); give a positive value or remove it from learn")

    def _check_learned(self):
        """Shapes that fit together, finite values, a positive step and non-negative
        penalties."""
        A = check_array(self.measurement_matrix_, "measurement_matrix_", ndim=2,
                        dtype=np.float64)
        N = A.shape[1]
        self.measurement_matrix_ = A
        squares = ["dictionary_", "transition_", "initial_dictionary_", "initial_transition_"]
        if self.inverse_dictionary_ is not None:
            squares.append("inverse_dictionary_")
        for name in squares:
            setattr(self, name, check_square(getattr(self, name), name, N, np.float64))
        self.h0_ = check_array(self.h0_, "h0_", ndim=1, dtype=np.float64)
        if self.h0_.shape != (N,):
            raise ValueError(f"h0_ must have shape ({N},), got {self.h0_.shape}")
        self.alpha_ = check_number(_scalar(self.alpha_), "alpha_", low=0, low_open=True)
        for name in ("lam1_", "lam2_"):
            setattr(self, name, check_number(_scalar(getattr(self, name)), name, low=0))
        _check_history(self)
        learned = set(check_learn(self.learn)) if self.log_scalars else set()
        for name in learned & {"alpha", "lam1", "lam2"}:
            if not 0 < getattr(self, f"{name}_") < np.inf:  # (a logarithm diverged)
                raise ValueError(f"{name} went to {getattr(self, f'{name}_'):g}")


@_documented
class LISTARegressor(LearnedRegressor):
    """LISTA (Gregor and LeCun, 2010) as a scikit-learn regressor from measurements to codes.

    ISTA with ``n_layers`` iterations, unfolded into a network
    ``h_{k+1} = soft(B x + S_k h_k; theta_k)`` whose matrices ``B`` (N, M), ``S_k`` (N, N)
    (shared by the layers, or one per layer when not ``tied``) and per-layer thresholds
    ``theta_k`` are trained by backpropagation (:mod:`sparserec.learned.lista`). Before
    training it is ISTA with step ``1 / L``, ``L = 1.001 ||A||_2^2``, and threshold
    ``lam / L``.

    Parameters
    ----------
    measurement_matrix : array_like of shape (M, N)
        The matrix ``A`` of the measurements ``x = A h``: the initial weights.
    n_layers : int, default=10
        K.
    lam : float, default=0.1
        The l1 penalty of the initial ISTA (in units of ``x``).
    tied : bool, default=True
        One ``S`` for all layers (Gregor and LeCun's LISTA); False: one per layer.
    <layer-wise parameters>
    <training parameters>

    Attributes
    ----------
    B_ : ndarray of shape (N, M)
    S_ : ndarray of shape (1, N, N), or (n_layers, N, N) when not ``tied``
    theta_ : ndarray of shape (n_layers,)
        The learned matrices and thresholds.
    <history attributes>
    """

    _network = LISTA
    _parameter_constraints = {**LearnedRegressor._parameter_constraints, **_LAYERWISE,
                              "lam": [real(0)], "tied": [BOOLEAN]}

    def __init__(self, measurement_matrix=None, *, n_layers=10, lam=0.1, tied=True,
                 layerwise=True, refinements=(0.1,), optimizer="adam", learning_rate=1e-3,
                 batch_size=100, max_epochs=20, n_iter_no_change=3, tol=0.01, clip_norm=None,
                 validation_fraction=0.1, warm_start=False, dtype="float64",
                 random_state=None, verbose=False):
        _set_hyperparameters(self, locals())

    def _initial_params(self, A, Y):
        return self._network.Params.initial(A, self.n_layers, lam=self.lam, tied=self.tied)

    def _check_learned(self):
        if np.ndim(self.S_) == 2:  # a model of before the untied option: one S
            self.S_ = np.asarray(self.S_)[None]
        super()._check_learned()


@_documented
class LAMPRegressor(LearnedRegressor):
    """LAMP (Borgerding, Schniter and Rangan, 2017) as a scikit-learn regressor.

    Approximate message passing with ``n_layers`` iterations, unfolded with its Onsager
    term kept: ``v_t = x - A h_t + b_t v_{t-1}``, ``h_{t+1} = eta(h_t + B_t v_t;
    ||v_t|| / sqrt(M), theta_t)``. The matrices ``B_t`` (one per layer, or one shared
    when ``tied``) and the denoiser's parameters ``theta_t`` are trained by
    backpropagation (:mod:`sparserec.learned.lamp`); ``A`` is not. Before training it is
    classical AMP with ``n_layers`` iterations.

    Parameters
    ----------
    measurement_matrix : array_like of shape (M, N)
        ``A``, with columns of unit norm on average (e.g.
        :func:`sparserec.gaussian_matrix`); the initial ``B_t`` is its matched filter.
    n_layers : int, default=10
        K.
    denoiser : {'soft', 'bg'}, default='soft'
        'soft': soft thresholding at ``alpha_t ||v_t|| / sqrt(M)``, scaled by ``beta_t``
        (``theta_t = (alpha_t, beta_t)``). 'bg': the MMSE estimator of a Bernoulli-Gaussian
        code (``theta_t`` = log variance and logit probability of a nonzero).
    tied : bool, default=False
        One matrix ``B`` for all layers instead of one per layer.
    alpha : float, optional
        'soft': the initial threshold factor; default the minimax threshold at
        ``delta = M / N`` (:func:`sparserec.minimax_threshold`).
    sparsity, variance : float, optional
        'bg': the initial prior, the probability of a nonzero and the variance of the
        nonzeros; default measured on the training codes ``Y`` (0.1 and 1.0 without them).
    <layer-wise parameters>
    <training parameters>

    Attributes
    ----------
    B_ : ndarray of shape (n_layers, N, M), or (1, N, M) when ``tied``
    theta_ : ndarray of shape (n_layers, 2)
        The learned matrices and denoiser parameters.
    <history attributes>
    """

    _network = LAMP
    _parameter_constraints = {
        **LearnedRegressor._parameter_constraints, **_LAYERWISE,
        "denoiser": [one_of("soft", "bg")],
        "tied": [BOOLEAN],
        "alpha": [real(0), None],
        "sparsity": [real(0, 1, low_open=True, high_open=True), None],
        "variance": [real(0, low_open=True), None],
    }

    def __init__(self, measurement_matrix=None, *, n_layers=10, denoiser="soft", tied=False,
                 alpha=None, sparsity=None, variance=None, layerwise=True,
                 refinements=(0.1,), optimizer="adam", learning_rate=1e-3, batch_size=100,
                 max_epochs=20, n_iter_no_change=3, tol=0.01, clip_norm=None,
                 validation_fraction=0.1, warm_start=False, dtype="float64",
                 random_state=None, verbose=False):
        _set_hyperparameters(self, locals())

    def _fixed_fields(self):
        return {"denoiser": self.denoiser}

    def _initial_params(self, A, Y):
        sparsity, variance = self.sparsity, self.variance
        if Y is not None and (sparsity is None or variance is None):
            nonzero = Y != 0
            measured = np.clip(nonzero.mean(), 1e-3, 1 - 1e-3)
            sparsity = measured if sparsity is None else sparsity
            if variance is None:
                variance = float(np.mean(Y[nonzero] ** 2)) if nonzero.any() else 1.0
        return self._network.Params.initial(A, self.n_layers, denoiser=self.denoiser,
                                            tied=self.tied, alpha=self.alpha,
                                            nu=1.0 if variance is None else variance,
                                            sparsity=0.1 if sparsity is None else sparsity)


class _SupportSelection(LearnedRegressor):
    """What LISTA-CPSS and ALISTA share: support selection and layer-wise training."""

    _parameter_constraints = {**LearnedRegressor._parameter_constraints, **_LAYERWISE,
                              "lam": [real(0)], "p": [real(0)], "p_max": [real(0, 100)]}

    def _make_network(self):
        return self._network(p=self.p, p_max=self.p_max)


@_documented
class LISTACPSSRegressor(_SupportSelection):
    """LISTA-CPSS (Chen, Liu, Wang and Yin, 2018) as a scikit-learn regressor to codes.

    LISTA with ISTA's coupling of its matrices kept and support selection:
    ``z_k = h_{k-1} + W_k^T (x - A h_{k-1})``, then the largest ``p_k`` percent of the
    entries of ``z_k`` pass unchanged and the others are soft-thresholded at ``theta_k``
    (:mod:`sparserec.learned.lista_cpss`). The weights ``W_k`` (one per layer, or one
    shared when ``tied``) and the thresholds are trained; ``A`` is not. Before training,
    and with ``p=0``, it is ISTA with step ``1 / L``, ``L = 1.001 ||A||_2^2``, and
    threshold ``lam / L``.

    Parameters
    ----------
    measurement_matrix : array_like of shape (M, N)
        ``A``.
    n_layers : int, default=16
        K.
    lam : float, default=0.4
        The l1 penalty of the initial ISTA (in units of ``x``).
    <support selection parameters>
    tied : bool, default=False
        One ``W`` for all layers.
    <layer-wise parameters>
    <training parameters>

    Attributes
    ----------
    W_ : ndarray of shape (n_layers, M, N), or (1, M, N) when ``tied``
    theta_ : ndarray of shape (n_layers,)
        The learned weights and thresholds.
    <history attributes>
    """

    _network = LISTACPSS
    _parameter_constraints = {**_SupportSelection._parameter_constraints, "tied": [BOOLEAN]}

    def __init__(self, measurement_matrix=None, *, n_layers=16, lam=0.4, p=1.2, p_max=13.0,
                 tied=False, layerwise=True, refinements=(0.2, 0.02), optimizer="adam",
                 learning_rate=5e-4, batch_size=100, max_epochs=20, n_iter_no_change=3,
                 tol=0.01, clip_norm=None, validation_fraction=0.1, warm_start=False,
                 dtype="float64", random_state=None, verbose=False):
        _set_hyperparameters(self, locals())

    def _initial_params(self, A, Y):
        return self._network.Params.initial(A, self.n_layers, lam=self.lam, tied=self.tied)


@_documented
class ALISTARegressor(_SupportSelection):
    """ALISTA (Liu, Chen, Wang and Yin, 2019) as a scikit-learn regressor to codes.

    LISTA-CPSS whose weights are one analytic matrix, ``W_k = gamma_k W``, computed from
    ``A`` before training (:func:`sparserec.learned.alista.analytic_weight`); only the
    step sizes ``gamma_k`` and the thresholds ``theta_k`` are learned: two numbers per
    layer (:mod:`sparserec.learned.alista`).

    Parameters
    ----------
    measurement_matrix : array_like of shape (M, N)
        ``A``, of full row rank.
    n_layers : int, default=16
        K.
    lam : float, default=0.4
        Sets the initial thresholds ``lam / L``, ``L = 1.001 ||A||_2^2``.
    <support selection parameters>
    <layer-wise parameters>
    <training parameters>

    Attributes
    ----------
    gamma_ : ndarray of shape (n_layers,)
    theta_ : ndarray of shape (n_layers,)
        The learned step sizes and thresholds.
    weight_ : ndarray of shape (M, N)
        The analytic weight ``W``.
    <history attributes>
    """

    _network = ALISTA
    _ATTRIBUTES = {"measurement_matrix_": "A", "weight_": "W", "gamma_": "gamma",
                   "theta_": "theta"}

    def __init__(self, measurement_matrix=None, *, n_layers=16, lam=0.4, p=1.2, p_max=13.0,
                 layerwise=True, refinements=(0.2, 0.02), optimizer="adam",
                 learning_rate=5e-4, batch_size=100, max_epochs=20, n_iter_no_change=3,
                 tol=0.01, clip_norm=None, validation_fraction=0.1, warm_start=False,
                 dtype="float64", random_state=None, verbose=False):
        _set_hyperparameters(self, locals())

    def _initial_params(self, A, Y):
        return self._network.Params.initial(A, self.n_layers, lam=self.lam)


#: Every learned estimator, by the name of its network (``sparserec fit --network``).
ESTIMATORS = {cls._network.name: cls for cls in (SISTARegressor, LISTARegressor, LAMPRegressor,
                                                 ALISTARegressor, LISTACPSSRegressor)}


# ----------------------------------------------------------------------------------------
# model files


def load_model(path):
    """Read a model written by the ``save`` method of a learned estimator of sparserec.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    LearnedRegressor
        A fitted estimator of the class that wrote the file, ready to predict.

    Raises
    ------
    sparserec.io.InputError
        A ``ValueError`` naming the file, if it is not a complete model. The file is read
        with ``allow_pickle=False``: it can never run code.
    """
    classes = {_format(cls): cls for cls in ESTIMATORS.values()}
    format, hyperparameters, arrays = io.read_model(path, tuple(classes))
    cls = classes[format]
    try:
        unknown = set(hyperparameters) - set(cls().get_params())
        if unknown:
            raise ValueError(f"unknown hyperparameter {sorted(unknown)[0]!r}")
        for key, value in hyperparameters.items():
            if isinstance(value, dict):
                name = value["__array__"]
                hyperparameters[key] = check_array(arrays[name], f"array {name!r}")
            elif isinstance(value, list):
                hyperparameters[key] = tuple(value)
        model = cls(**hyperparameters)
        model._check_hyperparameters()
        check_dtype(model.dtype)
        for key in cls._learned():
            setattr(model, key, arrays[key] if key in arrays else _OLDER_FILES[key])
        for key in cls._OPTIONAL:
            setattr(model, key, arrays.get(key))
        model.stop_reason_ = "loaded"
        model._check_learned()
    except KeyError as error:
        raise io.InputError(f"{path}: missing array {error.args[0]!r}; expected a model "
                            f"written by {cls.__name__}.save") from None
    except (ValueError, TypeError) as error:
        raise io.InputError(f"{path}: {error}; expected a model written by "
                            f"{cls.__name__}.save") from None
    return model


# What model files of earlier versions lack, and stands for it (a KeyError otherwise).
_OLDER_FILES = {"layer_scores_": np.zeros(0), "n_unstable_": np.array(0.0)}


def _format(cls):
    return f"sparserec.{cls.__name__}/1"


def _write_model(model, path, learned):
    """Write a fitted estimator: its hyperparameters as JSON (arrays among them stored as
    arrays) and its ``learned`` attributes as float64 arrays."""
    arrays, hyperparameters = {}, {}
    for name, value in model.get_params(deep=False).items():
        if name == "dtype":
            value = check_dtype(value).name
        elif name == "random_state" and not isinstance(value, (int, type(None))):
            value = None  # a RandomState object is not stored
        elif isinstance(value, (tuple, list)) and all(isinstance(v, str) for v in value):
            value = list(value)  # names, e.g. learn
        elif isinstance(value, np.generic):
            value = value.item()
        elif value is not None and not isinstance(value, (str, int, float, bool)):
            arrays[f"param_{name}"] = np.asarray(value, dtype=np.float64)
            value = {"__array__": f"param_{name}"}
        hyperparameters[name] = value
    for name in learned:
        arrays[name] = np.asarray(getattr(model, name), dtype=np.float64)
    io.write_model(path, _format(type(model)), hyperparameters, arrays)


def _validation_pair(validation_data, X, Y, dtype):
    """``validation_data`` checked against the shapes of the training data."""
    try:
        X_val, Y_val = validation_data
    except (TypeError, ValueError):
        raise ValueError("validation_data must be a pair (X_val, Y_val)") from None
    X_val = check_array(X_val, "X_val", ndim=X.ndim, dtype=dtype)
    Y_val = check_array(Y_val, "Y_val", ndim=Y.ndim, dtype=dtype)
    if X_val.shape[1:] != X.shape[1:] or Y_val.shape != X_val.shape[:1] + Y.shape[1:]:
        shape = lambda a: "(n, " + ", ".join(map(str, a.shape[1:])) + ")"  # noqa: E731
        raise ValueError(f"validation_data must have shapes {shape(X)} and {shape(Y)}, got "
                         f"{X_val.shape} and {Y_val.shape}")
    return X_val, Y_val


def _hold_out(X, Y, fraction, rng):
    """A random split into training and validation pairs (validation None if empty)."""
    order = rng.permutation(len(X))
    n_val = int(fraction * len(X))
    if n_val >= len(X):
        raise ValueError(f"validation_fraction={fraction} leaves no training sample out of "
                         f"{len(X)}")
    val, fit = order[:n_val], order[n_val:]
    return X[fit], Y[fit], *((X[val], Y[val]) if n_val else (None, None))


def _check_history(model):
    """The training history of a loaded model: counts and lists of numbers."""
    for name in ("best_epoch_", "n_epochs_", "n_unstable_"):  # (stored as float64)
        value = _scalar(getattr(model, name))
        value = int(value) if isinstance(value, float) and value.is_integer() else value
        setattr(model, name, check_int(value, name))
    for name in ("loss_curve_", "validation_scores_", "layer_scores_"):
        values = np.asarray(getattr(model, name))
        if values.ndim != 1 or values.dtype.kind not in "iuf":
            raise ValueError(f"{name} must be a list of numbers, got {values.dtype} of shape "
                             f"{values.shape}")
        setattr(model, name, values.astype(np.float64).tolist())


def _scalar(value):
    """A 0-d array (as a model file holds it) as a Python scalar."""
    value = np.asarray(value)
    if value.ndim != 0:
        raise ValueError(f"expected a single number, got an array of shape {value.shape}")
    return value.item()


#: The models that ship with sparserec, by name: their file in ``sparserec/data``.
PRETRAINED = {"sista-rnn-images": "sista_rnn_images"}


def load_pretrained(name="sista-rnn-images"):
    """A trained model that ships with sparserec.

    'sista-rnn-images' is the SISTA-RNN of docs/paper.rst: the paper's 32 x 128
    measurements of image columns (``x_t = A y_t``, :func:`sparserec.paper_matrices`'s
    ``A``), trained on the training images of :func:`sparserec.paper_task` only. It
    reconstructs normalised columns: ``y = (pixel / 255 - mean) / std`` with the ``mean``
    and ``std`` of ``model.pretrained_["normalisation"]``.

    Parameters
    ----------
    name : str, default='sista-rnn-images'
        One of :data:`PRETRAINED`.

    Returns
    -------
    SISTARegressor
        Fitted, with the attribute ``pretrained_``: a dict describing the model (its
        normalisation, training images, training steps and test PSNR).
    """
    from importlib import resources

    check_choice(name, "name", tuple(PRETRAINED))
    folder = resources.files("sparserec") / "data"
    with resources.as_file(folder / f"{PRETRAINED[name]}.npz") as path:
        model = load_model(path)
    model.pretrained_ = json.loads((folder / f"{PRETRAINED[name]}.json").read_text())
    return model
