"""sparserec: sparse recovery with fast batched ISTA, FISTA and SISTA, and the SISTA-RNN."""

from ._version import __version__
from .datasets import make_bernoulli_gaussian, make_sparse_sequences, paper_task, sample_image
from .learned import SISTAParams, TrainingStoppedWarning
from .matrices import (bernoulli_matrix, dct_dictionary, gaussian_matrix, identity_dictionary,
                       make_dictionary, paper_matrices, wavelet_dictionary)
from .metrics import nmse_db, psnr, snr, support_recovery
from .phase import PhaseTransition, load_phase_transition, phase_transition, recovery_success
from .solvers import (SOLVERS, AMPResult, ConvergenceWarning, SolverResult, SpaRSAResult,
                      StepSizeWarning, amp, fista, ista, lasso, lasso_path, lipschitz_constant,
                      sista, sista_sparsa, soft_threshold, sparsa)
from .theory import donoho_tanner_rho, minimax_threshold

__all__ = [
    "__version__",
    # solvers
    "SOLVERS", "ConvergenceWarning", "SolverResult", "StepSizeWarning", "fista", "ista",
    "lipschitz_constant", "sista", "soft_threshold", "lasso", "lasso_path",
    "SpaRSAResult", "sparsa", "sista_sparsa",
    # estimators and the learned mode
    "Lasso", "LassoCV", "SISTAParams", "SISTARegressor", "LISTARegressor", "LAMPRegressor",
    "TrainingStoppedWarning", "load_model", "load_pretrained",
    # dictionaries, measurement matrices, metrics, data
    "bernoulli_matrix", "dct_dictionary", "gaussian_matrix", "identity_dictionary",
    "make_dictionary", "paper_matrices", "wavelet_dictionary",
    "nmse_db", "psnr", "snr", "support_recovery", "sample_image", "make_bernoulli_gaussian",
    "make_sparse_sequences", "paper_task",
    # approximate message passing, phase transitions and their theory
    "AMPResult", "amp", "PhaseTransition", "donoho_tanner_rho", "load_phase_transition",
    "minimax_threshold", "phase_transition", "recovery_success",
]


_ESTIMATORS = ("Lasso", "LassoCV", "SISTARegressor", "LISTARegressor", "LAMPRegressor",
               "load_model", "load_pretrained")


def __getattr__(name):
    # The estimators need scikit-learn, whose import takes most of a second: load them on
    # first use, so that the command line and the functional API start fast.
    if name in _ESTIMATORS:
        from . import estimators

        return getattr(estimators, name)
    raise AttributeError(f"module 'sparserec' has no attribute {name!r}")
