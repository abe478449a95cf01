"""scikit-learn style estimators: the faces of the solvers for fit / predict users."""

import json
import warnings

import numpy as np
from sklearn.base import BaseEstimator, MultiOutputMixin, RegressorMixin
from sklearn.metrics import r2_score
from sklearn.utils import check_random_state
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from . import io
from ._validation import (check_array, check_choice, check_dtype, check_int, check_number,
                          check_square)
from .learned import SISTAParams, check_learn, forward, lamp, lista, train, unfolded
from .matrices import make_dictionary
from .solvers import ConvergenceWarning, lasso, lasso_path

__all__ = ["Lasso", "LassoCV", "SISTARegressor", "LISTARegressor", "LAMPRegressor",
           "load_model", "load_pretrained"]


class Lasso(MultiOutputMixin, RegressorMixin, BaseEstimator):
    """Lasso with scikit-learn's objective, solved for all targets at once.

    A drop-in for :class:`sklearn.linear_model.Lasso`: it minimises, for every target,

        ``1 / (2 * n_samples) * ||y - X w - b||^2 + alpha * ||w||_1``,

    and solves all the targets of a 2-D ``y`` at once, as one batch.

    Parameters
    ----------
    alpha : float, default=1.0
        Weight of the l1 penalty. ``alpha = lam1 / n_samples`` in sparserec's functional
        notation ``1/2 ||x - A h||^2 + lam1 ||h||_1``.
    fit_intercept : bool, default=True
        Whether to fit an intercept (``X`` and ``y`` are centred first).
    precompute : {'auto', True, False}, default='auto'
        With ``solver='auto'``: True forces the Gram matrix (the 'gram' path), False the
        residual path without it, 'auto' lets the cost model choose. A precomputed Gram
        matrix is not accepted.
    max_iter : int, default=1000
        Maximum number of iterations per target: coordinate-descent epochs, or FISTA
        iterations.
    tol : float, default=1e-4
        Stop when the duality gap is at most ``tol * ||y||^2`` in the unscaled objective,
        as scikit-learn's coordinate descent does.
    warm_start : bool, default=False
        Start from the previous ``coef_`` when it has the right shape.
    positive : bool, default=False
        Constrain the coefficients to be non-negative.
    solver : {'auto', 'gram', 'residual', 'fista'}, default='auto'
        The method of :func:`sparserec.lasso`: coordinate descent over the Gram matrix
        shared by the targets ('gram'), on each target's residual ('residual', for few
        targets and many features), or the accelerated proximal gradient ('fista'); 'auto'
        picks the cheaper coordinate descent by a cost model.

    Warns
    -----
    sparserec.ConvergenceWarning
        When a target did not reach ``tol`` in ``max_iter`` iterations.

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,) or (n_targets, n_features)
        The coefficients.
    intercept_ : float or ndarray of shape (n_targets,)
        The intercepts (0 when ``fit_intercept=False``).
    n_iter_ : int or ndarray of shape (n_targets,)
        Iterations used, per target.
    dual_gap_ : float or ndarray of shape (n_targets,)
        The final duality gaps, in scikit-learn's scaling (divided by ``n_samples``).
    n_features_in_ : int
        Number of features seen in ``fit``.

    See Also
    --------
    sparserec.lasso : the solver, for many signals against one matrix.

    Examples
    --------
    >>> import numpy as np
    >>> from sparserec import Lasso
    >>> X = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 1.0], [3.0, 0.0]])
    >>> model = Lasso(alpha=0.1).fit(X, [0.0, 1.0, 2.0, 3.0])
    >>> np.round(model.coef_, 2), round(float(model.intercept_), 2)
    (array([0.92, 0.  ]), 0.12)
    """

    def __init__(self, alpha=1.0, *, fit_intercept=True, precompute="auto", max_iter=1000,
                 tol=1e-4, warm_start=False, positive=False, solver="auto"):
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.precompute = precompute
        self.max_iter = max_iter
        self.tol = tol
        self.warm_start = warm_start
        self.positive = positive
        self.solver = solver

    def fit(self, X, y, sample_weight=None):
        """Fit the model.

        Parameters
        ----------
        X : array_like or scipy.sparse matrix of shape (n_samples, n_features)
            Training data; a sparse X is never densified (and centred implicitly for the
            intercept).
        y : array_like of shape (n_samples,) or (n_samples, n_targets)
            Targets.
        sample_weight : array_like of shape (n_samples,), optional
            Weights of the samples in the squared error, rescaled to sum to n_samples as
            scikit-learn does.

        Returns
        -------
        self : Lasso
            The fitted estimator.
        """
        alpha = check_number(self.alpha, "alpha", low=0)
        max_iter = check_int(self.max_iter, "max_iter")
        tol = check_number(self.tol, "tol", low=0)
        solver = check_choice(self.solver, "solver", ("auto", "gram", "residual", "fista"))
        if not (isinstance(self.precompute, bool) or (isinstance(self.precompute, str)
                                                      and self.precompute == "auto")):
            raise ValueError("precompute must be 'auto', True or False (a precomputed Gram "
                             f"matrix is not accepted), got {self.precompute!r}")
        if solver == "auto" and self.precompute != "auto":
            solver = "gram" if self.precompute else "residual"
        X, y = validate_data(self, X, y, accept_sparse="csc", multi_output=True,
                             y_numeric=True, dtype=[np.float64, np.float32])
        sparse = not isinstance(X, np.ndarray)
        y = y.astype(X.dtype, copy=False)
        single = y.ndim == 1
        Y = y[:, None] if single else y
        n_samples = X.shape[0]
        weight = None
        if sample_weight is not None:
            weight = _check_sample_weight(sample_weight, X, dtype=np.float64)
            weight = weight * (n_samples / weight.sum())  # (a new array: never the caller's)
        X_offset = np.zeros(X.shape[1], X.dtype)
        if self.fit_intercept:  # the (weighted) means, of a sparse X too
            X_offset = (np.asarray(X.T @ weight).ravel() / n_samples if weight is not None
                        else np.asarray(X.mean(axis=0)).ravel())
        Y_offset = (np.average(Y, axis=0, weights=weight) if self.fit_intercept
                    else np.zeros(Y.shape[1], X.dtype))
        Yc = Y - Y_offset
        # A sparse X is centred implicitly by the solver: its centred copy would be dense.
        if sparse:
            Xc = X.astype(np.float64, copy=False)
        else:  # (no copy when there is nothing to centre)
            Xc = np.ascontiguousarray(X - X_offset if self.fit_intercept else X)
        A_offset = X_offset.astype(np.float64) if sparse and self.fit_intercept else None

        h_init = None
        if self.warm_start and hasattr(self, "coef_"):
            previous = np.atleast_2d(self.coef_)
            if previous.shape == (Y.shape[1], X.shape[1]):
                h_init = previous
        # Validated above: the solver trusts its input. Our relative gap is
        # gap / (1/2 ||y||^2); scikit-learn's test is gap <= tol ||y||^2.
        result = lasso(np.ascontiguousarray(Yc.T), Xc, alpha * n_samples, max_iter=max_iter,
                       tol=2 * tol, h_init=h_init, positive=bool(self.positive), method=solver,
                       weights=weight, A_offset=A_offset, check_input=False)
        coef = result.h
        intercept = Y_offset - coef @ X_offset
        squares = Yc**2 if weight is None else Yc**2 * weight[:, None]
        gap = result.gap * 0.5 * squares.sum(axis=0) / n_samples
        if single:
            self.coef_, self.intercept_ = coef[0], float(intercept[0])
            self.n_iter_, self.dual_gap_ = int(result.n_iter[0]), float(gap[0])
        else:
            self.coef_, self.intercept_ = coef, intercept
            self.n_iter_, self.dual_gap_ = result.n_iter, gap
        return self

    def predict(self, X):
        """Predict with the fitted linear model.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_targets)
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, accept_sparse=True,
                          dtype=[np.float64, np.float32])
        return np.asarray(X @ np.asarray(self.coef_).T) + self.intercept_

    @property
    def sparse_coef_(self):
        """``coef_`` as a scipy.sparse CSR matrix."""
        import scipy.sparse

        check_is_fitted(self)
        return scipy.sparse.csr_matrix(np.atleast_2d(self.coef_))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.input_tags.sparse = True
        return tags


class LassoCV(RegressorMixin, BaseEstimator):
    """Lasso with its ``alpha`` chosen by cross-validation along the regularisation path.

    A drop-in for :class:`sklearn.linear_model.LassoCV` (one target): for every fold, the
    path of :func:`sparserec.lasso_path` on the training part, warm-started down the
    grid, scored by the mean squared error on the held-out part; the alpha of the
    smallest mean error is refitted on all the data with :class:`Lasso`.

    Parameters
    ----------
    eps : float, default=1e-3
        ``alpha_min / alpha_max`` of the grid.
    alphas : int or array_like, default=100
        The number of alphas on a geometric grid from the ``alpha_max`` of all the data,
        or the alphas themselves.
    fit_intercept : bool, default=True
        Whether to fit an intercept (each training fold centred on its own means; a
        sparse X implicitly).
    precompute : 'auto', bool or array_like, default='auto'
        Accepted for compatibility, unused (no Gram matrix is needed).
    max_iter : int, default=1000
        Coordinate-descent epochs per alpha.
    tol : float, default=1e-4
        Every fit stops at a duality gap of ``tol ||y||^2`` (scikit-learn's rule).
    copy_X : bool, default=True
        Accepted for compatibility (X is never modified).
    cv : int, cross-validation generator or iterable, default=None
        As in scikit-learn: 5-fold by default.
    verbose : bool or int, default=False
        Print the mean error of every alpha.
    n_jobs : int, default=None
        Folds solved at once, in threads (the kernels release the GIL); None is 1, -1 all
        cores.
    positive : bool, default=False
        Constrain the coefficients to be non-negative.
    random_state, selection
        Accepted for compatibility (the coordinate descent is cyclic).

    Attributes
    ----------
    alpha_ : float
        The chosen alpha.
    alphas_ : ndarray of shape (n_alphas,)
        The grid, decreasing.
    mse_path_ : ndarray of shape (n_alphas, n_folds)
        The held-out mean squared error of every alpha and fold.
    coef_, intercept_, dual_gap_, n_iter_ :
        Those of the refit :class:`Lasso`.
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from sparserec import LassoCV
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((80, 20))
    >>> y = X[:, 0] - 2 * X[:, 1] + 0.1 * rng.standard_normal(80)
    >>> model = LassoCV(alphas=20).fit(X, y)
    >>> model.mse_path_.shape, bool(model.coef_[1] < -1.5)
    ((20, 5), True)
    """

    def __init__(self, *, eps=1e-3, alphas=100, fit_intercept=True, precompute="auto",
                 max_iter=1000, tol=1e-4, copy_X=True, cv=None, verbose=False, n_jobs=None,
                 positive=False, random_state=None, selection="cyclic"):
        self.eps = eps
        self.alphas = alphas
        self.fit_intercept = fit_intercept
        self.precompute = precompute
        self.max_iter = max_iter
        self.tol = tol
        self.copy_X = copy_X
        self.cv = cv
        self.verbose = verbose
        self.n_jobs = n_jobs
        self.positive = positive
        self.random_state = random_state
        self.selection = selection

    def fit(self, X, y):
        """Choose alpha by cross-validation, then fit on all the data.

        Parameters
        ----------
        X : array_like or scipy.sparse matrix of shape (n_samples, n_features)
        y : array_like of shape (n_samples,)

        Returns
        -------
        self : LassoCV
        """
        from joblib import Parallel, delayed
        from sklearn.model_selection import check_cv

        X, y = validate_data(self, X, y, accept_sparse="csc", y_numeric=True,
                             dtype=[np.float64, np.float32])
        X = X.astype(np.float64) if not isinstance(X, np.ndarray) else np.asarray(X, float)
        y = np.asarray(y, np.float64)
        folds = list(check_cv(self.cv).split(X, y))
        grid = self.alphas
        if isinstance(grid, (int, np.integer)) and not isinstance(grid, bool):
            # The grid of all the data, from the alpha where every coefficient is zero
            Xc, yc = _centred(X, y, self.fit_intercept)
            offset = _offset(X, self.fit_intercept)
            correlation = Xc.T @ yc - (0.0 if offset is None else offset * yc.sum())
            alpha_max = max(float(np.abs(correlation).max()) / X.shape[0], 1e-300)
            eps = check_number(self.eps, "eps", low=0, low_open=True)
            grid = np.geomspace(alpha_max, alpha_max * eps, check_int(int(grid), "alphas",
                                                                     low=1))

        # A dense fold is cut from X^T, so that it comes in column order (the solver reads
        # columns) and is centred in place: one copy per fold
        XT = np.ascontiguousarray(X.T) if isinstance(X, np.ndarray) else None

        def held_out_errors(train, test):
            part = X[train] if XT is None else XT[:, train].T
            means = _means(part) if self.fit_intercept else np.zeros(X.shape[1])
            y_mean = y[train].mean() if self.fit_intercept else 0.0
            if self.fit_intercept and XT is not None:
                part -= means
            alphas, coefs, _ = lasso_path(part, y[train] - y_mean, alphas=grid, tol=self.tol,
                                          max_iter=self.max_iter, positive=self.positive,
                                          X_offset=means if XT is None else None)
            predictions = np.asarray(X[test] @ coefs) + (y_mean - means @ coefs)
            return alphas, ((y[test][:, None] - predictions) ** 2).mean(axis=0)

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # of far-off alphas
            results = Parallel(n_jobs=self.n_jobs, prefer="threads")(
                delayed(held_out_errors)(train, test) for train, test in folds)
        self.alphas_ = results[0][0]
        self.mse_path_ = np.stack([errors for _, errors in results], axis=1)
        best = int(np.argmin(self.mse_path_.mean(axis=1)))
        self.alpha_ = float(self.alphas_[best])
        if self.verbose:
            for alpha, error in zip(self.alphas_, self.mse_path_.mean(axis=1), strict=True):
                print(f"alpha {alpha:.4g}  mean held-out MSE {error:.6g}")
        model = Lasso(self.alpha_, fit_intercept=self.fit_intercept, max_iter=self.max_iter,
                      tol=self.tol, positive=self.positive).fit(X, y)
        self.coef_, self.intercept_ = model.coef_, model.intercept_
        self.dual_gap_, self.n_iter_ = model.dual_gap_, model.n_iter_
        return self

    def predict(self, X):
        """Predict with the fitted linear model.

        Parameters
        ----------
        X : array_like or scipy.sparse matrix of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, accept_sparse=True,
                          dtype=[np.float64, np.float32])
        return np.asarray(X @ self.coef_) + self.intercept_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


