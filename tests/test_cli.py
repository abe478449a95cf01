"""Tests of the ``sparserec`` command: the real console script, and CliRunner for details."""

import dataclasses
import hashlib
import os
import pickle
import shutil
import subprocess
import sys
import zipfile

import numpy as np
import pytest

import sparserec

M, N = 4, 8


def _good(lead=(2, 3), seed=0):
    """A small valid data file: sparse codes in the identity dictionary, with y."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((M, N)) / np.sqrt(M)
    y = np.zeros(lead + (N,))
    y[..., [1, 5]] = rng.standard_normal(lead + (2,))
    return dict(x=y @ A.T, A=A, y=y)


def _command():
    """The installed console script, or ``python -m sparserec`` where it is not installed."""
    script = shutil.which("sparserec")
    return [script] if script else [sys.executable, "-m", "sparserec"]


def _run(*args, cwd, env=None):
    return subprocess.run(_command() + [str(a) for a in args], cwd=cwd, capture_output=True,
                          text=True, timeout=300, env=env)


def _snapshot(directory):
    """Every file under ``directory`` with a hash of its bytes."""
    return {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*")) if p.is_file()}


# ----------------------------------------------------------------------------------------
# the real console script, one test per command


def test_solve_by_the_console_script_writes_next_to_the_input(tmp_path):
    np.savez(tmp_path / "data.npz", **_good())
    result = _run("solve", "--method", "sista", "data.npz", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "6/6 items converged" in result.stdout and "-> data_sista.npz" in result.stdout
    with np.load(tmp_path / "data_sista.npz", allow_pickle=False) as out:
        assert out["h"].shape == out["y_hat"].shape == (2, 3, N)
        assert out["converged"].shape == (2, 3) and "snr_db" in out


def test_solve_batch_by_the_console_script_prints_a_table(tmp_path):
    (tmp_path / "in").mkdir()
    for i in range(3):
        np.savez(tmp_path / "in" / f"s{i}.npz", **_good(seed=i))
    result = _run("solve", "-m", "fista", "--lam1", "0.01", "in/*.npz", "--out-dir", "out",
                  cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].split() == ["file", "status", "items", "converged",
                                                     "time", "(s)", "SNR", "(dB)"]
    assert "3 files: 3 done, 0 skipped, 0 failed" in result.stdout
    assert sorted(p.name for p in (tmp_path / "out").glob("*.npz")) == [
        f"s{i}_fista.npz" for i in range(3)]


def test_info_by_the_console_script(tmp_path):
    np.savez(tmp_path / "data.npz", **_good())
    result = _run("info", "data.npz", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "valid data: 2 sequences of 3 frames, M = 4, N = 8; with y" in result.stdout


def test_demo_by_the_console_script_prints_psnr_and_writes_a_figure(tmp_path):
    pytest.importorskip("matplotlib")
    result = _run("demo", "--plot", "demo.png", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "PSNR" in result.stdout and "wrote demo.png" in result.stdout
    assert (tmp_path / "demo.png").read_bytes()[:4] == b"\x89PNG"


def test_warmup_fills_numba_cache(tmp_path):
    cache = tmp_path / "cache"
    result = _run("warmup", "-m", "amp", "--dtype", "float64", cwd=tmp_path,
                  env=dict(os.environ, NUMBA_CACHE_DIR=str(cache)))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("amp ") and result.stderr == ""
    assert list(cache.rglob("*.nbi")) and list(cache.rglob("*.nbc"))


def test_fit_then_predict_by_the_console_script(tmp_path):
    np.savez(tmp_path / "train.npz", **_good(lead=(6, 3)))
    data = _good(lead=(2, 3), seed=1)
    np.savez(tmp_path / "test.npz", x=data["x"], y=data["y"])
    result = _run("fit", "train.npz", "-o", "model.npz", "--max-epochs", "2", "--batch-size",
                  "2", "--random-state", "0", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "trained 2 epochs" in result.stdout
    result = _run("predict", "--model", "model.npz", "test.npz", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "6 frames predicted, SNR" in result.stdout
    model = sparserec.load_model(tmp_path / "model.npz")
    with np.load(tmp_path / "test_predict.npz", allow_pickle=False) as out:
        assert np.array_equal(out["y_hat"], model.predict(data["x"]))


def test_fit_with_a_validation_file(tmp_path, invoke):
    np.savez(tmp_path / "train.npz", **_good(lead=(6, 3)))
    np.savez(tmp_path / "valid.npz", **_good(lead=(2, 3), seed=2))
    result = invoke("fit", "train.npz", "-o", "m.npz", "--validation", "valid.npz",
                     "--max-epochs", "2", "--batch-size", "3", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    assert len(sparserec.load_model(tmp_path / "m.npz").validation_scores_) == 2


def test_fit_shares_the_estimator_defaults(tmp_path, invoke):
    np.savez(tmp_path / "train.npz", **{k: v for k, v in _good(lead=(2, 3)).items() if k != "y"})
    assert invoke("fit", "train.npz", "-o", "m.npz", cwd=tmp_path).exit_code == 0
    model = sparserec.load_model(tmp_path / "m.npz")
    defaults = sparserec.SISTARegressor().get_params()
    for name in ("n_layers", "lam1", "lam2", "learning_rate", "batch_size", "max_epochs",
                 "optimizer", "validation_fraction", "learn"):
        assert model.get_params()[name] == defaults[name]


def test_info_describes_a_model(tmp_path, invoke):
    _model(tmp_path / "m.npz")
    result = invoke("info", "m.npz", cwd=tmp_path)
    assert result.exit_code == 0 and "valid model: SISTARegressor(n_layers=3" in result.stdout


def test_python_dash_m_and_version(tmp_path):
    result = subprocess.run([sys.executable, "-m", "sparserec", "--version"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and sparserec.__version__ in result.stdout


def test_the_package_loads_its_modules_on_first_use():
    # What lets the command answer a Ctrl-C while it loads: importing the package runs
    # none of numba, SciPy or scikit-learn; every public name then resolves.
    code = ("import sys, sparserec; heavy = [m for m in ('numba', 'scipy', 'sklearn') "
            "if m in sys.modules]; [getattr(sparserec, n) for n in sparserec.__all__]; "
            "print(heavy)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
    assert set(sparserec.__all__) <= set(dir(sparserec))


# ----------------------------------------------------------------------------------------
# details, in-process


@pytest.mark.parametrize("command", [[], ["solve"], ["fit"], ["predict"], ["info"], ["demo"]])
def test_help_shows_examples(command, tmp_path, invoke):
    result = invoke(*command, "--help", cwd=tmp_path)
    assert result.exit_code == 0 and "Examples:" in result.output


def test_solve_output_holds_settings_and_per_item_convergence(tmp_path, invoke):
    np.savez(tmp_path / "d.npz", **_good(lead=(5,)))
    result = invoke("solve", "-m", "ista", "--lam1", "0.02", "--max-iter", "50", "d.npz",
                     "-o", "r.npz", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    arrays, settings = sparserec.io.read_result(tmp_path / "r.npz")
    assert settings["request"]["lam1"] == 0.02 and settings["solver"]["method"] == "ista"
    assert arrays["n_iter"].shape == arrays["gap"].shape == (5,)


def test_solve_matches_the_library(tmp_path, invoke):
    data = _good()
    np.savez(tmp_path / "d.npz", **data)
    invoke("solve", "-m", "sista", "--lam1", "0.05", "--lam2", "0.5", "--n-iter", "3",
            "--alpha", "4", "d.npz", cwd=tmp_path)
    expected = sparserec.sista(data["x"], data["A"], 0.05, 0.5, alpha=4.0, n_iter=3)
    with np.load(tmp_path / "d_sista.npz") as out:
        assert np.array_equal(out["h"], expected.h)


def test_solve_dictionary_and_dtype(tmp_path, invoke):
    np.savez(tmp_path / "d.npz", **_good())
    result = invoke("solve", "--dictionary", "dct", "--dtype", "float32", "d.npz",
                     cwd=tmp_path)
    assert result.exit_code == 0, result.output
    with np.load(tmp_path / "d_sista.npz") as out:
        assert out["h"].dtype == np.float32


def test_solve_warns_when_alpha_is_below_the_lipschitz_bound(tmp_path, invoke):
    np.savez(tmp_path / "d.npz", **_good())
    result = invoke("solve", "--alpha", "0.01", "--n-iter", "2", "d.npz", cwd=tmp_path)
    assert result.exit_code == 0
    assert "warning: d.npz: alpha=0.01 is below the Lipschitz bound" in result.stderr


def test_solve_reports_items_that_did_not_converge(tmp_path, invoke):
    np.savez(tmp_path / "d.npz", **_good())
    result = invoke("solve", "-m", "fista", "--lam1", "0.001", "--max-iter", "1",
                     "--tol", "0", "d.npz", cwd=tmp_path)
    assert result.exit_code == 0
    assert "0/6 items converged" in result.stdout and "did not reach" in result.stderr


def test_force_replaces_an_existing_output(tmp_path, invoke):
    np.savez(tmp_path / "d.npz", **_good())
    assert invoke("solve", "d.npz", cwd=tmp_path).exit_code == 0
    assert invoke("solve", "d.npz", cwd=tmp_path).exit_code == 2
    assert invoke("solve", "d.npz", "--force", cwd=tmp_path).exit_code == 0


def test_batch_with_a_bad_file_finishes_the_others_and_exits_1(tmp_path, invoke):
    for i in range(3):
        np.savez(tmp_path / f"s{i}.npz", **_good(seed=i))
    np.savez(tmp_path / "s1.npz", x=np.ones((2, 3)))  # no A
    result = invoke("solve", "s0.npz", "s1.npz", "s2.npz", "--out-dir", "out", cwd=tmp_path)
    assert result.exit_code == 1
    assert "error: s1.npz: missing array 'A'" in result.stderr
    assert "3 files: 2 done, 0 skipped, 1 failed" in result.stdout
    assert sorted(p.name for p in (tmp_path / "out").glob("*.npz")) == ["s0_sista.npz",
                                                                     "s2_sista.npz"]


def test_batch_rerun_skips_complete_outputs_and_force_redoes_them(tmp_path, invoke):
    for i in range(2):
        np.savez(tmp_path / f"s{i}.npz", **_good(seed=i))
    args = ("solve", "s0.npz", "s1.npz", "--out-dir", "out")
    invoke(*args, cwd=tmp_path)
    assert "2 files: 0 done, 2 skipped" in invoke(*args, cwd=tmp_path).stdout
    assert "2 files: 2 done, 0 skipped" in invoke(*args, "--force", cwd=tmp_path).stdout


def test_batch_refuses_to_skip_outputs_made_with_other_settings(tmp_path, invoke):
    np.savez(tmp_path / "s.npz", **_good())
    invoke("solve", "s.npz", "--out-dir", "out", cwd=tmp_path)
    result = invoke("solve", "s.npz", "--out-dir", "out", "--lam1", "0.3", cwd=tmp_path)
    assert result.exit_code == 1 and "lam1=0.1, now 0.3" in result.stderr
    # the library's message names its parameter force=True; the command shows its flag
    assert "or --force to redo it" in result.stderr and "force=True" not in result.stderr


def test_debug_shows_the_traceback(tmp_path, invoke):
    result = invoke("--debug", "solve", "missing.npz", cwd=tmp_path)
    assert result.exit_code == 2 and "Traceback" in result.stderr


def test_internal_errors_exit_1_with_one_line(tmp_path, monkeypatch, invoke):
    np.savez(tmp_path / "d.npz", **_good())
    # a solver with a bug: the registry's sista replaced, where batch runs read it
    broken = dataclasses.replace(sparserec.SOLVERS["sista"], function=lambda *a, **k: 1 / 0)
    monkeypatch.setattr(sparserec.batch, "SOLVERS", {**sparserec.SOLVERS, "sista": broken})
    result = invoke("solve", "d.npz", cwd=tmp_path)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "internal error: ZeroDivisionError" in result.stderr


# ----------------------------------------------------------------------------------------
# the catalogue of bad input: exit code 2, a clear one-line message, nothing written


def _save(**arrays):
    return lambda path: np.savez(path, **arrays)


def _bytes(content):
    return lambda path: path.write_bytes(content)


def _truncated(path):
    np.savez(path, **_good())
    path.write_bytes(path.read_bytes()[:-200])


def _zip_of_text(path):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "not an array")


def _npy(path):
    with open(path, "wb") as file:
        np.save(file, np.ones(3))


def _model(path):
    data = _good()
    model = sparserec.SISTARegressor(measurement_matrix=data["A"]).fit(data["x"])
    model.save(path)


def _with(**changes):
    return _save(**{**_good(), **changes})


def _without(key):
    return _save(**{k: v for k, v in _good().items() if k != key})


good, nan_x, inf_A = _good(), _good()["x"].copy(), _good()["A"].copy()
nan_x[0, 1, 2], inf_A[1, 1] = np.nan, np.inf
SOLVE = ("solve", "in.npz")

# id: (files to create, command, fragments the message must hold)
CATALOGUE = {
    "missing x": ({"in.npz": _without("x")}, SOLVE, ["in.npz", "missing array 'x'",
                                                     "expected measurements x"]),
    "missing A": ({"in.npz": _without("A")}, SOLVE, ["in.npz", "missing array 'A'",
                                                     "expected the measurement matrix"]),
    "x of rank 1": ({"in.npz": _with(x=np.ones(4), y=np.ones(N))}, SOLVE,
                    ["in.npz: array 'x' must have 2 or 3 dimensions, got shape (4,)"]),
    "x of rank 4": ({"in.npz": _with(x=np.ones((1, 2, 3, M)))}, SOLVE,
                    ["in.npz: array 'x' must have 2 or 3 dimensions, got shape (1, 2, 3, 4)"]),
    "A of rank 1": ({"in.npz": _with(A=np.ones(M))}, SOLVE,
                    ["in.npz: array 'A' must have 2 dimensions, got shape (4,)"]),
    "A mismatching M": ({"in.npz": _with(A=np.ones((M + 1, N)))}, SOLVE,
                        ["array 'A' has shape (5, 8) but x has M = 4",
                         "expected A of shape (4, N)"]),
    "D not square": ({"in.npz": _with(D=np.ones((N, N - 1)))}, SOLVE,
                     ["array 'D' has shape (8, 7)", "expected D of shape (8, 8)"]),
    "F mismatching N": ({"in.npz": _with(F=np.eye(N + 2))}, SOLVE,
                        ["array 'F' has shape (10, 10)", "to match A's N = 8"]),
    "y mismatching x": ({"in.npz": _with(y=np.ones((2, 4, N)))}, SOLVE,
                        ["array 'y' has shape (2, 4, 8) but x has shape (2, 3, 4)",
                         "expected y of shape (2, 3, 8)"]),
    "NaN in x": ({"in.npz": _with(x=nan_x)}, SOLVE, ["in.npz: array 'x' contains NaN or Inf"]),
    "Inf in A": ({"in.npz": _with(A=inf_A)}, SOLVE, ["in.npz: array 'A' contains NaN or Inf"]),
    "NaN in y": ({"in.npz": _with(y=np.full((2, 3, N), np.nan))}, SOLVE, ["array 'y'", "NaN"]),
    "empty x": ({"in.npz": _with(x=np.ones((0, 3, M)), y=np.ones((0, 3, N)))}, SOLVE,
                ["in.npz: array 'x' is empty (shape (0, 3, 4))"]),
    "string x": ({"in.npz": _with(x=np.array([["a", "b"]]))}, SOLVE,
                 ["in.npz: array 'x' must be a real numeric array, got dtype <U1"]),
    "complex A": ({"in.npz": _with(A=good["A"] + 1j)}, SOLVE,
                  ["in.npz: array 'A' must be a real numeric array, got dtype complex128"]),
    "structured x": ({"in.npz": _with(x=np.zeros((2, 3), dtype=[("a", "f8")]))}, SOLVE,
                     ["in.npz: array 'x' must be a real numeric array, got dtype"]),
    "pickle inside the npz": ({"in.npz": _with(x=np.array([{"a": 1}, None], dtype=object))},
                              SOLVE, ["array 'x' holds pickled Python objects",
                                      "never unpickled"]),
    "a pickle, not an npz": ({"in.npz": _bytes(pickle.dumps(good))}, SOLVE,
                             ["in.npz: is not an npz file (not a zip archive)"]),
    "truncated npz": ({"in.npz": _truncated}, SOLVE, ["in.npz: is truncated or corrupt",
                                                      "expected a complete .npz archive"]),
    "text file": ({"in.npz": _bytes(b"x,A\n1,2\n")}, SOLVE, ["is not an npz file"]),
    "empty file": ({"in.npz": _bytes(b"")}, SOLVE, ["in.npz: is empty (0 bytes)"]),
    "a .npy file": ({"in.npz": _npy}, SOLVE, ["is not an npz file (a single .npy array)"]),
    "zip of text": ({"in.npz": _zip_of_text}, SOLVE, ["member 'readme.txt' is not a .npy"]),
    "directory": ({"in.npz/": None}, SOLVE, ["in.npz: is a directory", "expected an .npz"]),
    "missing file": ({}, SOLVE, ["in.npz: no such file"]),
    "a result as input": ({"in.npz": _save(**{k: np.ones(2) for k in sparserec.io.RESULT_KEYS})},
                          SOLVE, ["in.npz: is a sparserec result, not data"]),
    "unwritable output": ({"in.npz": _save(**good), "plain": _bytes(b"")},
                          SOLVE + ("-o", "plain/out.npz"), ["output directory 'plain' is not "
                                                            "a directory"]),
    "missing output dir": ({"in.npz": _save(**good)}, SOLVE + ("-o", "nowhere/out.npz"),
                           ["output directory 'nowhere' does not exist"]),
    "existing output": ({"in.npz": _save(**good), "out.npz": _bytes(b"old")},
                        SOLVE + ("-o", "out.npz"), ["out.npz: output already exists",
                                                    "--force"]),
    "output is the input": ({"in.npz": _save(**good)}, SOLVE + ("-o", "in.npz", "--force"),
                            ["in.npz: output is the input file"]),
    "output not npz": ({"in.npz": _save(**good)}, SOLVE + ("-o", "out.txt"),
                       ["out.txt: output name does not end in .npz"]),
    "out-dir is a file": ({"in.npz": _save(**good), "res": _bytes(b"")},
                          SOLVE + ("--out-dir", "res"), ["res: --out-dir is not a directory"]),
    "glob matching nothing": ({}, ("solve", "nothing/*.npz"), ["no file matches"]),
    "dictionary not fitting N": ({"in.npz": _save(**good)},
                                 SOLVE + ("--dictionary", "wavelet:db8:9"),
                                 ["dictionary 'wavelet:db8:9' does not fit N = 8"]),
    "negative lam1": ({"in.npz": _save(**good)}, SOLVE + ("--lam1", "-1"), ["--lam1"]),
    "NaN lam1": ({"in.npz": _save(**good)}, SOLVE + ("--lam1", "nan"),
                 ["--lam1", "not a finite number"]),
    "zero alpha": ({"in.npz": _save(**good)}, SOLVE + ("--alpha", "0"), ["--alpha"]),
    "unknown dictionary": ({"in.npz": _save(**good)}, SOLVE + ("--dictionary", "fourier"),
                           ["--dictionary", "unknown dictionary 'fourier'"]),
    "unknown method": ({"in.npz": _save(**good)}, SOLVE + ("--method", "lars"), ["--method"]),
    "option of another method": ({"in.npz": _save(**good)}, SOLVE + ("-m", "fista",
                                                                      "--lam2", "1"),
                                 ["--lam2 is not used by --method fista"]),
    "-o with two inputs": ({"in.npz": _save(**good), "b.npz": _save(**good)},
                           SOLVE + ("b.npz", "-o", "out.npz"), ["-o/--output takes a single"]),
    "data as the model": ({"in.npz": _save(**good), "m.npz": _save(**good)},
                          ("predict", "--model", "m.npz", "in.npz"),
                          ["m.npz: is a data file, not a model", "expected a model written"]),
    "a result as the model": ({"in.npz": _save(**good), "m.npz": _save(
        **{k: np.ones(2) for k in sparserec.io.RESULT_KEYS})},
        ("predict", "--model", "m.npz", "in.npz"), ["m.npz: is a result of sparserec solve"]),
    "truncated model": ({"in.npz": _save(**good), "m.npz": lambda p: (
        _model(p), p.write_bytes(p.read_bytes()[:-500]))},
        ("predict", "--model", "m.npz", "in.npz"), ["m.npz: is truncated or corrupt"]),
    "x not fitting the model": ({"in.npz": _save(x=np.ones((2, 3, M + 1))), "m.npz": _model},
                                ("predict", "--model", "m.npz", "in.npz"),
                                ["in.npz: array 'x' has M = 5", "expected M = 4"]),
    "fit without A": ({"in.npz": _without("A")}, ("fit", "in.npz", "-o", "m.npz"),
                      ["in.npz: missing array 'A'"]),
    "fit onto an existing model": ({"in.npz": _save(**good), "m.npz": _model},
                                   ("fit", "in.npz", "-o", "m.npz"),
                                   ["m.npz: output already exists"]),
    "fit learning an unknown parameter": ({"in.npz": _save(**good)},
                                          ("fit", "in.npz", "-o", "m.npz", "--learn", "D,W"),
                                          ["--learn", "learn contains ['W']"]),
    "info on a foreign npz": ({"in.npz": _save(w=np.ones(3))}, ("info", "in.npz"),
                              ["in.npz: not a sparserec file", "expected data (x, A)"]),
    "info on a truncated npz": ({"in.npz": _truncated}, ("info", "in.npz"),
                                ["in.npz: is truncated or corrupt"]),
}


@pytest.mark.parametrize("case", list(CATALOGUE), ids=list(CATALOGUE))
def test_bad_input_exits_2_with_a_clear_message_and_writes_nothing(case, tmp_path, invoke):
    files, command, fragments = CATALOGUE[case]
    for name, make in files.items():
        if name.endswith("/"):
            (tmp_path / name).mkdir()
        else:
            make(tmp_path / name)
    before = _snapshot(tmp_path)
    result = invoke(*command, cwd=tmp_path)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    message = [line for line in result.stderr.splitlines() if "rror" in line]
    assert len(message) == 1, result.stderr
    for fragment in fragments:
        assert fragment in message[0]
    assert _snapshot(tmp_path) == before  # nothing written, the input untouched


def test_bad_input_by_the_console_script(tmp_path):
    np.savez(tmp_path / "in.npz", x=np.array([None], dtype=object))
    result = _run("solve", "in.npz", cwd=tmp_path)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.splitlines()[-1] == ("error: in.npz: array 'x' holds pickled Python "
                                              "objects (never unpickled); expected numeric "
                                              "arrays")
    assert len([line for line in result.stderr.splitlines()
                if not line.startswith("compiling numba kernels")]) == 1
    assert sorted(os.listdir(tmp_path)) == ["in.npz"]


# ----------------------------------------------------------------------------------------
# amp and phase


def test_solve_with_amp_writes_codes_and_divergence_flags(tmp_path, invoke):
    rng = np.random.default_rng(0)
    A = rng.standard_normal((40, 80)) / np.sqrt(40)
    y = np.zeros((6, 80))
    y[:, [3, 30, 61]] = rng.standard_normal((6, 3))
    np.savez(tmp_path / "in.npz", x=y @ A.T, A=A, y=y)
    result = invoke("solve", "-m", "amp", "--tol", "1e-9", "--damping", "0.1", "in.npz",
                     cwd=tmp_path)
    assert result.exit_code == 0, result.output
    assert "amp, 6/6 items converged" in result.stdout
    with np.load(tmp_path / "in_amp.npz", allow_pickle=False) as out:
        np.testing.assert_allclose(out["y_hat"], y, atol=1e-6)
        assert out["diverged"].shape == (6,) and not out["diverged"].any()
        assert '"damping": 0.1' in str(out["settings"])


def test_solve_with_amp_refuses_lasso_options(tmp_path, invoke):
    np.savez(tmp_path / "in.npz", **_good())
    result = invoke("solve", "-m", "amp", "--lam1", "0.1", "in.npz", cwd=tmp_path)
    assert result.exit_code == 2 and "--lam1 is not used by --method amp" in result.output
    result = invoke("solve", "-m", "fista", "--tau", "1.2", "in.npz", cwd=tmp_path)
    assert result.exit_code == 2 and "--tau is not used by --method fista" in result.output


def test_phase_writes_the_grid_and_the_figure(tmp_path, invoke):
    pytest.importorskip("matplotlib")
    result = invoke("phase", "-s", "amp", "-n", "100", "--deltas", "0.5",
                     "--rhos", "0.1,0.8", "--trials", "4", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    assert "delta 0.500: empirical 50% rho" in result.stdout and "l1 theory 0.386" in result.stdout
    grid = sparserec.load_phase_transition(tmp_path / "phase_amp.npz")
    assert grid.success.tolist() == [[1.0, 0.0]] and grid.n == 100
    assert (tmp_path / "phase_amp.png").read_bytes()[:4] == b"\x89PNG"
    again = invoke("phase", "-n", "100", "--deltas", "0.5", "--rhos", "0.1", cwd=tmp_path)
    assert again.exit_code == 2 and "phase_amp.npz: output already exists" in again.stderr


@pytest.mark.parametrize("args, fragment", [
    (("--deltas", "0:1"), "--deltas"),
    (("--rhos", "0.5,1.5"), "expected ratios in (0, 1]"),
    (("--solver", "fista", "--tau", "1"), "--tau is not used by --solver fista"),
    (("--solver", "amp", "--lam1", "0.1"), "--lam1 is not used by --solver amp"),
    (("--solver", "lasso", "--damping", "0.1"), "--damping is not used by --solver lasso"),
    (("--solver", "lars",), "Invalid value for '-s' / '--solver'"),
    (("--model", "data.npz",), "data.npz: is a data file, not a model"),
])
def test_phase_bad_input_exits_2(args, fragment, tmp_path, invoke):
    np.savez(tmp_path / "data.npz", **_good())
    result = invoke("phase", "--no-plot", *args, cwd=tmp_path)
    assert result.exit_code == 2, result.output
    assert fragment in result.output and "Traceback" not in result.output
    assert sorted(os.listdir(tmp_path)) == ["data.npz"]


@pytest.mark.parametrize("solver", ["lasso", "sista"])
def test_phase_takes_every_registered_solver(solver, tmp_path, invoke):
    result = invoke("phase", "-s", solver, "-n", "40", "--deltas", "0.5", "--rhos", "0.1",
                     "--trials", "2", "--no-plot", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    grid = sparserec.load_phase_transition(tmp_path / f"phase_{solver}.npz")
    assert grid.solver == solver and grid.success.shape == (1, 1)
    assert sorted(os.listdir(tmp_path)) == [f"phase_{solver}.npz"]


def test_solve_with_the_lasso(tmp_path, invoke):
    np.savez(tmp_path / "d.npz", **_good())
    result = invoke("solve", "-m", "lasso", "--lam1", "0.01", "d.npz", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    assert "lasso, 6/6 items converged" in result.stdout
    arrays, settings = sparserec.io.read_result(tmp_path / "d_lasso.npz")
    assert settings["solver"]["method"] == "lasso:gram" and settings["request"]["lam1"] == 0.01
    assert arrays["gap"].shape == (2, 3) and np.all(arrays["gap"] <= 1e-6)


def test_a_first_run_says_it_compiles_and_the_next_one_does_not(tmp_path):
    import os
    import subprocess
    import sys

    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x=rng.standard_normal((3, 8)), A=rng.standard_normal((8, 16)))
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"))  # an empty cache
    runs = [subprocess.run([sys.executable, "-m", "sparserec", "solve", "-m", "fista",
                            "d.npz", "--force"], cwd=tmp_path, env=env, capture_output=True,
                           text=True, timeout=300) for _ in range(2)]
    assert [run.returncode for run in runs] == [0, 0]
    assert runs[0].stderr == ("compiling numba kernels for fista: first run only (they are "
                              "cached for the next runs)\n")
    assert runs[1].stderr == ""
