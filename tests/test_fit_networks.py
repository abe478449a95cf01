"""``sparserec fit --network X`` for every learned estimator, then predict, info, phase
--model and load_model on what it wrote; and the one-line refusals of fit."""

import numpy as np
import pytest

import sparserec
from sparserec.estimators import ESTIMATORS

M, N = 10, 20


def _vectors(n, seed):
    """Bernoulli-Gaussian codes (10%) and their noiseless measurements, with A."""
    A = sparserec.gaussian_matrix(M, N, random_state=0)
    rng = np.random.default_rng(seed)
    y = rng.standard_normal((n, N)) * (rng.random((n, N)) < 0.1)
    return dict(x=y @ A.T, A=A, y=y)


def _sequences(n, seed):
    data = _vectors(n * 4, seed)
    return dict(x=data["x"].reshape(n, 4, M), A=data["A"], y=data["y"].reshape(n, 4, N))


def _write(folder, name, data):
    np.savez(folder / name, **data)
    return folder / name


@pytest.mark.parametrize("network", sorted(ESTIMATORS))
def test_fit_predict_info_and_load_for_every_network(tmp_path, invoke, network):
    make = _sequences if network == "sista-rnn" else _vectors
    _write(tmp_path, "train.npz", make(60, 0))
    test = make(10, 1)
    _write(tmp_path, "test.npz", {"x": test["x"], "y": test["y"]})
    result = invoke("fit", "train.npz", "-o", "model.npz", "--network", network, "--n-layers",
                    "2", "--max-epochs", "2", "--random-state", "0", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    assert "60 signals, trained" in result.output or "60 sequences, trained" in result.output
    model = sparserec.load_model(tmp_path / "model.npz")
    assert type(model) is ESTIMATORS[network] and model.n_layers == 2
    assert isinstance(model.n_epochs_, int) and model.n_epochs_ >= 1

    result = invoke("predict", "--model", "model.npz", "test.npz", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    with np.load(tmp_path / "test_predict.npz", allow_pickle=False) as out:
        np.testing.assert_array_equal(out["y_hat"], model.predict(test["x"]))
    result = invoke("info", "model.npz", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    assert f"valid model: {type(model).__name__}(n_layers=2" in result.output
    assert "threshold" in result.output and " by layer: " in result.output


def test_predict_takes_one_vector_and_refuses_sequences_for_a_one_shot_model(tmp_path,
                                                                            invoke):
    _write(tmp_path, "train.npz", {k: v for k, v in _vectors(20, 0).items() if k != "y"})
    assert invoke("fit", "train.npz", "-o", "m.npz", "-n", "alista", "--n-layers", "3",
                  cwd=tmp_path).exit_code == 0
    _write(tmp_path, "one.npz", {"x": _vectors(1, 1)["x"][0]})
    result = invoke("predict", "--model", "m.npz", "one.npz", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    assert "one.npz: 1 signal predicted" in result.output
    _write(tmp_path, "seq.npz", {"x": _sequences(2, 1)["x"]})
    result = invoke("predict", "--model", "m.npz", "seq.npz", cwd=tmp_path)
    assert result.exit_code == 2
    assert f"seq.npz: array 'x' must have 1 or 2 dimensions, got shape (2, 4, {M})" in \
        result.output


@pytest.mark.parametrize("network", sorted(set(ESTIMATORS) - {"sista-rnn"}))
def test_phase_takes_every_one_shot_model(tmp_path, invoke, network):
    _write(tmp_path, "train.npz", {k: v for k, v in _vectors(20, 0).items() if k != "y"})
    assert invoke("fit", "train.npz", "-o", "m.npz", "-n", network, "--n-layers", "3",
                  cwd=tmp_path).exit_code == 0
    result = invoke("phase", "--model", "m.npz", "--rhos", "0.1", "--trials", "3",
                    "--no-plot", "-o", "phase.npz", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "phase.npz").exists()


def test_an_unknown_network_names_the_known_ones(tmp_path, invoke):
    _write(tmp_path, "train.npz", _vectors(20, 0))
    result = invoke("fit", "train.npz", "-o", "m.npz", "--network", "resnet", cwd=tmp_path)
    assert result.exit_code == 2
    assert "unknown network 'resnet'" in result.output
    assert all(name in result.output for name in ESTIMATORS)
    assert not (tmp_path / "m.npz").exists()


@pytest.mark.parametrize("network", ["lista", "lamp", "alista", "lista-cpss"])
def test_sequences_are_refused_by_the_one_shot_networks(tmp_path, invoke, network):
    _write(tmp_path, "seq.npz", _sequences(5, 0))
    result = invoke("fit", "seq.npz", "-o", "m.npz", "--network", network, cwd=tmp_path)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert lines[0] == (f"error: seq.npz: array 'x' has shape (5, 4, {M}); expected (B, M) "
                        f"vectors, one signal per row, for --network {network}")


def test_a_two_dimensional_x_is_one_sequence_for_the_sista_rnn(tmp_path, invoke):
    _write(tmp_path, "one.npz", _vectors(8, 0))
    result = invoke("fit", "one.npz", "-o", "m.npz", "--max-epochs", "1", "--validation-"
                    "fraction", "0", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    assert "one.npz: 1 sequence, trained" in result.output


@pytest.mark.parametrize("args, message", [
    (["--network", "lista", "--denoiser", "bg"], "--denoiser: not an option of --network "
                                                 "lista"),
    (["--network", "lamp", "--dictionary", "dct"], "--dictionary: not an option of "
                                                   "--network lamp"),
    (["--network", "alista", "--p", "-1"], "p must be"),
    (["--network", "lista-cpss", "--refinements", "0.1,x"], "comma-separated list"),
    (["--clip-norm", "0"], "--clip-norm: clip_norm must be"),
    (["--n-layers", "0"], "--n-layers: n_layers must be"),
])
def test_bad_options_exit_2_with_one_line(tmp_path, invoke, args, message):
    _write(tmp_path, "train.npz", _vectors(20, 0))
    result = invoke("fit", "train.npz", "-o", "m.npz", *args, cwd=tmp_path)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not (tmp_path / "m.npz").exists()


def test_every_option_comes_from_the_estimators_docstrings(invoke, tmp_path):
    result = invoke("fit", "--help", cwd=tmp_path)
    assert result.exit_code == 0
    for cls in ESTIMATORS.values():
        for name in cls().get_params():
            if name not in ("measurement_matrix", "dictionary", "transition", "verbose",
                            "warm_start"):
                assert f"--{name.replace('_', '-')}" in result.output, (cls, name)
    assert "[alista, lista-cpss] Support selection" in " ".join(result.output.split())