def _means(X):
    return np.asarray(X.mean(axis=0)).ravel()


def _offset(X, fit_intercept):
    """The column means a sparse X is centred by implicitly (None otherwise)."""
    return _means(X) if fit_intercept and not isinstance(X, np.ndarray) else None


def _centred(X, y, fit_intercept):
    """X and y centred for a fit with intercept: a dense X explicitly, a sparse X left as it
    is (:func:`_offset` centres it)."""
    if not fit_intercept:
        return X, y
    if isinstance(X, np.ndarray):  # in column order: the solver reads columns
        X = np.subtract(X, _means(X), order="F")
    return X, y - y.mean()


# ----------------------------------------------------------------------------------------
# The learned mode: the SISTA-RNN


class SISTARegressor(RegressorMixin, BaseEstimator):
    """The SISTA-RNN (Wisdom et al., 2016) as a scikit-learn regressor from measurements to signals.

    SISTA with ``n_layers`` iterations per frame, unfolded into a recurrent network whose
    parameters (dictionary, transition, step ``alpha``, penalties ``lam1``, ``lam2``, and
    optionally the measurement matrix) are trained by backpropagation through time on pairs
    of measurement and signal sequences. Before training (or with ``fit(X)`` and no ``Y``)
    it is classical SISTA with ``n_layers`` iterations per frame.

    Parameters
    ----------
    measurement_matrix : array_like of shape (M, N)
        The matrix ``A`` of the measurements ``x_t = A y_t``. Required (None fails at fit).
    dictionary : {'identity', 'dct', 'wavelet'} or str or array_like, default='identity'
        The initial dictionary ``D`` (N, N): a name for
        :func:`sparserec.make_dictionary` (also 'wavelet:NAME' and 'wavelet:NAME:LEVEL')
        or an array.
    transition : array_like of shape (N, N), optional
        The initial transition ``F`` in the signal domain (identity when None).
    n_layers : int, default=3
        K, SISTA iterations (layers) per frame.
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
    optimizer : {'rmsprop', 'adam'}, default='rmsprop'
        RMSprop uses the paper's decay 0.9.
    learning_rate : float, default=1e-4
    batch_size : int, default=50
        Sequences per mini-batch.
    max_epochs : int, default=100
    validation_fraction : float, default=0.1
        Fraction of the sequences held out to choose the best epoch (0: choose on the
        training loss).
    n_iter_no_change : int, optional
        Stop after this many epochs without improvement (None: run ``max_epochs``).
    clip_norm : float, optional
        Clip the joint norm of the gradients to this value.
    keep_atom_norms : bool, default=True
        Keep every atom (column) of the learned dictionary at its initial norm, which
        removes a scale that the loss barely constrains.
    log_scalars : bool, default=True
        Train alpha, lam1 and lam2 through their logarithms (False: as raw values, kept
        non-negative, as the authors did).
    dtype : {'float64', 'float32'}, default='float64'
        Precision of the network's computations.
    random_state : int, RandomState or None, default=None
        Seed of the validation split and of the mini-batch order.
    verbose : bool, default=False
        Print the loss, the validation NMSE and the time of every epoch.

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
    loss_curve_ : list of float
        Mean training loss (MSE) of every epoch.
    validation_scores_ : list of float
        Validation NMSE in dB after every epoch (lower is better).
    best_epoch_ : int
        The epoch whose parameters were kept (0: the initial ones).
    n_epochs_ : int
        Epochs run (0 without ``Y``).

    Notes
    -----
    Training undoes a step that makes the loss NaN or explode and keeps the parameters
    with the best validation score (see :mod:`sparserec.learned.sista_rnn`).
    :meth:`score` is the R^2 of all entries
    together.

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

    _LEARNED = ("dictionary_", "transition_", "measurement_matrix_", "h0_", "alpha_", "lam1_",
                "lam2_", "initial_dictionary_", "initial_transition_", "loss_curve_",
                "validation_scores_", "best_epoch_", "n_epochs_")
    _OPTIONAL = ("inverse_dictionary_",)

    def __init__(self, measurement_matrix=None, *, dictionary="identity", transition=None,
                 n_layers=3, lam1=0.5, lam2=1.0, alpha=None,
                 learn=("D", "F", "alpha", "lam1", "lam2"), optimizer="rmsprop",
                 learning_rate=1e-4, batch_size=50, max_epochs=100, validation_fraction=0.1,
                 n_iter_no_change=None, clip_norm=None, keep_atom_norms=True,
                 log_scalars=True, dtype="float64", random_state=None, verbose=False):
        self.measurement_matrix = measurement_matrix
        self.dictionary = dictionary
        self.transition = transition
        self.n_layers = n_layers
        self.lam1 = lam1
        self.lam2 = lam2
        self.alpha = alpha
        self.learn = learn
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.clip_norm = clip_norm
        self.keep_atom_norms = keep_atom_norms
        self.log_scalars = log_scalars
        self.dtype = dtype
        self.random_state = random_state
        self.verbose = verbose

    def fit(self, X, Y=None, *, validation_data=None):
        """Train the network on measurement and signal sequences (or only set it up).

        Parameters
        ----------
        X : array_like of shape (n_sequences, T, M)
            Measurement sequences.
        Y : array_like of shape (n_sequences, T, N), optional
            The signal sequences. Without them nothing is learned: the model is classical
            SISTA with ``n_layers`` iterations per frame.
        validation_data : tuple (X_val, Y_val), optional
            Sequences to choose the best epoch on, instead of holding out
            ``validation_fraction`` of ``X`` (all of ``X`` is then trained on).

        Returns
        -------
        self : SISTARegressor
        """
        dtype = check_dtype(self.dtype)
        A = check_array(self.measurement_matrix, "measurement_matrix", ndim=2,
                        dtype=np.float64)
        M, N = A.shape
        X = check_array(X, "X", ndim=3, dtype=dtype)
        if X.shape[2] != M:
            raise ValueError(f"X has {X.shape[2]} measurements per frame but measurement_matrix "
                             f"has M={M} rows")
        learn = self._check_hyperparameters()
        D = make_dictionary(self.dictionary, N)
        F = (np.eye(N) if self.transition is None
             else check_array(self.transition, "transition", ndim=2, dtype=np.float64))
        if F.shape != (N, N):
            raise ValueError(f"transition must have shape ({N}, {N}), got {F.shape}")
        params = SISTAParams.initial(A, D, F, self.alpha, self.lam1, self.lam2)
        self.initial_dictionary_, self.initial_transition_ = D.copy(), F.copy()
        self.loss_curve_, self.validation_scores_ = [], []
        self.best_epoch_ = self.n_epochs_ = 0
        if Y is not None:
            Y = check_array(Y, "Y", ndim=3, dtype=dtype)
            if Y.shape != X.shape[:2] + (N,):
                raise ValueError(f"Y must have shape {X.shape[:2] + (N,)} to match X and "
                                 f"measurement_matrix, got {Y.shape}")
            rng = check_random_state(self.random_state)
            if validation_data is not None:
                X_fit, Y_fit = X, Y
                X_val, Y_val = _validation_pair(validation_data, X, Y, dtype)
            else:
                X_fit, Y_fit, X_val, Y_val = _hold_out(X, Y, self.validation_fraction, rng)
            result = train(params, X_fit, Y_fit, n_layers=self.n_layers, learn=learn,
                           optimizer=self.optimizer, learning_rate=self.learning_rate,
                           batch_size=self.batch_size, max_epochs=self.max_epochs,
                           X_val=X_val, Y_val=Y_val, n_iter_no_change=self.n_iter_no_change,
                           clip_norm=self.clip_norm, keep_atom_norms=self.keep_atom_norms,
                           log_scalars=self.log_scalars, dtype=dtype,
                           random_state=rng.randint(2**31), verbose=self.verbose)
            params = result.params
            self.loss_curve_ = list(result.loss_curve)
            self.validation_scores_ = list(result.validation_scores)
            self.best_epoch_, self.n_epochs_ = result.best_epoch, result.n_epochs
        self._set_learned(params)
        try:
            self._check_learned()
            for name in set(learn) & {"alpha", "lam1", "lam2"} if self.log_scalars else ():
                if not 0 < getattr(self, f"{name}_") < np.inf:  # (a logarithm diverged)
                    raise ValueError(f"{name} went to {getattr(self, f'{name}_'):g}")
        except ValueError as error:
            raise ValueError(f"training diverged: {error}; expected a smaller "
                             f"learning_rate (now {self.learning_rate:g})") from None
        return self

    def predict(self, X):
        """Reconstruct the signal sequences from measurement sequences.

        Parameters
        ----------
        X : array_like of shape (n_sequences, T, M) or (T, M)

        Returns
        -------
        ndarray of shape (n_sequences, T, N) or (T, N)

        Raises
        ------
        FloatingPointError
            If the output is not finite (it is never returned with NaN).
        """
        check_is_fitted(self, "dictionary_")
        X = check_array(X, "X", ndim=(2, 3), dtype=check_dtype(self.dtype))
        M = self.measurement_matrix_.shape[0]
        if X.shape[-1] != M:
            raise ValueError(f"X has {X.shape[-1]} measurements per frame, the model expects "
                             f"M={M}")
        single = X.ndim == 2
        y_hat = forward(self._params(), X[None] if single else X, self.n_layers)
        if not np.isfinite(y_hat).all():
            raise FloatingPointError("the SISTA-RNN's output is not finite (NaN or Inf); "
                                     "likely cause: X scaled so far from 1 that the network's "
                                     "products overflow")
        return y_hat[0] if single else y_hat

    def score(self, X, Y, sample_weight=None):
        """R^2 of the prediction over all entries together (1 is perfect).

        ``1 - ||Y - Y_hat||^2 / ||Y - mean(Y)||^2``, with the mean over all entries.

        Parameters
        ----------
        X : array_like of shape (n_sequences, T, M)
        Y : array_like of shape (n_sequences, T, N)
        sample_weight : array_like of shape (n_sequences,), optional
            Weight of every sequence.

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
        check_is_fitted(self, "dictionary_")
        learned = self._LEARNED + (("inverse_dictionary_",) if self.inverse_dictionary_
                                    is not None else ())
        _write_model(self, path, learned)

    def _check_hyperparameters(self):
        learn = check_learn(self.learn)
        for name in ("lam1", "lam2"):
            value = check_number(getattr(self, name), name, low=0)
            if value == 0 and name in learn and self.log_scalars:
                raise ValueError(f"{name}=0 cannot be learned (it is trained through its "
                                 "logarithm); give a positive value or remove it from learn")
        if self.alpha is not None:
            check_number(self.alpha, "alpha", low=0, low_open=True)
        check_int(self.n_layers, "n_layers", low=1, high=MAX_LAYERS)
        for name in ("batch_size", "max_epochs"):
            check_int(getattr(self, name), name, low=1)
        check_number(self.learning_rate, "learning_rate", low=0, low_open=True)
        check_number(self.validation_fraction, "validation_fraction", low=0, high=1,
                     high_open=True)
        check_choice(self.optimizer, "optimizer", ("rmsprop", "adam"))
        return learn

    def _check_learned(self):
        _check_learned(self)

    def _set_learned(self, params):
        self.dictionary_, self.transition_ = params.D, params.F
        self.measurement_matrix_, self.h0_ = params.A, params.h0
        self.alpha_, self.lam1_, self.lam2_ = params.alpha, params.lam1, params.lam2
        self.inverse_dictionary_ = params.Dinv

    def _params(self):
        return SISTAParams(D=self.dictionary_, F=self.transition_, A=self.measurement_matrix_,
                           alpha=self.alpha_, lam1=self.lam1_, lam2=self.lam2_, h0=self.h0_,
                           Dinv=self.inverse_dictionary_)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        tags.target_tags.multi_output = True
        return tags


