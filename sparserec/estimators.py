"""scikit-learn style estimators: the faces of the solvers for fit / predict users."""

import warnings

import numpy as np
from sklearn.base import BaseEstimator, MultiOutputMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import check_is_fitted, validate_data

from .solvers import fista

__all__ = ["Lasso"]


class Lasso(MultiOutputMixin, RegressorMixin, BaseEstimator):
    """Lasso with scikit-learn's objective, solved by batched FISTA.

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
    max_iter : int, default=1000
        Maximum number of FISTA iterations.
    tol : float, default=1e-4
        Stop when the duality gap is at most ``tol * ||y||^2`` in the unscaled objective,
        as scikit-learn's coordinate descent does.
    warm_start : bool, default=False
        Start from the previous ``coef_`` when it has the right shape.
    positive : bool, default=False
        Constrain the coefficients to be non-negative.

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
    sparserec.fista : the solver, for many signals against one matrix.

    Examples
    --------
    >>> import numpy as np
    >>> from sparserec import Lasso
    >>> X = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]])
    >>> model = Lasso(alpha=0.1).fit(X, [0.0, 1.0, 2.0])
    >>> np.round(model.coef_, 2), round(float(model.intercept_), 2)
    (array([0.85, 0.  ]), 0.15)
    """

    def __init__(self, alpha=1.0, *, fit_intercept=True, max_iter=1000, tol=1e-4,
                 warm_start=False, positive=False):
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol
        self.warm_start = warm_start
        self.positive = positive

    def fit(self, X, y):
        """Fit the model.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)
            Training data (dense).
        y : array_like of shape (n_samples,) or (n_samples, n_targets)
            Targets.

        Returns
        -------
        self : Lasso
            The fitted estimator.
        """
        if not (np.isscalar(self.alpha) and self.alpha >= 0):
            raise ValueError(f"alpha must be a non-negative number, got {self.alpha!r}")
        X, y = validate_data(self, X, y, multi_output=True, y_numeric=True,
                             dtype=[np.float64, np.float32])
        y = y.astype(X.dtype, copy=False)
        single = y.ndim == 1
        Y = y[:, None] if single else y
        n_samples = X.shape[0]
        X_offset = X.mean(axis=0) if self.fit_intercept else np.zeros(X.shape[1], X.dtype)
        Y_offset = Y.mean(axis=0) if self.fit_intercept else np.zeros(Y.shape[1], X.dtype)
        Xc, Yc = X - X_offset, Y - Y_offset

        h_init = None
        if self.warm_start and hasattr(self, "coef_"):
            previous = np.atleast_2d(self.coef_)
            if previous.shape == (Y.shape[1], X.shape[1]):
                h_init = previous
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            # Our relative gap is gap / (1/2 ||y||^2); scikit-learn's test is gap <= tol ||y||^2.
            result = fista(Yc.T, Xc, self.alpha * n_samples, max_iter=self.max_iter,
                           tol=2 * self.tol, h_init=h_init, positive=self.positive)
        if not result.converged.all():
            warnings.warn("Objective did not converge: increase max_iter or tol. Duality gap: "
                          f"{np.max(result.gap):.3g} (relative)", ConvergenceWarning,
                          stacklevel=2)
        coef = result.h
        intercept = Y_offset - coef @ X_offset
        gap = result.gap * 0.5 * (Yc**2).sum(axis=0) / n_samples
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
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        return X @ np.asarray(self.coef_).T + self.intercept_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
