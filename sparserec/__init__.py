"""sparserec: sparse recovery with fast batched ISTA, FISTA and SISTA, and the SISTA-RNN."""

__version__ = "0.1.0"

from .solvers import (SolverResult, StepSizeWarning, fista, ista, lipschitz_constant,
                      sista, soft_threshold)

__all__ = ["SolverResult", "StepSizeWarning", "fista", "ista", "lipschitz_constant", "sista",
           "soft_threshold"]
