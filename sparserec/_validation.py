"""Every check of user input, in one place.

The public entry points (the solvers, the estimators, the file readers) validate their
input here, once, and pass trusted arrays further down: kernels and internal calls never
check again (``check_input=False``, as in scikit-learn). Each check raises ``TypeError``
for a value of the wrong kind and ``ValueError`` for a value out of range, with a message
that names the parameter and says what was expected.
"""

import numbers
from functools import partial
from typing import Callable, NamedTuple

import numpy as np

#: The largest iteration count, epoch count or size a check accepts by default: beyond,
#: a run would never end (and counts past 2**63 wrap around in the kernels).
MAX_COUNT = 10**9

__all__ = ["MAX_COUNT", "float_dtype", "check_dtype", "check_array", "check_scale",
           "check_square", "check_int", "check_signal_batch", "check_sparse",
           "check_number", "check_choice", "check_signals", "check_sequences", "check_operators",
           "check_initial_codes", "InvalidParameterError", "Rule", "integer", "real", "one_of",
           "BOOLEAN", "ARRAY", "DTYPE", "RANDOM_STATE", "check_parameters", "short_repr"]


def float_dtype(a):
    """The dtype a solver computes ``a`` in: float32 stays float32, anything else float64."""
    return np.dtype(np.float32) if a.dtype == np.float32 else np.dtype(np.float64)


def check_dtype(dtype, name="dtype"):
    """``dtype`` as a NumPy dtype, which must be float32 or float64."""
    try:
        dtype = np.dtype(dtype)
    except (TypeError, ValueError):  # (a tuple is a structured dtype to NumPy)
        raise TypeError(f"{name} must be 'float32' or 'float64', got {dtype!r}") from None
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"{name} must be 'float32' or 'float64', got {dtype}")
    return dtype


def check_array(a, name, *, ndim=None, dtype=None):
    """A real, non-empty, finite array, C-contiguous, of the given rank(s).

    Parameters
    ----------
    a : array_like
    name : str
        How messages call it (``"x"``, or ``"array 'x'"`` for a file's member).
    ndim : int or tuple of int, optional
        The accepted ranks.
    dtype : dtype, optional
        Convert to it; default :func:`float_dtype` of ``a``.

    Returns
    -------
    ndarray
    """
    if a is None:
        raise ValueError(f"{name} is required")
    a = np.asarray(a)
    if a.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be a real numeric array, got dtype {a.dtype}")
    if ndim is not None:
        ranks = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if a.ndim not in ranks:
            raise ValueError(f"{name} must have {' or '.join(map(str, ranks))} dimensions, "
                             f"got shape {a.shape}")
    if a.size == 0:
        raise ValueError(f"{name} is empty (shape {a.shape})")
    source = a
    with np.errstate(over="ignore"):  # an overflowing cast is reported below, in words
        a = np.ascontiguousarray(a, dtype=float_dtype(a) if dtype is None else dtype)
    if not np.isfinite(a).all():
        if a.dtype != source.dtype and np.isfinite(source).all():
            peak = float(np.abs(source).max())
            raise ValueError(f"{name} is finite in {source.dtype} but overflows {a.dtype} "
                             f"(max |{name}| = {peak:.3g}); expected {name} rescaled, or "
                             f"a wider dtype")
        raise ValueError(f"{name} contains NaN or Inf")
    return a


def check_scale(a, name):
    """Refuse an array whose sums of squared entries would overflow its dtype: every solver
    forms such sums (``A^T A``, ``||x||^2``), and would return NaN."""
    peak = float(np.abs(a).max())
    if peak * peak * max(a.shape[-1], 1) > np.finfo(a.dtype).max:
        raise ValueError(f"{name}'s entries are too large (max |{name}| = {peak:.3g}): its "
                         f"sums of squares overflow {a.dtype}; expected {name} rescaled")
    return a


def check_square(a, name, n, dtype):
    """An (n, n) array, checked as by :func:`check_array`."""
    a = check_array(a, name, dtype=dtype)
    if a.shape != (n, n):
        raise ValueError(f"{name} must have shape ({n}, {n}), got {a.shape}")
    return a


