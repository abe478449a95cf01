"""Tests of sparserec._validation, the one home of the checks of user input: what each
check accepts and refuses, TypeError for a value of the wrong kind and ValueError for one
out of range, and messages that name the parameter; then the same through the public API."""

import fractions

import numpy as np
import pytest

import sparserec
from sparserec._validation import (check_array, check_choice, check_dtype,
                                   check_initial_codes, check_int, check_number,
                                   check_operators, check_signals, check_square, float_dtype)

# ----------------------------------------------------------------------------------------
# numbers


@pytest.mark.parametrize("value", [0, 3, np.int64(7), np.uint8(2), 10**20])
def test_check_int_accepts_integers_and_returns_a_python_int(value):
    out = check_int(value, "n", high=None)
    assert out == value and type(out) is int


@pytest.mark.parametrize("value", [2.5, 2.0, np.float64(3.0), "3", None, True, np.bool_(True),
                                   [1], 1 + 0j])
def test_check_int_refuses_other_kinds_with_type_error(value):
    with pytest.raises(TypeError, match=r"^n must be an integer, got "):
        check_int(value, "n")


def test_check_int_bounds_are_value_errors_naming_the_parameter():
    assert check_int(1, "n", low=1) == 1 and check_int(3, "n", low=1, high=3) == 3
    with pytest.raises(ValueError, match=r"^n_iter must be an integer in \[0, 1000000000\]"):
        check_int(2**63, "n_iter")  # the default bound: counts past it would never end
    with pytest.raises(ValueError,
                       match=r"^max_iter must be an integer in \[0, 1000000000\], got -1$"):
        check_int(-1, "max_iter")
    with pytest.raises(ValueError,
                       match=r"^n_trials must be an integer in \[1, 1000000000\], got 0$"):
        check_int(0, "n_trials", low=1)
    with pytest.raises(ValueError, match=r"^k must be an integer in \[1, 3\], got 4$"):
        check_int(4, "k", low=1, high=3)


@pytest.mark.parametrize("value", [0, 1, 0.5, np.float32(0.25), np.int32(2), np.float64(1e300),
                                   fractions.Fraction(1, 4)])
def test_check_number_accepts_real_numbers_and_returns_a_float(value):
    out = check_number(value, "lam1")
    assert out == float(value) and type(out) is float


@pytest.mark.parametrize("value", ["a", "0.1", None, 1 + 1j, complex(1, 0), True,
                                   np.bool_(False), [0.1], np.array([0.1])])
def test_check_number_refuses_other_kinds_with_type_error(value):
    with pytest.raises(TypeError, match=r"^lam1 must be a real number, got "):
        check_number(value, "lam1")


@pytest.mark.parametrize("value, bounds, message", [
    (-1, dict(low=0), r"^tol must be a finite number >= 0, got -1\.0$"),
    (0, dict(low=0, low_open=True), r"^tol must be a finite number > 0, got 0\.0$"),
    (1, dict(low=0, high=1, high_open=True), r"^tol must be a finite number >= 0 and < 1, "),
    (2, dict(high=1), r"^tol must be a finite number <= 1, got 2\.0$"),
    (np.nan, dict(low=0), r"^tol must be a finite number >= 0, got nan$"),
    (np.inf, dict(low=0), r"^tol must be a finite number >= 0, got inf$"),
    (-np.inf, dict(), r"^tol must be a finite number"),
])
def test_check_number_range_and_finiteness_are_value_errors(value, bounds, message):
    with pytest.raises(ValueError, match=message):
        check_number(value, "tol", **bounds)


def test_check_number_bounds_are_inclusive_unless_open():
    assert check_number(0, "x", low=0) == 0.0
    assert check_number(1, "x", low=0, high=1) == 1.0
    assert check_number(0.5, "x", low=0, high=1, low_open=True, high_open=True) == 0.5


