"""sparserec: sparse recovery with fast batched ISTA, FISTA and SISTA, and the SISTA-RNN."""

__version__ = "0.1.0"

from .datasets import sample_image
from .estimators import Lasso, SISTARegressor, load_model
from .matrices import (bernoulli_matrix, dct_dictionary, gaussian_matrix, identity_dictionary,
                       make_dictionary, paper_matrices, wavelet_dictionary)
from .metrics import nmse_db, psnr, snr, support_recovery
from .network import SISTAParams
from .solvers import (SolverResult, StepSizeWarning, fista, ista, lipschitz_constant, sista,
                      soft_threshold)
from .training import TrainingStoppedWarning

__all__ = [
    "Lasso", "SISTAParams", "SISTARegressor", "SolverResult", "StepSizeWarning",
    "TrainingStoppedWarning", "bernoulli_matrix", "dct_dictionary", "fista", "gaussian_matrix",
    "identity_dictionary", "ista", "lipschitz_constant", "load_model", "make_dictionary",
    "nmse_db", "paper_matrices", "psnr", "sample_image", "sista", "snr", "soft_threshold",
    "support_recovery", "wavelet_dictionary",
]