def load_model(path):
    """Read a model written by the ``save`` method of an estimator of sparserec.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    SISTARegressor, LISTARegressor or LAMPRegressor
        Fitted, ready to predict.

    Raises
    ------
    sparserec.io.InputError
        A ``ValueError`` naming the file, if it is not a complete model. The file is read
        with ``allow_pickle=False``: it can never run code.
    """
    classes = {_format(cls): cls for cls in (SISTARegressor, LISTARegressor, LAMPRegressor)}
    format, hyperparameters, arrays = io.read_model(path, tuple(classes))
    cls = classes[format]
    try:
        unknown = set(hyperparameters) - set(cls().get_params())
        if unknown:
            raise ValueError(f"unknown hyperparameter {sorted(unknown)[0]!r}")
        for key, value in hyperparameters.items():
            if isinstance(value, dict):
                hyperparameters[key] = arrays[value["__array__"]]
            elif isinstance(value, list):
                hyperparameters[key] = tuple(value)
        model = cls(**hyperparameters)
        model._check_hyperparameters()
        check_dtype(model.dtype)
        for key in cls._LEARNED:
            setattr(model, key, arrays[key])
        for key in cls._OPTIONAL:
            setattr(model, key, arrays.get(key))
        model._check_learned()
    except KeyError as error:
        raise io.InputError(f"{path}: missing array {error.args[0]!r}; expected a model "
                            f"written by {cls.__name__}.save") from None
    except (ValueError, TypeError) as error:
        raise io.InputError(f"{path}: {error}; expected a model written by "
                            f"{cls.__name__}.save") from None
    return model


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