def test_check_number_without_bounds_says_finite_number():
    with pytest.raises(ValueError, match=r"^snr_db must be a finite number, got inf$"):
        check_number(np.inf, "snr_db")


# ----------------------------------------------------------------------------------------
# choices and dtypes


def test_check_choice_accepts_the_choices_and_names_them_otherwise():
    assert check_choice("cd", "method", ("auto", "cd")) == "cd"
    with pytest.raises(ValueError, match=r"^method must be one of 'auto', 'cd'; got 'lars'$"):
        check_choice("lars", "method", ("auto", "cd"))
    with pytest.raises(ValueError, match="method must be one of"):
        check_choice("CD", "method", ("auto", "cd"))  # case matters


def test_check_choice_refuses_a_non_string_with_type_error():
    with pytest.raises(TypeError, match="method"):
        check_choice(3, "method", ("auto", "cd"))


@pytest.mark.parametrize("value, expected", [
    ("float32", np.float32), ("float64", np.float64), (np.float32, np.float32),
    (np.dtype("float64"), np.float64), (float, np.float64),
])
def test_check_dtype_accepts_the_two_float_types(value, expected):
    assert check_dtype(value) == np.dtype(expected)


def test_check_dtype_refuses_others_naming_the_parameter():
    with pytest.raises(ValueError, match=r"^dtype must be 'float32' or 'float64', got int32$"):
        check_dtype("int32")
    with pytest.raises(ValueError, match="precision must be 'float32' or 'float64'"):
        check_dtype(np.float16, "precision")
    with pytest.raises(TypeError, match=r"^dtype must be 'float32' or 'float64', got 'nope'$"):
        check_dtype("nope")


def test_float_dtype_keeps_float32_and_makes_everything_else_float64():
    assert float_dtype(np.zeros(1, np.float32)) == np.float32
    for dtype in (np.float64, np.float16, np.int32, np.int64, bool):
        assert float_dtype(np.zeros(1, dtype)) == np.float64


# ----------------------------------------------------------------------------------------
# arrays


def test_check_array_converts_to_a_contiguous_float_array():
    strided = np.arange(12, dtype=np.int64).reshape(3, 4)[:, ::2]
    out = check_array(strided, "x")
    assert out.dtype == np.float64 and out.flags.c_contiguous
    np.testing.assert_array_equal(out, strided)
    assert check_array(np.ones(3, np.float32), "x").dtype == np.float32
    assert check_array(np.ones(3, np.float32), "x", dtype=np.float64).dtype == np.float64
    assert check_array([True, False], "x").dtype == np.float64
    assert check_array([[1.0]], "x", ndim=(1, 2)).shape == (1, 1)


@pytest.mark.parametrize("value, kwargs, message", [
    (None, {}, r"^x is required$"),
    (np.array(["a"]), {}, r"^x must be a real numeric array, got dtype <U1$"),
    (np.ones(2) + 1j, {}, r"^x must be a real numeric array, got dtype complex128$"),
    (np.array([None, 1.0], dtype=object), {}, r"^x must be a real numeric array, got dtype "
                                              r"object$"),
    (np.ones(4), dict(ndim=(2, 3)), r"^x must have 2 or 3 dimensions, got shape \(4,\)$"),
    (np.ones((2, 2)), dict(ndim=1), r"^x must have 1 dimensions, got shape \(2, 2\)$"),
    (np.ones((0, 3)), {}, r"^x is empty \(shape \(0, 3\)\)$"),
    (np.array([1.0, np.nan]), {}, r"^x contains NaN or Inf$"),
    (np.array([1.0, -np.inf]), {}, r"^x contains NaN or Inf$"),
])
def test_check_array_refusals_name_the_array(value, kwargs, message):
    with pytest.raises(ValueError, match=message):
        check_array(value, "x", **kwargs)


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_check_array_refuses_values_that_overflow_the_dtype():
    message = r"^x is finite in float64 but overflows float32 \(max \|x\| = 1e\+300\)"
    with pytest.raises(ValueError, match=message):
        check_array(np.array([1e300]), "x", dtype=np.float32)
    with pytest.raises(ValueError, match=r"^x contains NaN or Inf$"):
        check_array(np.array([np.inf]), "x", dtype=np.float32)


