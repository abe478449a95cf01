"""The classical solvers, and the registry through which every other part finds them.

Each solver lives in a module of its own (its numba kernels beside it, in
``_<name>_kernels.py``), takes measurements and a measurement matrix, and returns a
:class:`SolverResult`. :data:`SOLVERS` is the one table of them that the command line,
batch runs and phase diagrams read: adding a solver is one new module and one entry here
(docs/contributing.rst).
"""

import importlib
import os
from dataclasses import dataclass
from types import MappingProxyType

from ._base import (ConvergenceWarning, SolverResult, StepSizeWarning, lasso_duality_gap,
                    lasso_objective, lipschitz_constant, soft_threshold)
from .amp import AMPResult, amp
from .greedy import cosamp, iht, omp, subspace_pursuit
from .lasso import lasso, lasso_path
from .proximal import fista, ista
from .sista import sista, sista_weights
from .sparsa import SpaRSAResult, sista_sparsa, sparsa

__all__ = ["Solver", "SOLVERS", "ConvergenceWarning", "SolverResult", "StepSizeWarning",
           "AMPResult", "amp", "omp", "iht", "cosamp", "subspace_pursuit", "fista", "ista",
           "lasso", "lasso_path", "sista", "sista_weights",
           "SpaRSAResult", "sparsa", "sista_sparsa",
           "soft_threshold", "lipschitz_constant", "lasso_objective", "lasso_duality_gap"]


@dataclass(frozen=True)
class Solver:
    """A solver as the command line, batch runs and phase diagrams call it.

    Attributes
    ----------
    function : callable
        ``function(x, A, **options)``, returning a :class:`SolverResult`.
    sequential : bool
        It takes sequences, (T, M) or (B, T, M); otherwise every row of ``x`` is an
        independent signal and it gets them as one (rows, M) batch.
    options : mapping
        The keywords it takes from a data file or the command line, with their defaults
        there (``D`` and ``F`` are the file's arrays, None when absent).
    phase_options : mapping
        Its defaults in phase diagrams (:func:`sparserec.phase_transition`), chosen to
        approximate l1 minimisation; ``lam1_ratio`` sets ``lam1`` to that fraction of
        ``max |A^T x|`` in every cell.
    """

    function: object
    sequential: bool
    options: MappingProxyType
    phase_options: MappingProxyType

    def needs_compiling(self):
        """Whether numba's cache lacks a kernel of this solver (those of its module's
        ``_<name>_kernels.py``): its first call then compiles them, for seconds. False
        when it cannot tell."""
        package, name = self.function.__module__.rsplit(".", 1)
        try:
            kernels = importlib.import_module(f"{package}._{name}_kernels")
            return any(not os.path.exists(kernel._cache._cache_file._index_path)
                       for kernel in vars(kernels).values()
                       if hasattr(getattr(kernel, "_cache", None), "_cache_file"))
        except (ImportError, AttributeError):  # (numba's internals changed: no notice)
            return False


def _solver(function, sequential, options, phase_options):
    return Solver(function, sequential, MappingProxyType(options),
                  MappingProxyType(phase_options))


# Phase diagrams: a small penalty (the lasso tends to basis pursuit as it vanishes) and a
# tight tolerance; AMP with the minimax threshold (the l1 curve by construction) and lightly
# damped, because at N = 500 plain AMP diverges for some
# Gaussian matrices when the minimax threshold is small (delta near 1), and damping keeps
# its fixed points.
_PHASE_LASSO = dict(lam1_ratio=1e-4, tol=1e-9)

#: The solvers by name.
SOLVERS = MappingProxyType({
    "ista": _solver(ista, False, dict(lam1=0.1, alpha=None, max_iter=1000, tol=1e-6, D=None),
                    dict(_PHASE_LASSO, max_iter=20000)),
    "fista": _solver(fista, False, dict(lam1=0.1, alpha=None, max_iter=1000, tol=1e-6, D=None),
                     dict(_PHASE_LASSO, max_iter=5000)),
    "lasso": _solver(lasso, False, dict(lam1=0.1, max_iter=1000, tol=1e-6, D=None),
                     dict(_PHASE_LASSO, max_iter=10000)),
    "sista": _solver(sista, True, dict(lam1=0.1, lam2=1.0, alpha=None, n_iter=None,
                                       max_iter=1000, tol=1e-6, D=None, F=None),
                     dict(lam1_ratio=1e-4, lam2=0.0, tol=1e-7, max_iter=20000)),
    "sparsa": _solver(sparsa, False, dict(lam1=0.1, max_iter=1000, tol=1e-6, D=None),
                      dict(_PHASE_LASSO, max_iter=5000)),
    "sista_sparsa": _solver(sista_sparsa, True, dict(lam1=0.1, lam2=1.0, n_iter=None,
                                                     max_iter=1000, tol=1e-6, D=None, F=None),
                            dict(lam1_ratio=1e-4, lam2=0.0, tol=1e-9, max_iter=5000)),
    "amp": _solver(amp, False, dict(tau=None, damping=None, max_iter=1000, tol=1e-6, D=None),
                   dict(tau="minimax", damping=0.2, max_iter=1000, tol=1e-7)),
    # Greedy: in phase diagrams, told the true number of nonzeros of each cell (as in
    # Blanchard and Tanner's comparisons) unless n_nonzero is given.
    "omp": _solver(omp, False, dict(n_nonzero=None, tol=None, D=None), dict(tol=None)),
    "iht": _solver(iht, False, dict(n_nonzero=None, max_iter=1000, tol=1e-6, D=None),
                   dict(max_iter=3000, tol=1e-10)),
    "cosamp": _solver(cosamp, False, dict(n_nonzero=None, max_iter=100, tol=1e-6, D=None),
                      dict(max_iter=300, tol=1e-10)),
    "sp": _solver(subspace_pursuit, False, dict(n_nonzero=None, max_iter=100, tol=1e-6,
                                               D=None),
                  dict(max_iter=300, tol=1e-10)),
})