def _check_learned(model):
    """Check (and convert in place) the learned attributes of a SISTARegressor: shapes
    that fit together, finite values, a positive step and non-negative penalties."""
    A = check_array(model.measurement_matrix_, "measurement_matrix_", ndim=2,
                    dtype=np.float64)
    N = A.shape[1]
    model.measurement_matrix_ = A
    squares = ["dictionary_", "transition_", "initial_dictionary_", "initial_transition_"]
    if model.inverse_dictionary_ is not None:
        squares.append("inverse_dictionary_")
    for name in squares:
        setattr(model, name, check_square(getattr(model, name), name, N, np.float64))
    model.h0_ = check_array(model.h0_, "h0_", ndim=1, dtype=np.float64)
    if model.h0_.shape != (N,):
        raise ValueError(f"h0_ must have shape ({N},), got {model.h0_.shape}")
    model.alpha_ = check_number(_scalar(model.alpha_), "alpha_", low=0, low_open=True)
    for name in ("lam1_", "lam2_"):
        setattr(model, name, check_number(_scalar(getattr(model, name)), name, low=0))
    _check_history(model)


def _check_history(model):
    """The training history of a loaded model: counts and lists of numbers."""
    for name in ("best_epoch_", "n_epochs_"):  # (stored as float64, as every array)
        value = _scalar(getattr(model, name))
        value = int(value) if isinstance(value, float) and value.is_integer() else value
        setattr(model, name, check_int(value, name))
    for name in {"loss_curve_", "validation_scores_", "layer_scores_"} & set(model._LEARNED):
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