def test_check_square():
    assert check_square(np.eye(3), "D", 3, np.float32).dtype == np.float32
    with pytest.raises(ValueError, match=r"^D must have shape \(3, 3\), got \(3, 2\)$"):
        check_square(np.ones((3, 2)), "D", 3, np.float64)


def test_check_signals_gives_a_batch_and_operators_in_its_dtype():
    X, A, D, single = check_signals(np.ones(4, np.float32), np.ones((4, 6)), None)
    assert X.shape == (1, 4) and single and D is None
    assert X.dtype == A.dtype == np.float32
    X, A, D, single = check_signals(np.ones((2, 4)), np.ones((4, 6)), np.eye(6))
    assert X.shape == (2, 4) and not single and D.shape == (6, 6)
    with pytest.raises(ValueError, match=r"^A must have shape \(M, N\) = \(4, N\) to match x"):
        check_signals(np.ones(4), np.ones((5, 6)), None)
    with pytest.raises(ValueError, match=r"^A must have shape \(M, N\) = \(4, N\)"):
        check_operators(np.ones(4), None, 4, np.float64)  # a vector is no matrix
    with pytest.raises(ValueError, match=r"^D must have shape \(6, 6\)"):
        check_signals(np.ones(4), np.ones((4, 6)), np.eye(4))


def test_check_initial_codes():
    zeros = check_initial_codes(None, 2, 3, np.float32, "h_init", False)
    assert zeros.shape == (2, 3) and zeros.dtype == np.float32 and not zeros.any()
    shared = check_initial_codes(np.arange(3.0), 2, 3, np.float64, "h_init", False)
    np.testing.assert_array_equal(shared, [[0, 1, 2], [0, 1, 2]])
    shared[0, 0] = 9  # an array of its own, writable
    given = np.ones((2, 3))
    own = check_initial_codes(given, 2, 3, np.float64, "h_init", False)
    own[0, 0] = 5
    assert given[0, 0] == 1
    assert check_initial_codes(np.ones(3), 1, 3, np.float64, "h0", True).shape == (1, 3)
    with pytest.raises(ValueError, match=r"^h0 must have shape \(3,\), got \(1, 3\)$"):
        check_initial_codes(np.ones((1, 3)), 1, 3, np.float64, "h0", True)
    with pytest.raises(ValueError, match=r"^h_init must have shape \(2, 3\), got \(4,\)$"):
        check_initial_codes(np.ones(4), 2, 3, np.float64, "h_init", False)
    with pytest.raises(ValueError, match=r"^h_init contains NaN or Inf$"):
        check_initial_codes(np.full(3, np.nan), 2, 3, np.float64, "h_init", False)


# ----------------------------------------------------------------------------------------
# through the public API


@pytest.fixture(scope="module")
def problem():
    A = sparserec.gaussian_matrix(10, 20, random_state=0)
    return np.random.default_rng(0).standard_normal((3, 10)), A


