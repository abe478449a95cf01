"""The paper's reproduction end to end on a tiny configuration (seconds), and its CLI route."""

import csv
import importlib.util
import json
import os
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from sparserec import load_model, sample_image
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


def run_tiny(reproduce, sources, tmp_path, models):
    """Train ``models`` for 4 steps and the seed models for 2 on the tiny configuration
    (the splits of ``sources``), then write the report; the summary."""
    pytest.importorskip("matplotlib")
    config = reproduce.Config.tiny()
    original = reproduce.paper_task

    def task(*args, **options):
        return original(*args, **{**options, "images": sources,
                                  "validation_images": ("b",), "test_images": ("c",)})

    reproduce.paper_task = task
    runs, quiet = str(tmp_path / "runs"), (lambda message: None)
    try:
        for name in models:
            reproduce.run(name, config, 0, 4, runs, quiet)
        reproduce.run("sista-rnn-authors", config, 0, 2, runs, quiet)
        return reproduce.report(config, 2, runs, str(tmp_path / "out"),
                                str(tmp_path / "model.npz"), quiet, images=sources)
    finally:
        reproduce.paper_task = original


def test_pipeline_writes_a_well_formed_table_curves_figures_and_the_model(
        reproduce, sources, tmp_path):
    models = ["sista-rnn-authors", "sista-rnn", "stacked-rnn", "untied-sista"]
    summary = run_tiny(reproduce, sources, tmp_path, models)
    rows = {row["method"]: row for row in summary["rows"]}
    assert len(rows) == 9 + 1 + len(models)  # classical, ridge, learned
    for row in summary["rows"]:
        assert np.isfinite(row["psnr"]) and row["mse"] > 0
    authors = rows[reproduce.MODELS["sista-rnn-authors"]]
    # D, Dinv, F, A (32 x 8), h0 and three scalars
    assert authors["parameters"] == 3 * 32**2 + 8 * 32 + 32 + 3
    assert authors["steps"] == 4
    assert rows[reproduce.MODELS["stacked-rnn"]]["parameters"] == (
        32 * 8 + 3 * 32**2 + 2 * 32**2 + 3 * 32 + 3 * 32 + 32**2 + 32)
    assert [seed["steps"] for seed in summary["seeds"]] == [2]
    out = tmp_path / "out"
    with open(out / "results.csv", newline="") as file:
        table = list(csv.reader(file))
    assert table[0][:7] == ["Method", "Test PSNR (dB)", "Test SSIM", "Test MSE",
                            "Training steps", "Trained parameters", "Training time (s)"]
    assert all(len(line) == len(table[0]) for line in table)
    assert "ISTA, 3 iterations, oracle first frame" in [line[0] for line in table]
    for name in ("results.json", "findings.rst", "seeds.csv", "learning_curves.png",
                 "reconstructions.png", "atoms.png"):
        assert (out / name).stat().st_size > 0
    assert json.loads((out / "results.json").read_text())["images"]["test"] == ["c"]
    # the pre-trained model file, loadable, and its description
    model = load_model(tmp_path / "model.npz")
    assert model.inverse_dictionary_ is not None and model.n_layers == 3
    description = json.loads((tmp_path / "model.json").read_text())
    assert description["training_images"] == ["a"]
    assert set(description["normalisation"]) >= {"mean", "std"}


@pytest.mark.slow
def test_pipeline_with_the_lstm(reproduce, sources, tmp_path):
    pytest.importorskip("torch")
    summary = run_tiny(reproduce, sources, tmp_path, ["lstm"])
    rows = {row["method"]: row for row in summary["rows"]}
    assert np.isfinite(rows[reproduce.MODELS["lstm"]]["psnr"])
    assert len(summary["curves"][reproduce.MODELS["lstm"]]["val_psnr"]) == 3


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
def test_command_line_tiny_run(reproduce, tmp_path):
    pytest.importorskip("skimage")
    pytest.importorskip("matplotlib")
    reproduce.main(["run", "sista-rnn", "--tiny", "--steps", "2", "--runs-dir",
                    str(tmp_path / "runs")])
    reproduce.main(["report", "--tiny", "--seed-steps", "2", "--runs-dir",
                    str(tmp_path / "runs"), "--out-dir", str(tmp_path), "--model-out", ""])
    assert (tmp_path / "results.csv").read_text().startswith("Method,")