#: The most layers per frame a SISTA-RNN may have (each is an (N, N) product per frame).
MAX_LAYERS = 1000


# ----------------------------------------------------------------------------------------
# LISTA and LAMP: unfolded one-shot solvers


class _UnfoldedRegressor(RegressorMixin, BaseEstimator):
    """What LISTARegressor and LAMPRegressor share: fit, predict, save.

    A subclass defines ``_module`` (its module of :mod:`sparserec.learned`), ``_LEARNED``
    (its learned arrays, saved with the model), ``_initial_params(A, Y)``,
    ``_set_learned(params)``, ``_params()`` and ``_check_learned()``.
    """

    _OPTIONAL = ()

    def fit(self, X, Y=None, *, validation_data=None):
        """Train the network on measurement and code pairs (or only set it up).

        Parameters
        ----------
        X : array_like of shape (n_samples, M)
            Measurements, one per row.
        Y : array_like of shape (n_samples, N), optional
            The codes. Without them nothing is learned: the network is the classical
            solver it unfolds, with ``n_layers`` iterations.
        validation_data : tuple (X_val, Y_val), optional
            Pairs to choose the best parameters on, instead of holding out
            ``validation_fraction`` of ``X``.

        Returns
        -------
        self
        """
        dtype = check_dtype(self.dtype)
        A = check_array(self.measurement_matrix, "measurement_matrix", ndim=2,
                        dtype=np.float64)
        M, N = A.shape
        X = check_array(X, "X", ndim=2, dtype=dtype)
        if X.shape[1] != M:
            raise ValueError(f"X has {X.shape[1]} measurements per row but measurement_matrix "
                             f"has M={M} rows")
        self._check_hyperparameters()
        if Y is not None:
            Y = check_array(Y, "Y", ndim=2, dtype=dtype)
            if Y.shape != (len(X), N):
                raise ValueError(f"Y must have shape ({len(X)}, {N}) to match X and "
                                 f"measurement_matrix, got {Y.shape}")
        params = self._initial_params(A, Y)
        self.loss_curve_, self.validation_scores_, self.layer_scores_ = [], [], []
        self.best_epoch_ = self.n_epochs_ = 0
        if Y is not None:
            rng = check_random_state(self.random_state)
            if validation_data is not None:
                X_fit, Y_fit = X, Y
                X_val, Y_val = _validation_pair(validation_data, X, Y, dtype)
            else:
                X_fit, Y_fit, X_val, Y_val = _hold_out(X, Y, self.validation_fraction, rng)
            result = unfolded.train(
                params, X_fit, Y_fit, layerwise=self.layerwise,
                refinements=tuple(self.refinements), optimizer=self.optimizer,
                learning_rate=self.learning_rate, batch_size=self.batch_size,
                max_epochs=self.max_epochs, n_iter_no_change=self.n_iter_no_change,
                tol=self.tol, X_val=X_val, Y_val=Y_val, dtype=dtype,
                random_state=rng.randint(2**31),
                verbose=self.verbose)
            params = result.params
            self.loss_curve_ = list(result.loss_curve)
            self.validation_scores_ = list(result.validation_scores)
            self.best_epoch_, self.n_epochs_ = result.best_epoch, result.n_epochs
            if result.stages and X_val is not None:
                self.layer_scores_ = [min(s["best_score"] for s in result.stages
                                          if s["depth"] == depth)
                                      for depth in range(1, self.n_layers + 1)]
        self._set_learned(params)
        self.measurement_matrix_ = A
        return self

    def predict(self, X):
        """Recover the codes from measurements.

        Parameters
        ----------
        X : array_like of shape (n_samples, M) or (M,)

        Returns
        -------
        ndarray of shape (n_samples, N) or (N,)

        Raises
        ------
        FloatingPointError
            If the output is not finite (it is never returned with NaN).
        """
        check_is_fitted(self, "theta_")
        X = check_array(X, "X", ndim=(1, 2), dtype=check_dtype(self.dtype))
        M = self.measurement_matrix_.shape[0]
        if X.shape[-1] != M:
            raise ValueError(f"X has {X.shape[-1]} measurements per row, the model expects "
                             f"M={M}")
        single = X.ndim == 1
        codes = self._module.forward(self._params(), X[None] if single else X)
        if not np.isfinite(codes).all():
            raise FloatingPointError(f"the {type(self).__name__}'s output is not finite (NaN "
                                     "or Inf); likely cause: X scaled far from the training "
                                     "data")
        return codes[0] if single else codes

    def save(self, path):
        """Write the fitted model to an npz file (numeric arrays and JSON, no pickle),
        atomically. Read it with :func:`load_model`.

        Parameters
        ----------
        path : str or os.PathLike
        """
        check_is_fitted(self, "theta_")
        _write_model(self, path, self._LEARNED)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


