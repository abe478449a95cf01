"""sparserec: sparse recovery with fast batched ISTA, FISTA and SISTA, and the SISTA-RNN."""

import importlib

from ._version import __version__

# Where each public name lives. Nothing is imported until first used: numba, SciPy and
# scikit-learn take a second or more to load, and the command line must answer Ctrl-C
# with one line from its very start (see __main__.py).
_NAMES = {
    "solvers": ["SOLVERS", "AMPResult", "ConvergenceWarning", "SolverResult", "SpaRSAResult",
                "StepSizeWarning", "amp", "cosamp", "fista", "iht", "ista", "lasso", "lasso_path",
                "lipschitz_constant", "omp", "sista", "sista_sparsa", "soft_threshold", "sparsa",
                "subspace_pursuit"],
    "estimators": ["Lasso", "LassoCV", "OrthogonalMatchingPursuit", "SISTARegressor",
                   "LISTARegressor", "LAMPRegressor", "ALISTARegressor", "LISTACPSSRegressor",
                   "load_model", "load_pretrained"],
    "learned": ["SISTAParams", "TrainingStoppedWarning", "UnstableModelWarning"],
    "matrices": ["bernoulli_matrix", "dct_dictionary", "gaussian_matrix",
                 "identity_dictionary", "make_dictionary", "paper_matrices",
                 "wavelet_dictionary"],
    "metrics": ["nmse_db", "psnr", "snr", "support_recovery"],
    "datasets": ["make_bernoulli_gaussian", "make_sparse_sequences", "paper_task",
                 "sample_image"],
    "phase": ["PhaseTransition", "load_phase_transition", "phase_transition",
              "recovery_success"],
    "theory": ["donoho_tanner_rho", "minimax_threshold"],
}
_HOME = {name: module for module, names in _NAMES.items() for name in names}
_SUBMODULES = (*_NAMES, "batch", "cli", "io")

__all__ = ["__version__", *_HOME]


def __getattr__(name):
    if name in _HOME:
        value = getattr(importlib.import_module(f".{_HOME[name]}", __name__), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module 'sparserec' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted([*__all__, *_SUBMODULES])
