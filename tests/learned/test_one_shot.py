"""What the one-shot networks share (sparserec.learned.base): the deep float64 copy of their
records, their float32 passes, and the checks of a batch. Each network's own tests are in
its own file."""

import numpy as np
import pytest

from sparserec.learned import ALISTA, LAMP, LISTA, LISTACPSS, alista, lamp, lista, lista_cpss

B, M, N, K = 5, 8, 16, 3

#: name -> (network, initial parameters for A, atol of the float32 gradients relative to
#: their largest entry).
NETWORKS = {
    "lista": (LISTA(), lambda A: lista.LISTAParams.initial(A, K), 1e-4),
    "lista-untied": (LISTA(), lambda A: lista.LISTAParams.initial(A, K, tied=False), 1e-4),
    "lamp-soft": (LAMP(), lambda A: lamp.LAMPParams.initial(A, K), 1e-3),
    "lamp-bg": (LAMP(), lambda A: lamp.LAMPParams.initial(A, K, denoiser="bg"), 1e-3),
    "lista-cpss": (LISTACPSS(), lambda A: lista_cpss.LISTACPSSParams.initial(A, K), 1e-4),
    "alista": (ALISTA(), lambda A: alista.ALISTAParams.initial(A, K), 1e-4),
}


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((M, N)) / np.sqrt(M)
    Y = rng.standard_normal((B, N)) * (rng.random((B, N)) < 0.3)
    return A, Y @ A.T + 0.01 * rng.standard_normal((B, M)), Y


def _perturbed(name, A):
    """The initial parameters with every trained array moved by a few percent."""
    network, initial, _ = NETWORKS[name]
    params = initial(A)
    rng = np.random.default_rng(1)
    for field in network.TRAINED:
        value = getattr(params, field)
        setattr(params, field, value * (1 + 0.05 * rng.standard_normal(np.shape(value))))
    return params


@pytest.mark.parametrize("name", NETWORKS)
def test_copy_is_deep_and_float64(problem, name):
    A, _, _ = problem
    params = NETWORKS[name][1](A)
    params.theta = params.theta.astype(np.float32)
    other = params.copy()
    assert type(other) is type(params) and other.theta.dtype == np.float64
    assert other.n_layers == K and other.tied == params.tied
    for field in NETWORKS[name][0].TRAINED:
        getattr(other, field).flat[0] += 1
        assert getattr(other, field).flat[0] != getattr(params, field).flat[0]
    if name.startswith("lamp"):
        assert other.denoiser == params.denoiser


@pytest.mark.parametrize("name", NETWORKS)
def test_float32_runs_in_float32_and_agrees(problem, name):
    A, X, Y = problem
    network, _, atol = NETWORKS[name]
    params = _perturbed(name, A)
    h32 = network.forward(params, X.astype(np.float32))
    assert h32.dtype == np.float32
    np.testing.assert_allclose(h32, network.forward(params, X), rtol=1e-4, atol=1e-5)
    loss32, g32 = network.loss_and_grad(params, X, Y, dtype=np.float32)
    loss64, g64 = network.loss_and_grad(params, X, Y)
    assert loss32 == pytest.approx(loss64, rel=1e-4)
    for field in network.TRAINED:
        assert g32[field].dtype == np.float64
        np.testing.assert_allclose(g32[field], g64[field], rtol=1e-3,
                                   atol=atol * np.abs(g64[field]).max(), err_msg=field)


@pytest.mark.parametrize("name", NETWORKS)
def test_a_bad_batch_is_refused(problem, name):
    A, X, Y = problem
    network, initial, _ = NETWORKS[name]
    params = initial(A)
    with pytest.raises(ValueError, match=rf"X must have shape \(B, M\) = \(B, {M}\)"):
        network.forward(params, X[:, :5])
    with pytest.raises(ValueError, match="X must have 2 dimensions"):
        network.forward(params, X[0])
    with pytest.raises(ValueError, match=rf"Y must have shape \(B, N\) = \({B}, {N}\)"):
        network.loss_and_grad(params, X, Y[:, :3])
    with pytest.raises(ValueError, match="n_layers must be an integer in"):
        network.forward(params, X, depth=K + 1)
    with pytest.raises(ValueError, match="n_layers must be an integer in"):
        network.loss_and_grad(params, X, Y, depth=0)
    with pytest.raises(ValueError, match="dtype"):
        network.forward(params, X, dtype=np.int32)


@pytest.mark.parametrize("network, Params, field", [
    (LISTA(), lista.LISTAParams, "S"), (LAMP(), lamp.LAMPParams, "B"),
    (LISTACPSS(), lista_cpss.LISTACPSSParams, "W")])
def test_untied_at_its_start_is_tied(problem, network, Params, field):
    A, X, Y = problem
    tied, untied = Params.initial(A, K, tied=True), Params.initial(A, K, tied=False)
    assert np.shape(getattr(tied, field))[0] == 1 and tied.tied
    assert np.shape(getattr(untied, field))[0] == K and not untied.tied
    np.testing.assert_allclose(network.forward(untied, X), network.forward(tied, X),
                               rtol=1e-12, atol=1e-15)
    g_tied = network.loss_and_grad(tied, X, Y)[1][field]
    g_untied = network.loss_and_grad(untied, X, Y)[1][field]
    np.testing.assert_allclose(g_untied.sum(axis=0), g_tied[0], rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("name", ["lista", "lista-cpss", "alista"])
def test_negative_thresholds_act_as_zero(problem, name):
    A, X, Y = problem
    network = NETWORKS[name][0]
    params = _perturbed(name, A)
    params.theta[1] = -0.3
    zero = params.copy()
    zero.theta[1] = 0.0
    np.testing.assert_array_equal(network.forward(params, X), network.forward(zero, X))
    assert network.loss_and_grad(params, X, Y)[1]["theta"][1] == 0.0
