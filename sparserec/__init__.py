"""sparserec: sparse recovery with fast batched ISTA, FISTA and SISTA, and the SISTA-RNN."""

__version__ = "0.1.0"

from .datasets import sample_image
from .matrices import (bernoulli_matrix, dct_dictionary, gaussian_matrix, identity_dictionary,
                       make_dictionary, paper_matrices, wavelet_dictionary)
from .metrics import nmse_db, psnr, snr, support_recovery
from .network import SISTAParams
from .solvers import (ConvergenceWarning, SolverResult, StepSizeWarning, fista, ista,
                      lipschitz_constant, sista, soft_threshold)
from .training import TrainingStoppedWarning

__all__ = [
    # solvers
    "ConvergenceWarning", "SolverResult", "StepSizeWarning", "fista", "ista",
    "lipschitz_constant", "sista", "soft_threshold",
    # estimators and the learned mode
    "Lasso", "SISTAParams", "SISTARegressor", "TrainingStoppedWarning", "load_model",
    # dictionaries, measurement matrices, metrics, data
    "bernoulli_matrix", "dct_dictionary", "gaussian_matrix", "identity_dictionary",
    "make_dictionary", "paper_matrices", "wavelet_dictionary",
    "nmse_db", "psnr", "snr", "support_recovery", "sample_image",
]


def __getattr__(name):
    # The estimators need scikit-learn, whose import takes most of a second: load them on
    # first use, so that the command line and the functional API start fast.
    if name in ("Lasso", "SISTARegressor", "load_model"):
        from . import estimators

        return getattr(estimators, name)
    raise AttributeError(f"module 'sparserec' has no attribute {name!r}")