def check_int(value, name, *, low=0, high=MAX_COUNT):
    """An integer in ``[low, high]`` (bools are refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < low or (high is not None and value > high):
        bound = f"at least {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"{name} must be an integer {bound}, got {value!r}")
    return int(value)


def check_number(value, name, *, low=None, high=None, low_open=False, high_open=False):
    """A finite real number in the given interval, as a float.

    ``low_open`` and ``high_open`` exclude the bounds: ``low=0, low_open=True`` is
    "positive".
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    above = low is None or (value > low if low_open else value >= low)
    below = high is None or (value < high if high_open else value <= high)
    if not (np.isfinite(value) and above and below):
        interval = _interval(low, high, low_open, high_open)
        raise ValueError(f"{name} must be a finite number{interval}, got {value!r}")
    return value


def _interval(low, high, low_open, high_open):
    """The bounds in words: ' >= 0', ' > 0 and < 1', or '' without bounds."""
    bounds = []
    if low is not None:
        bounds.append(f"{'>' if low_open else '>='} {low:g}")
    if high is not None:
        bounds.append(f"{'<' if high_open else '<='} {high:g}")
    return " " + " and ".join(bounds) if bounds else ""


def check_choice(value, name, choices):
    """One of ``choices`` (strings)."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value


def check_signals(x, A, D):
    """Signals as a (B, M) batch, with the operators, for the lasso-type solvers.

    Returns
    -------
    X : ndarray of shape (B, M), C-contiguous, float32 or float64
    A : ndarray of shape (M, N), in X's dtype
    D : ndarray of shape (N, N) or None (the identity)
    single : bool
        ``x`` was one signal, (M,).
    """
    X, single = check_signal_batch(x)
    A, D = check_operators(A, D, X.shape[1], X.dtype)
    return X, A, D, single


def check_sequences(x, A, D, F):
    """Sequences as a (B, T, M) batch, with the operators, for the sequential solvers.

    Returns
    -------
    X : ndarray of shape (B, T, M), C-contiguous, float32 or float64
    A : ndarray of shape (M, N), in X's dtype
    D, F : ndarrays of shape (N, N), in X's dtype (the identity when omitted: the
        sequential solvers' (N, N) operators need them anyway)
    single : bool
        ``x`` was one sequence, (T, M).
    """
    x = check_scale(check_array(x, "x", ndim=(2, 3)), "x")
    single = x.ndim == 2
    X = x[None] if single else x
    A, D = check_operators(A, D, X.shape[2], X.dtype)
    N = A.shape[1]
    D = np.eye(N, dtype=X.dtype) if D is None else D
    F = np.eye(N, dtype=X.dtype) if F is None else check_square(F, "F", N, X.dtype)
    return X, A, D, F, single


def check_signal_batch(x):
    """Signals ``x``, (M,) or (B, M), as a (B, M) batch, and whether it was one signal."""
    x = check_scale(check_array(x, "x", ndim=(1, 2)), "x")
    single = x.ndim == 1
    return (x[None] if single else x), single


def check_sparse(A, name, M):
    """A scipy.sparse matrix of M rows as CSC with float64 values, checked as
    :func:`check_array` checks a dense one."""
    if A.ndim != 2 or A.shape[0] != M:
        raise ValueError(f"{name} must have shape (M, N) = ({M}, N) to match x, got {A.shape}")
    A = A.tocsc().astype(np.float64)
    if A.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {A.shape})")
    check_array(A.data if A.nnz else np.zeros(1), f"{name}'s values")
    A.sum_duplicates()
    return A


def check_operators(A, D, M, dtype):
    """``A`` (M, N) and ``D`` (N, N) in ``dtype``. ``D`` stays None for the identity, which
    is never built: (N, N) is large when N is (3.2 GB for N = 20000)."""
    A = check_array(A, "A", dtype=dtype)
    if A.ndim != 2 or A.shape[0] != M:
        raise ValueError(f"A must have shape (M, N) = ({M}, N) to match x, got {A.shape}")
    check_scale(A.T, "A")  # (over the columns: A^T A)
    D = None if D is None else check_scale(check_square(D, "D", A.shape[1], dtype).T, "D").T
    return A, D


def check_initial_codes(h, B, N, dtype, name, single):
    """Warm-start codes as a (B, N) array of its own (zeros when ``h`` is None); one (N,)
    code is shared by every signal of a batch."""
    if h is None:
        return np.zeros((B, N), dtype)
    h = check_array(h, name, dtype=dtype)
    expected = (N,) if single else (B, N)
    if h.shape == (N,) and not single:
        h = np.broadcast_to(h, (B, N))
    elif h.shape != expected:
        raise ValueError(f"{name} must have shape {expected}, got {h.shape}")
    return np.array(h.reshape(B, N), dtype=dtype, order="C")


# ----------------------------------------------------------------------------------------
# the hyperparameters of the estimators, declared once per class (scikit-learn's
# ``_parameter_constraints``): {name: [rule, ...]}, None among the rules allowing None


class InvalidParameterError(ValueError, TypeError):
    """A hyperparameter outside its domain (a ``ValueError`` and a ``TypeError``, as
    scikit-learn's, whichever kind of mistake it is)."""


class Rule(NamedTuple):
    """One kind of value a hyperparameter may take.

    ``check(value, name)`` raises ``TypeError`` or ``ValueError``, naming ``name``, when
    ``value`` is not of this kind; ``description`` says the kind in words.
    """

    check: Callable
    description: str


def integer(low=0, high=MAX_COUNT):
    """An integer in ``[low, high]``."""
    return Rule(partial(check_int, low=low, high=high), f"an integer in [{low}, {high}]")


def real(low=None, high=None, *, low_open=False, high_open=False):
    """A finite number in an interval (``low_open``, ``high_open`` exclude the bounds)."""
    return Rule(partial(check_number, low=low, high=high, low_open=low_open,
                        high_open=high_open),
                "a finite number" + _interval(low, high, low_open, high_open))


def one_of(*choices):
    """One of the strings ``choices``."""
    return Rule(lambda value, name: check_choice(value, name, choices),
                ("one of " if len(choices) > 1 else "") + ", ".join(map(repr, choices)))


def _check_bool(value, name):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {short_repr(value)}")


def _check_array_like(value, name):
    if value is None:
        raise ValueError(f"{name} is required")
    if isinstance(value, str) or np.asarray(value, dtype=object).ndim == 0:
        raise TypeError(f"{name} must be an array of numbers, got {short_repr(value)}")


def _check_seed(value, name):
    if not (isinstance(value, np.random.RandomState) or value is None
            or (isinstance(value, numbers.Integral) and not isinstance(value, bool)
                and 0 <= value < 2**32)):
        raise ValueError(f"{name} must be an integer in [0, 2**32), a numpy RandomState or "
                         f"None, got {short_repr(value)}")


BOOLEAN = Rule(_check_bool, "True or False")
#: An array of numbers (its values, shape and finiteness are checked with the data).
ARRAY = Rule(_check_array_like, "an array of numbers")
DTYPE = Rule(lambda value, name: check_dtype(value, name), "'float32' or 'float64'")
RANDOM_STATE = Rule(_check_seed, "an integer seed, a numpy RandomState or None")


def check_parameters(estimator):
    """Check every hyperparameter of ``estimator`` against its class's rules.

    Parameters
    ----------
    estimator : object
        With ``_parameter_constraints``, a dict of every hyperparameter's name to the list
        of its :class:`Rule` (None in the list allows None).

    Raises
    ------
    InvalidParameterError
        Naming the first hyperparameter outside its domain, and the domain.
    """
    for name, rules in estimator._parameter_constraints.items():
        value = getattr(estimator, name)
        if value is None and None in rules:
            continue
        kinds = [rule for rule in rules if rule is not None]
        errors = []
        for rule in kinds:
            try:
                rule.check(value, name)
                break
            except (TypeError, ValueError) as error:
                errors.append(error)
        else:
            if len(kinds) == 1:  # its own message says more (the bound that was missed)
                raise InvalidParameterError(str(errors[0])) from None
            domain = [rule.description for rule in kinds] + ["None"] * (None in rules)
            raise InvalidParameterError(f"{name} must be {', or '.join(domain)}; got "
                                        f"{short_repr(value)}") from None


def short_repr(value):
    """``repr(value)``, cut short: an array's repr can fill a screen."""
    text = " ".join(repr(value).split())
    return text if len(text) <= 60 else text[:57] + "..."
