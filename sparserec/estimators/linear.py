"""The linear models: the lasso and orthogonal matching pursuit, drop-ins for
scikit-learn's, solved for many targets at once."""

import warnings

import numpy as np
from sklearn.base import BaseEstimator, MultiOutputMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning as SklearnConvergenceWarning
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from .._validation import ARRAY, BOOLEAN, MAX_COUNT, RANDOM_STATE, InvalidParameterError, \
    Rule, check_parameters, integer, one_of, real, short_repr
from ..solvers import ConvergenceWarning, lasso, lasso_path, omp

__all__ = ["Lasso", "LassoCV", "OrthogonalMatchingPursuit", "LinearConvergenceWarning"]


class LinearConvergenceWarning(ConvergenceWarning, SklearnConvergenceWarning):
    """What :class:`Lasso` warns of when a target does not converge: sparserec's
    :class:`~sparserec.ConvergenceWarning` and scikit-learn's at once, so that code
    written for scikit-learn's estimator catches it. (The solvers warn sparserec's only:
    importing scikit-learn would slow every command's start.)"""


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
    LinearConvergenceWarning
        When a target did not reach ``tol`` in ``max_iter`` iterations: a
        :class:`sparserec.ConvergenceWarning` and scikit-learn's ``ConvergenceWarning``.

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

    _parameter_constraints = {
        "alpha": [real(0)],
        "fit_intercept": [BOOLEAN],
        "precompute": [one_of("auto"), BOOLEAN],  # (not a Gram matrix)
        "max_iter": [integer(1)],
        "tol": [real(0)],
        "warm_start": [BOOLEAN],
        "positive": [BOOLEAN],
        "solver": [one_of("auto", "gram", "residual", "fista")],
    }

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
        check_parameters(self)
        alpha, solver = float(self.alpha), self.solver
        if alpha == 0:  # (scikit-learn's warning, word for word)
            warnings.warn("With alpha=0, this algorithm does not converge well. You are "
                          "advised to use the LinearRegression estimator", stacklevel=2)
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
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = lasso(np.ascontiguousarray(Yc.T), Xc, alpha * n_samples,
                           max_iter=int(self.max_iter), tol=2 * float(self.tol),
                           h_init=h_init, positive=bool(self.positive), method=solver,
                           weights=weight, A_offset=A_offset, check_input=False)
        for warning in caught:  # the solver's, as the estimator's own
            category = (LinearConvergenceWarning if issubclass(warning.category,
                                                                ConvergenceWarning)
                        else warning.category)
            warnings.warn(str(warning.message), category, stacklevel=2)
        coef = result.h
        intercept = Y_offset - coef @ X_offset
        squares = Yc**2 if weight is None else Yc**2 * weight[:, None]
        gap = result.gap * 0.5 * squares.sum(axis=0) / n_samples
        if single:
            self.coef_, self.intercept_ = coef[0], intercept[0]
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


class OrthogonalMatchingPursuit(MultiOutputMixin, RegressorMixin, BaseEstimator):
    """Orthogonal matching pursuit, a drop-in for scikit-learn's, for many targets at once.

    The same model as :class:`sklearn.linear_model.OrthogonalMatchingPursuit`: for every
    target, at most ``n_nonzero_coefs`` coefficients, chosen one at a time, fitted by least
    squares. What it adds: every target of a 2-D ``y`` is one signal of one batch of
    :func:`sparserec.omp`, solved in compiled threads; scikit-learn loops over the targets
    in Python (about 20 times slower on 2,000 targets, ``benchmarks/bench_greedy.py``).

    Parameters
    ----------
    n_nonzero_coefs : int, optional
        The nonzero coefficients of every target; default 10% of the features (at least
        one) when ``tol`` is None too.
    tol : float, optional
        The largest squared norm of the residual; replaces ``n_nonzero_coefs`` when given,
        as in scikit-learn.
    fit_intercept : bool, default=True
        Centre ``X`` and ``y`` first (no scaling).
    precompute : 'auto' or bool, default='auto'
        Accepted for compatibility: the Gram matrix is used whenever it fits in memory.

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,) or (n_targets, n_features)
    intercept_ : float or ndarray of shape (n_targets,)
    n_iter_ : int or ndarray of shape (n_targets,)
        The atoms taken per target.
    n_nonzero_coefs_ : int or None
        The number of nonzeros asked for (None when ``tol`` is given).
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from sparserec import OrthogonalMatchingPursuit
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((30, 10))
    >>> y = 2 * X[:, 3] - X[:, 7]
    >>> np.flatnonzero(OrthogonalMatchingPursuit(n_nonzero_coefs=2).fit(X, y).coef_)
    array([3, 7])
    """

    _parameter_constraints = {
        "n_nonzero_coefs": [integer(1), None],
        "tol": [real(0), None],
        "fit_intercept": [BOOLEAN],
        "precompute": [one_of("auto"), BOOLEAN],
    }

    def __init__(self, *, n_nonzero_coefs=None, tol=None, fit_intercept=True,
                 precompute="auto"):
        self.n_nonzero_coefs = n_nonzero_coefs
        self.tol = tol
        self.fit_intercept = fit_intercept
        self.precompute = precompute

    def fit(self, X, y):
        """Fit the model.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)
        y : array_like of shape (n_samples,) or (n_samples, n_targets)

        Returns
        -------
        self : OrthogonalMatchingPursuit
        """
        check_parameters(self)
        X, y = validate_data(self, X, y, multi_output=True, y_numeric=True,
                             dtype=[np.float64, np.float32])
        y = y.astype(X.dtype, copy=False)
        n_samples, n_features = X.shape
        if self.tol is not None:
            self.n_nonzero_coefs_ = None
        elif self.n_nonzero_coefs is None:
            self.n_nonzero_coefs_ = max(int(0.1 * n_features), 1)
        else:
            self.n_nonzero_coefs_ = self.n_nonzero_coefs
        if self.n_nonzero_coefs_ is not None and self.n_nonzero_coefs_ > n_features:
            raise ValueError(f"n_nonzero_coefs={self.n_nonzero_coefs_} is more than the "
                             f"{n_features} features")
        single = y.ndim == 1
        Y = y[:, None] if single else y
        X_offset = X.mean(axis=0) if self.fit_intercept else np.zeros(n_features, X.dtype)
        Y_offset = Y.mean(axis=0) if self.fit_intercept else np.zeros(Y.shape[1], X.dtype)
        # (more atoms than samples would only repeat the samples' span)
        atoms = None if self.n_nonzero_coefs_ is None else min(self.n_nonzero_coefs_,
                                                                n_samples)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # (scikit-learn: silent)
            result = omp(np.ascontiguousarray((Y - Y_offset).T), X - X_offset,
                         n_nonzero=atoms, tol=self.tol)
        coef = result.h
        intercept = Y_offset - coef @ X_offset
        if single:
            self.coef_, self.intercept_ = coef[0], intercept[0]
            self.n_iter_ = int(result.n_iter[0])
        else:
            self.coef_, self.intercept_, self.n_iter_ = coef, intercept, result.n_iter
        return self

    predict = Lasso.predict  # (the same linear model)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


