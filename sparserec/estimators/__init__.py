"""scikit-learn style estimators: the faces of the solvers and networks for fit / predict users.

:mod:`~sparserec.estimators.linear` holds the linear models (the lasso, OMP), and
:mod:`~sparserec.estimators.learned` the learned networks over one base class, with the
model files they save and :func:`load_model`, which reads every kind.
"""

from .learned import (ESTIMATORS, PRETRAINED, ALISTARegressor, LAMPRegressor,
                      LearnedRegressor, LISTACPSSRegressor, LISTARegressor, SISTARegressor,
                      load_model, load_pretrained)
from .linear import Lasso, LassoCV, OrthogonalMatchingPursuit

__all__ = ["Lasso", "LassoCV", "OrthogonalMatchingPursuit", "LearnedRegressor",
           "SISTARegressor", "LISTARegressor", "LAMPRegressor", "ALISTARegressor",
           "LISTACPSSRegressor", "ESTIMATORS", "PRETRAINED", "load_model", "load_pretrained"]