class LISTARegressor(_UnfoldedRegressor):
    """LISTA (Gregor and LeCun, 2010) as a scikit-learn regressor from measurements to codes.

    ISTA with ``n_layers`` iterations, unfolded into a network
    ``h_{k+1} = soft(B x + S h_k; theta_k)`` whose matrices ``B`` (N, M), ``S`` (N, N)
    (shared by the layers) and per-layer thresholds ``theta_k`` are trained by
    backpropagation (:mod:`sparserec.learned.lista`). Before training it is ISTA with step
    ``1 / L``, ``L = 1.001 ||A||_2^2``, and threshold ``lam / L``.

    Parameters
    ----------
    measurement_matrix : array_like of shape (M, N)
        The matrix ``A`` of the measurements ``x = A h``: the initial weights.
    n_layers : int, default=10
        K.
    lam : float, default=0.1
        The l1 penalty of the initial ISTA (in units of ``x``).
    layerwise : bool, default=True
        Train layer by layer (the new layer alone, then all layers at the smaller learning
        rates of ``refinements``, for every depth; :func:`sparserec.learned.train_layerwise`);
        False: all layers together from the start.
    refinements : tuple of float, default=(0.1,)
        The learning-rate factors of the stages that train all layers after each new one.
    optimizer : {'adam', 'rmsprop'}, default='adam'
    learning_rate : float, default=1e-3
    batch_size : int, default=100
    max_epochs : int, default=20
        Per stage when ``layerwise``.
    n_iter_no_change : int, default=3
        End a stage (or training) after this many epochs without an improvement of the
        validation NMSE by more than ``tol`` dB.
    tol : float, default=0.01
    validation_fraction : float, default=0.1
        Held out to choose the best parameters of every stage.
    dtype : {'float64', 'float32'}, default='float64'
    random_state : int, RandomState or None, default=None
    verbose : bool, default=False

    Attributes
    ----------
    B_ : ndarray of shape (N, M)
    S_ : ndarray of shape (N, N)
    theta_ : ndarray of shape (n_layers,)
        The learned matrices and thresholds.
    measurement_matrix_ : ndarray of shape (M, N)
    loss_curve_, validation_scores_ : list of float
        Of every epoch (of every stage, one after the other).
    layer_scores_ : list of float
        Layer-wise training with validation: the best validation NMSE (dB) of the network
        of 1, 2, ..., ``n_layers`` layers.
    best_epoch_, n_epochs_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from sparserec import LISTARegressor, gaussian_matrix
    >>> A = gaussian_matrix(20, 40, random_state=0)
    >>> rng = np.random.default_rng(0)
    >>> H = rng.standard_normal((200, 40)) * (rng.random((200, 40)) < 0.1)
    >>> model = LISTARegressor(A, n_layers=3, max_epochs=2, random_state=0).fit(H @ A.T, H)
    >>> model.predict(H[:5] @ A.T).shape
    (5, 40)
    """

    _module = lista
    _LEARNED = ("measurement_matrix_", "B_", "S_", "theta_", "loss_curve_",
                "validation_scores_", "layer_scores_", "best_epoch_", "n_epochs_")

    def __init__(self, measurement_matrix=None, *, n_layers=10, lam=0.1, layerwise=True,
                 refinements=(0.1,), optimizer="adam", learning_rate=1e-3,
                 batch_size=100, max_epochs=20, n_iter_no_change=3, tol=0.01,
                 validation_fraction=0.1, dtype="float64", random_state=None, verbose=False):
        self.measurement_matrix = measurement_matrix
        self.n_layers = n_layers
        self.lam = lam
        self.layerwise = layerwise
        self.refinements = refinements
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.validation_fraction = validation_fraction
        self.dtype = dtype
        self.random_state = random_state
        self.verbose = verbose


    def _check_hyperparameters(self):
        _check_unfolded_hyperparameters(self)
        check_number(self.lam, "lam", low=0)

    def _initial_params(self, A, Y):
        return lista.LISTAParams.initial(A, self.n_layers, lam=self.lam)

    def _set_learned(self, params):
        self.B_, self.S_, self.theta_ = params.B, params.S, params.theta

    def _params(self):
        return lista.LISTAParams(B=self.B_, S=self.S_, theta=self.theta_)

    def _check_learned(self):
        M, N = self.measurement_matrix_.shape
        _check_shapes(self, {"B_": (N, M), "S_": (N, N), "theta_": (self.n_layers,)})


