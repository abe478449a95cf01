"""The paper's reproduction end to end on a tiny configuration (seconds), and its CLI route."""

import importlib.util
import json
import os
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from sparserec import sample_image
from sparserec.cli import cli

EXAMPLES = os.path.join(os.path.dirname(__file__), os.pardir, "examples")


@pytest.fixture(scope="module")
def reproduce():
    spec = importlib.util.spec_from_file_location(
        "reproduce_paper", os.path.join(EXAMPLES, "reproduce_paper.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def sources():
    # no scikit-image needed: three disjoint parts of the bundled image
    image = sample_image() * 255.0
    return {"a": image[:64, :64], "b": image[64:, :64], "c": image[:, 64:]}


def tiny(reproduce, lstm):
    config = reproduce.Config.tiny()
    config.lstm = lstm
    return config


def run_tiny(reproduce, sources, tmp_path, lstm):
    pytest.importorskip("matplotlib")
    config = tiny(reproduce, lstm)
    from sparserec.datasets import paper_task
    kwargs = dict(validation_images=("b",), test_images=("c",))
    original = paper_task

    def task(*args, **options):
        return original(*args, **{**options, **kwargs})

    reproduce.paper_task = task
    try:
        return reproduce.run(config, str(tmp_path / "out"), str(tmp_path / "data"),
                             images=sources, verbose=False)
    finally:
        reproduce.paper_task = original


def test_pipeline_writes_table_curves_and_figures(reproduce, sources, tmp_path):
    summary = run_tiny(reproduce, sources, tmp_path, lstm=False)
    methods = [row["method"] for row in summary["rows"]]
    assert methods == ["SISTA, 3 iterations", "SISTA, to convergence", "SISTA-RNN",
                       "generic RNN"]
    for row in summary["rows"]:
        assert np.isfinite(row["psnr"]) and row["mse"] > 0
    rows = {row["method"]: row for row in summary["rows"]}
    assert rows["SISTA-RNN"]["parameters"] == 2 * 32**2 + 3
    assert rows["generic RNN"]["parameters"] == 4 * 32**2 + 32 * 8 + 1
    for name in ("SISTA-RNN", "generic RNN"):
        curve = summary["curves"][name]
        assert curve["epoch"] == [0, 1, 2] and len(curve["val_psnr"]) == 3
    out = tmp_path / "out"
    for name in ("results.csv", "results.json", "learning_curves.png", "reconstructions.png",
                 "atoms.png"):
        assert (out / name).stat().st_size > 0
    assert json.loads((out / "results.json").read_text())["images"]["test"] == ["c"]
    assert sorted(os.listdir(tmp_path / "data")) == ["test.npz", "train.npz",
                                                     "validation.npz"]


@pytest.mark.slow
def test_pipeline_with_the_lstm(reproduce, sources, tmp_path):
    pytest.importorskip("torch")
    summary = run_tiny(reproduce, sources, tmp_path, lstm=True)
    lstm = [row for row in summary["rows"] if row["method"] == "LSTM"]
    assert lstm and np.isfinite(lstm[0]["psnr"])
    assert len(summary["curves"]["LSTM"]["val_psnr"]) == 3


def test_lstm_baseline_trains_and_keeps_its_best_epoch():
    pytest.importorskip("torch")
    sys.path.insert(0, EXAMPLES)
    try:
        from lstm_baseline import train_lstm
    finally:
        sys.path.pop(0)
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((8, 5, 3)), rng.standard_normal((8, 5, 4))
    result = train_lstm(X, Y, X[:2], Y[:2], hidden=4, n_layers=2, batch_size=4,
                        max_epochs=3)
    assert result.n_epochs == 3 and len(result.train_seconds) == 3
    assert result.predict(X).shape == Y.shape
    best = max([result.initial_score, *result.validation_scores])
    assert result.best_epoch == ([result.initial_score, *result.validation_scores]
                                 .index(best))


def test_cli_route_fits_and_predicts_on_the_builder_files(sources, tmp_path):
    from sparserec.datasets import paper_task
    task = paper_task(6, 2, 2, size=32, measurement="bernoulli", images=sources,
                      validation_images=("b",), test_images=("c",))
    paths = task.write_npz(tmp_path)
    runner = CliRunner()
    model = str(tmp_path / "model.npz")
    result = runner.invoke(cli, ["fit", paths["train"], "-o", model, "--validation",
                                 paths["validation"], "--alpha", "1", "--max-epochs", "2",
                                 "--batch-size", "3", "--dtype", "float32"])
    assert result.exit_code == 0, result.output
    out = str(tmp_path / "pred.npz")
    result = runner.invoke(cli, ["predict", "--model", model, paths["test"], "-o", out])
    assert result.exit_code == 0, result.output
    with np.load(out) as data:
        assert data["y_hat"].shape == task.Y_test.shape
        assert np.isfinite(data["psnr_db"])


@pytest.mark.slow
def test_command_line_tiny_run(reproduce, tmp_path, monkeypatch):
    pytest.importorskip("skimage")
    pytest.importorskip("matplotlib")
    monkeypatch.setattr(sys, "argv", ["reproduce_paper.py"])
    reproduce.main(["--tiny", "--no-lstm", "--out-dir", str(tmp_path), "--data-dir", ""])
    assert (tmp_path / "results.csv").read_text().startswith("Method,")