def _check_splitter(value, name):
    if isinstance(value, str) or not (hasattr(value, "split") or hasattr(value, "__iter__")):
        raise TypeError(f"{name} must be a cross-validation splitter or an iterable of "
                        f"(train, test) splits, got {value!r}")


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

    _parameter_constraints = {
        "eps": [real(0, low_open=True)],
        "alphas": [integer(1), ARRAY],
        "fit_intercept": [BOOLEAN],
        "precompute": [one_of("auto"), BOOLEAN, ARRAY],
        "max_iter": [integer(1)],
        "tol": [real(0)],
        "copy_X": [BOOLEAN],
        "cv": [integer(2), Rule(_check_splitter, "a splitter or an iterable of splits"), None],
        "verbose": [BOOLEAN, integer(0)],
        "n_jobs": [integer(-MAX_COUNT), None],
        "positive": [BOOLEAN],
        "random_state": [RANDOM_STATE],
        "selection": [one_of("cyclic", "random")],
    }

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

        check_parameters(self)
        X_given, y = validate_data(self, X, y, accept_sparse="csc", y_numeric=True,
                                   dtype=[np.float64, np.float32])
        X = X_given.astype(np.float64)  # the path in float64; the refit in X's own dtype
        y = np.asarray(y, np.float64)
        folds = _check_folds(check_cv(self.cv).split(X, y), X.shape[0])
        grid = self.alphas
        if isinstance(grid, (int, np.integer)) and not isinstance(grid, bool):
            # The grid of all the data, from the alpha where every coefficient is zero
            Xc, yc = _centred(X, y, self.fit_intercept)
            offset = _offset(X, self.fit_intercept)
            correlation = Xc.T @ yc - (0.0 if offset is None else offset * yc.sum())
            alpha_max = max(float(np.abs(correlation).max()) / X.shape[0], 1e-300)
            grid = np.geomspace(alpha_max, alpha_max * self.eps, grid)

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
                      tol=self.tol, positive=self.positive).fit(X_given, y)
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


def _check_folds(splits, n_samples):
    """The (train, test) index arrays of a cross-validation, each non-empty and in range."""
    expected = (f"cv must give (train, test) pairs of non-empty index arrays in [0, "
                f"{n_samples})")
    try:
        splits = list(splits)
    except (TypeError, ValueError) as error:  # (scikit-learn's wrapper unpacks each split)
        raise InvalidParameterError(f"{expected} ({error})") from None
    folds = []
    for split in splits:
        try:
            train, test = (np.asarray(part) for part in split)
        except (TypeError, ValueError):
            raise InvalidParameterError(f"{expected}, got {split!r}") from None
        for part in (train, test):
            if (part.ndim != 1 or part.size == 0 or part.dtype.kind not in "iu"
                    or part.min() < 0 or part.max() >= n_samples):
                raise InvalidParameterError(f"{expected}, got {short_repr(split)}")
        folds.append((train, test))
    if not folds:
        raise InvalidParameterError(f"{expected}; it gave none")
    return folds


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