@pytest.mark.parametrize("solver", ["ista", "fista", "lasso"])
@pytest.mark.parametrize("kwargs, error, message", [
    (dict(lam1="a"), TypeError, r"^lam1 must be a real number, got 'a'$"),
    (dict(lam1=complex(1, 1)), TypeError, r"^lam1 must be a real number, got \(1\+1j\)$"),
    (dict(lam1=None), TypeError, r"^lam1 must be a real number"),
    (dict(lam1=-0.5), ValueError, r"^lam1 must be a finite number >= 0, got -0\.5$"),
    (dict(lam1=np.nan), ValueError, r"^lam1 must be a finite number >= 0, got nan$"),
    (dict(tol=-1), ValueError, r"^tol must be a finite number >= 0, got -1\.0$"),
    (dict(tol="1e-6"), TypeError, r"^tol must be a real number"),
    (dict(max_iter=2.5), TypeError, r"^max_iter must be an integer, got 2\.5$"),
    (dict(max_iter=True), TypeError, r"^max_iter must be an integer, got True$"),
    (dict(max_iter=-1), ValueError, r"^max_iter must be an integer in \[0, 1000000000\], got -1$"),
])
def test_the_lasso_solvers_check_their_settings(problem, solver, kwargs, error, message):
    X, A = problem
    settings = {"lam1": 0.1, **kwargs}
    lam1 = settings.pop("lam1")
    with pytest.raises(error, match=message):
        getattr(sparserec, solver)(X, A, lam1, **settings)


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(lam2="1"), TypeError, "lam2 must be a real number"),
    (dict(lam2=-1), ValueError, "lam2 must be a finite number >= 0"),
    (dict(n_iter=3.0), TypeError, "n_iter must be an integer"),
    (dict(alpha=complex(1, 0)), TypeError, "alpha must be a real number"),
    (dict(alpha=-1.0), ValueError, "alpha must be a finite number > 0"),
])
def test_sista_checks_its_settings(problem, kwargs, error, message):
    X, A = problem
    settings = {"lam1": 0.1, "lam2": 0.5, **kwargs}
    with pytest.raises(error, match=message):
        sparserec.sista(X, A, settings.pop("lam1"), settings.pop("lam2"), **settings)


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(tau="1"), TypeError, "tau must be a real number"),
    (dict(damping=1j), TypeError, "damping must be a real number"),
    (dict(max_iter=2.5), TypeError, "max_iter must be an integer"),
    (dict(tol=-1), ValueError, "tol must be a finite number >= 0"),
])
def test_amp_checks_its_settings(problem, kwargs, error, message):
    X, A = problem
    with pytest.raises(error, match=message):
        sparserec.amp(X, A, **kwargs)


def test_the_method_of_the_lasso_is_a_choice(problem):
    X, A = problem
    with pytest.raises(ValueError, match=r"^method must be one of 'auto', 'gram', 'residual', "
                                         r"'fista'; got 'lars'$"):
        sparserec.lasso(X, A, 0.1, method="lars")


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(lam1="a"), TypeError, "lam1 must be a real number"),
    (dict(lam1=-1.0), ValueError, "lam1 must be a finite number >= 0"),
    (dict(n_layers=2.0), TypeError, "n_layers must be an integer"),
    (dict(n_layers=0), ValueError, "n_layers must be an integer in \\[1, 1000\\]"),
    (dict(learning_rate=0), ValueError, "learning_rate must be a finite number > 0"),
    (dict(validation_fraction=1.0), ValueError, "validation_fraction must be a finite "
                                                "number >= 0 and < 1"),
    (dict(dtype="float16"), ValueError, "dtype must be 'float32' or 'float64'"),
])
def test_the_sista_regressor_checks_its_hyperparameters_at_fit(kwargs, error, message):
    A = sparserec.gaussian_matrix(4, 6, random_state=0)
    model = sparserec.SISTARegressor(A, **kwargs)
    with pytest.raises(error, match=message):
        model.fit(np.zeros((2, 3, 4)))


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(alpha="a"), TypeError, "alpha must be a real number"),
    (dict(alpha=-1.0), ValueError, "alpha must be a finite number >= 0"),
    (dict(max_iter=1.5), TypeError, "max_iter must be an integer"),
    (dict(solver="lars"), ValueError, "solver must be one of 'auto', 'gram', 'residual', 'fista'"),
])
def test_the_lasso_estimator_checks_its_parameters_at_fit(kwargs, error, message):
    X = np.random.default_rng(0).standard_normal((10, 4))
    with pytest.raises(error, match=message):
        sparserec.Lasso(**kwargs).fit(X, X[:, 0])