class LAMPRegressor(_UnfoldedRegressor):
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
    layerwise : bool, default=True
        Train layer by layer, as the LAMP paper does
        (:func:`sparserec.learned.train_layerwise`); False: all layers together.
    refinements : tuple of float, default=(0.1,)
    optimizer : {'adam', 'rmsprop'}, default='adam'
    learning_rate : float, default=1e-3
    batch_size : int, default=100
    max_epochs : int, default=20
        Per stage when ``layerwise``.
    n_iter_no_change : int, default=3
    tol : float, default=0.01
        As for :class:`LISTARegressor`.
    validation_fraction : float, default=0.1
    dtype : {'float64', 'float32'}, default='float64'
    random_state : int, RandomState or None, default=None
    verbose : bool, default=False

    Attributes
    ----------
    B_ : ndarray of shape (n_layers, N, M), or (1, N, M) when ``tied``
    theta_ : ndarray of shape (n_layers, 2)
        The learned matrices and denoiser parameters.
    measurement_matrix_ : ndarray of shape (M, N)
    loss_curve_, validation_scores_, layer_scores_, best_epoch_, n_epochs_ :
        As for :class:`LISTARegressor`.

    Examples
    --------
    >>> import numpy as np
    >>> from sparserec import LAMPRegressor, gaussian_matrix
    >>> A = gaussian_matrix(20, 40, random_state=0)
    >>> rng = np.random.default_rng(0)
    >>> H = rng.standard_normal((200, 40)) * (rng.random((200, 40)) < 0.1)
    >>> model = LAMPRegressor(A, n_layers=3, max_epochs=2, random_state=0).fit(H @ A.T, H)
    >>> model.predict(H[:5] @ A.T).shape
    (5, 40)
    """

    _module = lamp
    _LEARNED = ("measurement_matrix_", "B_", "theta_", "loss_curve_", "validation_scores_",
                "layer_scores_", "best_epoch_", "n_epochs_")

    def __init__(self, measurement_matrix=None, *, n_layers=10, denoiser="soft", tied=False,
                 alpha=None, sparsity=None, variance=None, layerwise=True,
                 refinements=(0.1,), optimizer="adam", learning_rate=1e-3,
                 batch_size=100, max_epochs=20, n_iter_no_change=3, tol=0.01,
                 validation_fraction=0.1, dtype="float64", random_state=None, verbose=False):
        self.measurement_matrix = measurement_matrix
        self.n_layers = n_layers
        self.denoiser = denoiser
        self.tied = tied
        self.alpha = alpha
        self.sparsity = sparsity
        self.variance = variance
        self.layerwise = layerwise
        self.refinements = refinements
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.validation_fraction = validation_fraction
        self.dtype = dtype
        self.random_state = random_state
        self.verbose = verbose


    def _check_hyperparameters(self):
        _check_unfolded_hyperparameters(self)
        check_choice(self.denoiser, "denoiser", ("soft", "bg"))
        if self.alpha is not None:
            check_number(self.alpha, "alpha", low=0)
        if self.sparsity is not None:
            check_number(self.sparsity, "sparsity", low=0, high=1, low_open=True,
                         high_open=True)
        if self.variance is not None:
            check_number(self.variance, "variance", low=0, low_open=True)

    def _initial_params(self, A, Y):
        sparsity, variance = self.sparsity, self.variance
        if Y is not None and (sparsity is None or variance is None):
            nonzero = Y != 0
            measured = np.clip(nonzero.mean(), 1e-3, 1 - 1e-3)
            sparsity = measured if sparsity is None else sparsity
            if variance is None:
                variance = float(np.mean(Y[nonzero] ** 2)) if nonzero.any() else 1.0
        return lamp.LAMPParams.initial(A, self.n_layers, denoiser=self.denoiser,
                                       tied=self.tied, alpha=self.alpha,
                                       nu=1.0 if variance is None else variance,
                                       sparsity=0.1 if sparsity is None else sparsity)

    def _set_learned(self, params):
        self.B_, self.theta_ = params.B, params.theta

    def _params(self):
        return lamp.LAMPParams(A=self.measurement_matrix_, B=self.B_, theta=self.theta_,
                               denoiser=self.denoiser)

    def _check_learned(self):
        M, N = self.measurement_matrix_.shape
        _check_shapes(self, {"B_": (1 if self.tied else self.n_layers, N, M),
                             "theta_": (self.n_layers, 2)})


def _check_unfolded_hyperparameters(model):
    check_int(model.n_layers, "n_layers", low=1, high=MAX_LAYERS)
    for name in ("batch_size", "max_epochs"):
        check_int(getattr(model, name), name, low=1)
    if model.n_iter_no_change is not None:
        check_int(model.n_iter_no_change, "n_iter_no_change", low=1)
    check_number(model.learning_rate, "learning_rate", low=0, low_open=True)
    check_number(model.tol, "tol", low=0)
    check_number(model.validation_fraction, "validation_fraction", low=0, high=1,
                 high_open=True)
    check_choice(model.optimizer, "optimizer", ("rmsprop", "adam"))
    for factor in model.refinements:
        check_number(factor, "refinements", low=0, low_open=True)


def _check_shapes(model, shapes):
    """Learned arrays of the given shapes, finite; and the training history."""
    _check_history(model)
    for name, shape in shapes.items():
        value = check_array(getattr(model, name), name, dtype=np.float64)
        if value.shape != shape:
            raise ValueError(f"{name} must have shape {shape}, got {value.shape}")
        setattr(model, name, value)
