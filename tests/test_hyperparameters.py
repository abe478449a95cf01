"""Every estimator's hyperparameters, checked once against their declared domains: a value
outside gives an error naming the parameter, a value inside fits (or is refused by the
data, in words), and degenerate settings behave as scikit-learn's do."""

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sparserec
from sparserec import Lasso, LassoCV, OrthogonalMatchingPursuit
from sparserec.estimators.learned import ESTIMATORS
from sparserec._validation import InvalidParameterError

ALL = [*ESTIMATORS.values(), Lasso, LassoCV, OrthogonalMatchingPursuit]

# Values of every kind, small enough that a fit with them is quick: counts stay below 6.
HOSTILE = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 5),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["", "auto", "adam", "rmsprop", "soft", "bg", "dct", "identity",
                     "float32", "float16", "cyclic", "D", "lam1"]),
    st.lists(st.one_of(st.floats(-2, 2), st.sampled_from(["D", "F", "x"])), max_size=3)
    .map(tuple),
)


def _problem(cls):
    """Tiny training data for ``cls`` and the settings that keep its fit quick."""
    rng = np.random.default_rng(0)
    A = rng.standard_normal((6, 10)) / np.sqrt(6)
    if cls in (Lasso, LassoCV, OrthogonalMatchingPursuit):
        X = rng.standard_normal((30, 8))
        return {}, X, X[:, 0] - X[:, 1]
    quick = dict(n_layers=2, max_epochs=2, batch_size=8, random_state=0)
    if cls._network.input_ndim == 3:
        Y = rng.standard_normal((12, 4, 10)) * (rng.random((12, 4, 10)) < 0.3)
    else:
        Y = rng.standard_normal((40, 10)) * (rng.random((40, 10)) < 0.3)
    return dict(measurement_matrix=A, **quick), Y @ A.T, Y


@pytest.mark.parametrize("cls", ALL, ids=lambda cls: cls.__name__)
def test_every_hyperparameter_has_a_declared_domain(cls):
    assert set(cls._parameter_constraints) == set(cls().get_params())


@pytest.mark.parametrize("cls", ALL, ids=lambda cls: cls.__name__)
@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_hyperparameter_value_fits_or_is_refused_by_name(cls, data):
    base, X, Y = _problem(cls)
    name = data.draw(st.sampled_from(sorted(set(cls().get_params()) - {"measurement_matrix"})))
    value = data.draw(HOSTILE)
    model = cls(**base).set_params(**{name: value})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (convergence warnings of two epochs)
        try:
            model.fit(X, Y)
        except InvalidParameterError as error:
            assert str(error).startswith(f"{name} "), error
        except ValueError as error:  # refused with the data, in words
            assert any(word in str(error) for word in (name, "diverged", "not finite")), error
        else:
            assert np.isfinite(model.predict(X)).all()


@pytest.mark.parametrize("cls, value", [(Lasso, 0), (LassoCV, 0), (Lasso, -1)])
def test_max_iter_below_one_is_refused_as_scikit_learn_does(cls, value):
    X = np.random.default_rng(0).standard_normal((20, 4))
    with pytest.raises(ValueError, match=r"^max_iter must be an integer in \[1, "):
        cls(max_iter=value).fit(X, X[:, 0])


@pytest.mark.parametrize("cls", [Lasso, LassoCV])
def test_float32_in_gives_float32_out(cls):
    X = np.random.default_rng(0).standard_normal((40, 6)).astype(np.float32)
    model = cls().fit(X, X[:, 0] - X[:, 1])
    assert model.coef_.dtype == np.float32
    assert np.asarray(model.intercept_).dtype == np.float32
    assert model.predict(X).dtype == np.float32


def test_an_error_gives_the_domain_of_a_parameter_of_several_kinds():
    with pytest.raises(InvalidParameterError, match=r"^cv must be an integer in \[2, \d+\], "
                                                    r"or a splitter or an iterable of splits, "
                                                    r"or None; got 'x'$"):
        LassoCV(cv="x").fit(np.ones((10, 2)), np.arange(10.0))


def test_invalid_parameters_are_value_and_type_errors():
    # (as scikit-learn's: `except ValueError` and `except TypeError` both catch them)
    assert issubclass(InvalidParameterError, ValueError)
    assert issubclass(InvalidParameterError, TypeError)
    with pytest.raises(TypeError, match="^refinements must be a sequence"):
        sparserec.LISTARegressor(np.eye(3), refinements=5).fit(np.ones((4, 3)), np.ones((4, 3)))
