"""The error contract under careless and hostile use: exit 0 or 2, one line, no traceback,
inputs untouched, outputs finite, and no file replaced that sparserec did not write for this
very input and these settings.

One regression test per finding of the review that motivated these guarantees, then a
property test that generates hostile files and option sets (a quick run by default, a
longer one marked slow).
"""

import errno
import hashlib
import io as bytes_io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sparserec
from sparserec import batch, io

M, N = 4, 8


def _data(seed=0, lead=(2, 3), scale=1.0):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((M, N)) / np.sqrt(M) * scale
    y = np.zeros(lead + (N,))
    y[..., [1, 5]] = rng.standard_normal(lead + (2,))
    return dict(x=y @ (A / scale).T, A=A, y=y)


def _one_line_error(result, code=2):
    assert result.exit_code == code, (result.exit_code, result.output)
    assert "Traceback" not in result.output and "internal error" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def _messages(stderr):
    """The lines of stderr but the blank ones, the progress bar's label and the notice of
    a first run (which compiles the kernels, in a fresh environment)."""
    return [line for line in stderr.splitlines() if line.strip() and line != "ista"
            and not line.startswith("compiling numba kernels")]


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _settings(path):
    return json.loads(str(np.load(path)["settings"]))


# ----------------------------------------------------------------------------------------
# 1. a batch never overwrites a file it did not write


def test_a_foreign_file_in_out_dir_is_never_replaced(tmp_path, invoke):
    np.savez(tmp_path / "in.npz", **_data())
    (tmp_path / "out").mkdir()
    np.savez(tmp_path / "out" / "in_sista.npz", precious=np.arange(3.0))
    before = _digest(tmp_path / "out" / "in_sista.npz")
    result = invoke("solve", "in.npz", "--out-dir", "out", cwd=tmp_path)
    assert result.exit_code == 1
    assert "not a complete sparserec result" in result.stderr
    assert _digest(tmp_path / "out" / "in_sista.npz") == before
    forced = invoke("solve", "in.npz", "--out-dir", "out", "--force", cwd=tmp_path)
    assert forced.exit_code == 0 and "y_hat" in np.load(tmp_path / "out" / "in_sista.npz")


def test_a_batch_whose_output_is_one_of_its_inputs_is_refused(tmp_path, invoke):
    np.savez(tmp_path / "a.npz", **_data())
    np.savez(tmp_path / "a_sista.npz", **_data(seed=1))
    before = _digest(tmp_path / "a_sista.npz")
    for extra in ([], ["--force"]):
        result = invoke("solve", "*.npz", *extra, cwd=tmp_path)
        assert "is an input of this run" in _one_line_error(result)
        assert _digest(tmp_path / "a_sista.npz") == before


def test_the_result_of_another_input_is_never_replaced(tmp_path, invoke):
    np.savez(tmp_path / "a.npz", **_data())
    (tmp_path / "out").mkdir()
    assert invoke("solve", "a.npz", "--out-dir", "out", cwd=tmp_path).exit_code == 0
    os.rename(tmp_path / "out" / "a_sista.npz", tmp_path / "out" / "b_sista.npz")
    np.savez(tmp_path / "b.npz", **_data(seed=1))
    before = _digest(tmp_path / "out" / "b_sista.npz")
    result = invoke("solve", "b.npz", "--out-dir", "out", cwd=tmp_path)
    assert result.exit_code == 1 and "is the result of 'a.npz'" in result.stderr
    assert _digest(tmp_path / "out" / "b_sista.npz") == before


# ----------------------------------------------------------------------------------------
# 2. concurrent runs into one out_dir


def _inputs(directory, n=12):
    for i in range(n):
        np.savez(directory / f"in{i:02d}.npz", **_data(seed=i, lead=(3,)))
    return sorted(directory.glob("in*.npz"))


def _two_runs(inputs, out, lam1s):
    """The reports of two batches run at once into ``out``, with these ``lam1``."""
    reports = [None, None]

    def run(i):
        reports[i] = batch.solve_files(inputs, out, "fista", lam1=lam1s[i])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return reports


def test_concurrent_runs_with_other_settings_never_mix_results(tmp_path):
    inputs, out = _inputs(tmp_path), tmp_path / "out"
    lam1s = (0.05, 0.3)
    for lam1, run in zip(lam1s, _two_runs(inputs, out, lam1s), strict=True):
        for report in run:
            assert not report.internal, report.message
            if report.status == "done":  # what a run says it wrote is what the file holds
                assert _settings(report.output)["request"]["lam1"] == lam1
            else:
                assert "made with other settings" in report.message
    for path in out.glob("*.npz"):  # every output is complete, of one run
        assert _settings(path)["request"]["lam1"] in (0.05, 0.3)
    assert not list(out.glob(".*.tmp"))


def test_concurrent_runs_with_the_same_settings_both_succeed(tmp_path):
    inputs, out = _inputs(tmp_path), tmp_path / "out"
    for run in _two_runs(inputs, out, (0.1, 0.1)):
        assert all(r.status in ("done", "skipped") for r in run), [r.message for r in run]
    assert len(list(out.glob("*.npz"))) == len(inputs) and not list(out.glob(".*.tmp"))


def test_a_killed_holder_of_the_lock_leaves_it_free(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from sparserec import io\n"
        "with io.directory_lock(sys.argv[1]):\n"
        "    print('locked', flush=True); time.sleep(60)"), str(tmp_path)],
        stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    taken = threading.Event()

    def take():
        with io.directory_lock(tmp_path):
            taken.set()

    waiter = threading.Thread(target=take, daemon=True)
    waiter.start()
    assert not taken.wait(0.5)  # held
    holder.kill()
    holder.wait()
    assert taken.wait(10)


def test_only_the_temporary_files_of_dead_writers_are_removed(tmp_path):
    np.savez(tmp_path / "in.npz", **_data())
    host = socket.gethostname().replace(".", "_")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    mine = tmp_path / f".in_fista.npz.{host}-{os.getpid()}.abc.tmp"
    theirs = tmp_path / f".in_fista.npz.{host}-{dead.pid}.def.tmp"
    elsewhere = tmp_path / ".in_fista.npz.otherhost-1.ghi.tmp"
    for path in (mine, theirs, elsewhere):
        path.write_bytes(b"partial")
    report = batch.solve_file(batch.Task(str(tmp_path / "in.npz"),
                                         str(tmp_path / "in_fista.npz"), "fista",
                                         batch.default_options("fista")))
    assert report.status == "done"
    assert mine.exists() and elsewhere.exists() and not theirs.exists()


# ----------------------------------------------------------------------------------------
# 3. the lasso with a small iteration limit


@pytest.mark.parametrize("max_iter", [1, 20])
def test_lasso_with_few_iterations_on_the_command_line(tmp_path, max_iter, invoke):
    rng = np.random.default_rng(3)
    A = rng.standard_normal((50, 100)) / np.sqrt(50)
    np.savez(tmp_path / "d.npz", x=rng.standard_normal((6, 50)), A=A)
    result = invoke("solve", "-m", "lasso", "--max-iter", max_iter, "d.npz", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    assert np.isfinite(np.load(tmp_path / "d_lasso.npz")["h"]).all()


# ----------------------------------------------------------------------------------------
# 4. no hang, no runaway memory


def test_a_huge_wavelet_level_fails_at_once(tmp_path, invoke):
    np.savez(tmp_path / "d.npz", **_data())
    start = time.perf_counter()
    result = invoke("solve", "--dictionary", "wavelet:db4:10000000000", "d.npz", cwd=tmp_path)
    assert result.exit_code == 2 and "level" in result.output
    assert time.perf_counter() - start < 5


def test_a_fifo_is_refused_without_blocking(tmp_path, invoke):
    os.mkfifo(tmp_path / "pipe.npz")
    result = invoke("solve", "pipe.npz", cwd=tmp_path)
    assert "not a regular file" in _one_line_error(result)


def _model(tmp_path, arrays=(), hyperparameters=(), metadata=None):
    """A saved model with some learned arrays or hyperparameters changed (or its whole
    metadata replaced by the string ``metadata``), and a data file ``x.npz`` for it."""
    data = _data(lead=(6, 3))
    path = tmp_path / "model.npz"
    sparserec.SISTARegressor(data["A"], max_epochs=1, batch_size=2).fit(
        data["x"], data["y"]).save(path)
    contents = dict(np.load(path))
    hyper = {**json.loads(str(contents["hyperparameters"])), **dict(hyperparameters)}
    contents.update(dict(arrays), hyperparameters=np.array(metadata or json.dumps(hyper)))
    np.savez(path, **contents)
    np.savez(tmp_path / "x.npz", x=data["x"])


@pytest.mark.parametrize("changes, fragment", [
    (dict(hyperparameters=dict(n_layers=10**12)), "n_layers"),
    (dict(hyperparameters=dict(unknown_option=1)), "unknown hyperparameter"),
    (dict(metadata="[1, 2]"), "JSON but not an object"),
    (dict(arrays=dict(dictionary_=np.full((N, N), np.nan))), "dictionary_ contains NaN"),
    (dict(arrays=dict(alpha_=np.array(-1.0))), "alpha_ must be"),
    (dict(arrays=dict(alpha_=np.array(0.0))), "alpha_ must be"),
    (dict(arrays=dict(lam2_=np.array(np.inf))), "lam2_ must be"),
    (dict(arrays=dict(transition_=np.eye(N + 1))), "transition_ must have shape"),
    (dict(arrays=dict(h0_=np.zeros(3))), "h0_ must have shape"),
])
def test_a_model_file_is_verified_on_load(tmp_path, changes, fragment, invoke):
    _model(tmp_path, **changes)
    for args in (["predict", "--model", "model.npz", "x.npz"], ["info", "model.npz"]):
        result = invoke(*args, cwd=tmp_path)
        assert fragment in _one_line_error(result)
    assert not (tmp_path / "x_predict.npz").exists()


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-10, 10**13) | st.floats() | st.text(max_size=8)
    | st.fixed_dictionaries({"__array__": st.sampled_from(["param_x", "alpha_", "nope"])}),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(max_size=4), children, max_size=3), max_leaves=6)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(sorted(sparserec.SISTARegressor().get_params())), value=_JSON)
def test_any_stored_hyperparameter_is_loaded_or_refused_in_one_line(tmp_path, invoke, name,
                                                                   value):
    _model(tmp_path, hyperparameters={name: value})
    for args in (["predict", "--model", "model.npz", "x.npz", "--force"], ["info", "model.npz"]):
        result = invoke(*args, cwd=tmp_path)
        if result.exit_code != 0:
            _one_line_error(result)


def test_fit_refuses_to_save_a_model_that_diverged(tmp_path, invoke):
    data = _data(lead=(6, 3))
    np.savez(tmp_path / "train.npz", **data)
    result = invoke("fit", "train.npz", "-o", "model.npz", "--learning-rate", "1e30",
                     "--max-epochs", "2", "--batch-size", "2", cwd=tmp_path)
    assert "training diverged" in _one_line_error(result)
    assert not (tmp_path / "model.npz").exists()


# ----------------------------------------------------------------------------------------
# 6. never a wrong result with exit 0


def test_a_matrix_whose_products_overflow_is_refused(tmp_path, invoke):
    np.savez(tmp_path / "d.npz", **_data(scale=1e200))
    for method in sparserec.SOLVERS:
        greedy = ["--n-nonzero", 2] if "n_nonzero" in sparserec.SOLVERS[method].options else []
        result = invoke("solve", "-m", method, "d.npz", "--force", *greedy, cwd=tmp_path)
        assert "too large" in _one_line_error(result)


def test_an_iteration_count_beyond_the_range_is_refused(tmp_path, invoke):
    np.savez(tmp_path / "d.npz", **_data())
    result = invoke("solve", "--n-iter", str(2**63), "d.npz", cwd=tmp_path)
    assert result.exit_code == 2 and "--n-iter" in result.output
    with pytest.raises(ValueError, match="n_iter"):
        sparserec.sista(_data()["x"], _data()["A"], 0.1, 1.0, n_iter=2**63)


def test_a_diverging_step_is_an_error_not_nan(tmp_path, invoke):
    np.savez(tmp_path / "d.npz", **_data())
    result = invoke("solve", "-m", "ista", "--alpha", "1e-300", "d.npz", cwd=tmp_path)
    assert "diverged" in _one_line_error(result)
    assert not (tmp_path / "d_ista.npz").exists()
    with pytest.raises(FloatingPointError, match="alpha"), \
            pytest.warns(sparserec.StepSizeWarning), warnings.catch_warnings():
        warnings.simplefilter("ignore", sparserec.ConvergenceWarning)
        sparserec.ista(_data()["x"].reshape(-1, M), _data()["A"], 0.1, alpha=1e-300)


# ----------------------------------------------------------------------------------------
# 7. user mistakes are exit 2, not "internal error"


def _archive(members):
    """A zip archive with the given (name, bytes) members, duplicates allowed."""
    buffer = bytes_io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # a duplicate name, on purpose
        for name, content in members:
            archive.writestr(name, content)
    return buffer.getvalue()


def _npy(array):
    buffer = bytes_io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


@pytest.mark.parametrize("content, fragment", [
    (_archive([("x.npy", _npy(np.ones((2, 4)))), ("x.npy", _npy(np.ones((2, 4))))]),
     "twice"),
    (_archive([("x.npy", _npy(np.ones((2, 4)))[:-16])]), "declares shape"),
    (_archive([("x.npy", _npy(np.ones((2, 4)))[:40])]), "x"),
    (_archive([("x.npy", b"\x93NUMPY garbage")]), "x"),
    (b"PK\x03\x04" + bytes(60), "truncated or corrupt"),
])
def test_unreadable_archives_are_refused_before_anything_is_allocated(tmp_path, content,
                                                                       fragment, invoke):
    (tmp_path / "in.npz").write_bytes(content)
    result = invoke("solve", "in.npz", cwd=tmp_path)
    assert fragment in _one_line_error(result)


@pytest.mark.parametrize("args, fragment", [
    (["-o", "missing/out.npz"], "does not exist"),
    (["-o", "in.npz/out.npz"], "is not a directory"),
    (["--out-dir", "in.npz"], "not a directory"),
    (["--out-dir", "in.npz/sub"], "in.npz/sub: not a directory; expected every parent"),
    (["-o", "a" * 300 + ".npz"], "file name too long; expected a shorter path"),
    (["--out-dir", "a" * 300], "file name too long; expected a shorter path"),
])
def test_impossible_output_locations(tmp_path, args, fragment, invoke):
    np.savez(tmp_path / "in.npz", **_data())
    result = invoke("solve", "in.npz", *args, cwd=tmp_path)
    assert fragment in _one_line_error(result)


@pytest.mark.parametrize("code, expected", [
    (errno.EACCES, "permission denied; expected a path you have permission to use"),
    (errno.EROFS, "read-only file system; expected a location on a writable file system"),
])
def test_an_output_directory_the_system_refuses(tmp_path, code, expected, invoke,
                                                monkeypatch):
    # (the tests run as root, whom chmod does not stop: the refusal is the system's)
    def refuse(self, *args, **kwargs):
        raise OSError(code, os.strerror(code), str(self))

    np.savez(tmp_path / "in.npz", **_data())
    monkeypatch.setattr("pathlib.Path.mkdir", refuse)
    line = _one_line_error(invoke("solve", "in.npz", "--out-dir", "ro/sub", cwd=tmp_path))
    assert line == f"error: ro/sub: {expected}"


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names=st.lists(st.text(st.sampled_from("ab.-_ é"), min_size=1, max_size=300),
                      min_size=1, max_size=3))
def test_any_output_path_is_written_or_refused_in_one_line(tmp_path, invoke, names):
    np.savez(tmp_path / "in.npz", **_data())
    output = os.path.join(*names) + ".npz"
    result = invoke("solve", "in.npz", "-o", output, cwd=tmp_path)
    if result.exit_code == 0:
        assert "h" in np.load(tmp_path / output)
    else:
        _one_line_error(result)


def test_a_zero_matrix_is_refused_by_amp(tmp_path, invoke):
    np.savez(tmp_path / "d.npz", x=np.ones((3, M)), A=np.zeros((M, N)))
    assert "zero" in _one_line_error(invoke("solve", "-m", "amp", "d.npz", cwd=tmp_path))


# ----------------------------------------------------------------------------------------
# 8. the smaller findings


@pytest.mark.parametrize("method", ["lasso", "sista"])
def test_zero_signals_score_infinity_without_a_warning(tmp_path, method, invoke):
    np.savez(tmp_path / "zero.npz", x=np.zeros((1, 2, M)), A=_data()["A"],
             y=np.zeros((1, 2, N)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a NumPy warning would reach the user
        result = invoke("solve", "-m", method, "zero.npz", cwd=tmp_path)
    assert result.exit_code == 0 and "SNR inf dB" in result.output, result.output
    assert "warning" not in result.stderr.lower()
    with np.load(tmp_path / f"zero_{method}.npz") as out:
        assert out["snr_db"] == np.inf and out["psnr_db"] == np.inf


def test_data_beyond_float32_is_refused_for_the_precision_not_the_file(tmp_path, invoke):
    np.savez(tmp_path / "big.npz", x=np.full((3, M), 1e40), A=_data()["A"])
    line = _one_line_error(invoke("solve", "big.npz", "--dtype", "float32", cwd=tmp_path))
    assert line.startswith("error: big.npz: x is finite in float64 but overflows float32")
    assert invoke("solve", "big.npz", cwd=tmp_path).exit_code == 0  # float64: fine


def test_a_rerun_redoes_an_output_whose_input_changed(tmp_path, invoke):
    np.savez(tmp_path / "in.npz", **_data())
    assert invoke("solve", "in.npz", "--out-dir", "out", cwd=tmp_path).exit_code == 0
    again = invoke("solve", "in.npz", "--out-dir", "out", cwd=tmp_path)
    assert "skipped" in again.output
    np.savez(tmp_path / "in.npz", **_data(seed=5))
    changed = invoke("solve", "in.npz", "--out-dir", "out", cwd=tmp_path)
    assert changed.exit_code == 0 and "done" in changed.output
    assert _settings(tmp_path / "out" / "in_sista.npz")["input_digest"] == io.digest(
        io.read_data(tmp_path / "in.npz"))


def test_ctrl_c_prints_one_line_and_exits_130(tmp_path):
    rng = np.random.default_rng(0)
    A = rng.standard_normal((200, 400)) / np.sqrt(200)
    np.savez(tmp_path / "big.npz", x=rng.standard_normal((3, 2000, 200)), A=A)
    # (a run started in the background, e.g. under nohup, ignores SIGINT: the command
    # must start with Ctrl-C's default, as from a terminal)
    process = subprocess.Popen([sys.executable, "-m", "sparserec", "solve", "-m", "ista",
                                "--max-iter", "100000", "--tol", "0", "big.npz"], cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    time.sleep(4)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr and _messages(stderr) == ["interrupted"]
    assert not list(tmp_path.glob("*ista*")) and not list(tmp_path.glob(".*.tmp"))


@pytest.mark.parametrize("address", ["notanaddress", "tcp://", "xyz://a:1", "tcp://[::1",
                                     "tcp://127.0.0.1:99999"])
def test_a_malformed_scheduler_address_is_refused(tmp_path, address, invoke):
    pytest.importorskip("distributed")
    np.savez(tmp_path / "d.npz", **_data())
    line = _one_line_error(invoke("solve", "d.npz", "--scheduler", address, cwd=tmp_path))
    assert line.startswith(f"error: {address}: not a scheduler address (")
    assert line.endswith("expected an address like tcp://host:8786")


def test_an_unreachable_scheduler_fails_within_five_seconds(tmp_path, invoke):
    pytest.importorskip("distributed")
    np.savez(tmp_path / "d.npz", **_data())
    start = time.perf_counter()
    result = invoke("solve", "d.npz", "--scheduler", "tcp://127.0.0.1:9", cwd=tmp_path)
    assert "cannot connect" in _one_line_error(result)
    assert time.perf_counter() - start < 5


# ----------------------------------------------------------------------------------------
# the property: hostile files and option sets


_DTYPES = st.sampled_from(["float64", "float32", "int8", "bool", "complex128", "U3", "uint64"])
_SPECIAL = st.sampled_from([0.0, -1.0, 1e-300, 1e300, np.inf, -np.inf, np.nan, 1.0, 0.5])


@st.composite
def _arrays(draw, name):
    if name in ("settings", "hyperparameters", "format") and draw(st.booleans()):
        return np.array(draw(st.sampled_from([
            "sparserec.SISTARegressor/1", "{}", "[1, 2]", "not json", '{"request": 1}',
            '{"request": {"method": "sista"}, "input": "in.npz"}', '{"n_layers": 1e12}',
            '{"learn": 5}', '{"dtype": "int8"}'])))
    shape = draw(st.sampled_from([(2, 3, M), (3, M), (M,), (0, M), (M, N), (N, N), (1, 1),
                                  (2, 3, N), (M, N + 1), ()]))
    dtype = draw(_DTYPES)
    size = int(np.prod(shape))
    values = np.array(draw(st.lists(st.one_of(_SPECIAL, st.floats(-3, 3)),
                                    min_size=size, max_size=size)), dtype=np.float64)
    if dtype.startswith("U"):
        return np.full(shape, "abc")
    with np.errstate(invalid="ignore", over="ignore"):
        return (values.reshape(shape) if values.size else np.zeros(shape)).astype(dtype)


@st.composite
def _files(draw):
    """The bytes of an input file: valid, valid but for one array, made of arbitrary
    arrays, damaged, or not an archive at all."""
    kind = draw(st.sampled_from(["valid", "one bad array", "arbitrary", "damaged",
                                 "garbage"]))
    if kind == "garbage":
        return draw(st.binary(max_size=64))
    arrays = _data(seed=draw(st.integers(0, 3)), lead=draw(st.sampled_from([(2, 3), (3,)])))
    if draw(st.booleans()):
        arrays["D"] = sparserec.dct_dictionary(N)
    if kind == "one bad array":
        name = draw(st.sampled_from(["x", "A", "D", "F", "y", "settings"]))
        arrays[name] = draw(_arrays(name))
    elif kind == "arbitrary":
        names = ["x", "A", "D", "F", "y", "h", "y_hat", "settings", "format",
                 "hyperparameters"]
        arrays = {name: draw(_arrays(name)) for name in draw(st.sets(st.sampled_from(names)))}
    buffer = bytes_io.BytesIO()
    np.savez(buffer, **arrays)
    content = buffer.getvalue()
    if kind == "damaged":
        at = draw(st.integers(0, len(content) - 1))
        content = (content[:at] if draw(st.booleans())
                   else content[:at] + bytes([content[at] ^ 0xFF]) + content[at + 1:])
    return content


_OPTION_VALUES = st.sampled_from(["0", "-1", "1e-300", "1e300", "nan", "inf", "abc", "2",
                                  "0.5", str(2**63), "", "1e-3"])


@st.composite
def _options(draw):
    args = ["-m", draw(st.sampled_from(list(sparserec.SOLVERS)))]
    for option in draw(st.sets(st.sampled_from(["--lam1", "--lam2", "--alpha", "--n-iter",
                                                "--max-iter", "--tol", "--tau", "--damping",
                                                "--dtype", "--dictionary", "--n-nonzero"]),
                               max_size=3)):
        if option == "--dtype":
            value = draw(st.sampled_from(["float32", "float64", "int8"]))
        elif option == "--dictionary":
            value = draw(st.sampled_from(["dct", "wavelet:haar:2", "wavelet:db4:99", "nope",
                                          "wavelet:haar:x"]))
        else:
            value = draw(_OPTION_VALUES)
        args += [option, value]
    return args + draw(st.sampled_from([[], ["--force"], ["--out-dir", "out"]]))


def _check_contract(directory, content, args, invoke):
    (directory / "in.npz").write_bytes(content)
    before = _digest(directory / "in.npz")
    result = invoke("solve", "in.npz", *args, cwd=directory)
    assert result.exit_code in (0, 2) or (result.exit_code == 1 and "--out-dir" in args), \
        result.output
    assert "Traceback" not in result.output and "internal error" not in result.output, \
        result.output
    assert _digest(directory / "in.npz") == before
    described = invoke("info", "in.npz", cwd=directory)
    assert described.exit_code in (0, 2) and "Traceback" not in described.output
    assert "internal error" not in described.output, described.output
    for output in list(directory.glob("*.npz")) + list(directory.glob("out/*.npz")):
        if output.name != "in.npz":
            arrays = np.load(output)
            assert np.isfinite(arrays["h"]).all() and np.isfinite(arrays["y_hat"]).all()
            output.unlink()
    assert not list(directory.rglob(".*.tmp"))


_SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                       HealthCheck.too_slow])


@settings(max_examples=200, **_SETTINGS)
@given(content=_files(), args=_options())
def test_hostile_files_and_options_keep_the_contract(tmp_path_factory, invoke, content,
                                                     args):
    _check_contract(tmp_path_factory.mktemp("hostile"), content, args, invoke)


@pytest.mark.slow
@settings(max_examples=3000, **_SETTINGS)
@given(content=_files(), args=_options())
def test_hostile_files_and_options_keep_the_contract_at_length(tmp_path_factory, invoke,
                                                               content, args):
    _check_contract(tmp_path_factory.mktemp("hostile"), content, args, invoke)


def _own_group():
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.setsid()


def _start(arguments, directory):
    return subprocess.Popen([sys.executable, "-m", "sparserec", *arguments], cwd=directory,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_own_group)


def _ctrl_c(process):
    """Ctrl-C as the terminal sends it (to the whole group); the run's exit code and stderr."""
    os.killpg(process.pid, signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    return process.returncode, _messages(stderr)


def _long_runs(directory, count):
    rng = np.random.default_rng(0)
    A = rng.standard_normal((200, 400)) / np.sqrt(200)
    for i in range(count):
        np.savez(directory / f"w{i}.npz", x=rng.standard_normal((1, 3000, 200)), A=A)
    return ["solve", "-m", "ista", "--max-iter", "100000", "--tol", "0", "w*.npz",
            "--out-dir", "out"]


@pytest.mark.slow
@pytest.mark.parametrize("delay", [0.3, 0.6, 1.0, 2.0, 4.0])  # while it loads, and after
def test_ctrl_c_at_any_moment_prints_one_line(tmp_path, delay):
    process = _start(_long_runs(tmp_path, 1), tmp_path)
    time.sleep(delay)
    code, lines = _ctrl_c(process)
    assert code == 130
    assert len(lines) == 1 and lines[0].startswith("interrupted"), lines


def test_sigterm_is_handled_like_ctrl_c(tmp_path):
    command = _long_runs(tmp_path, 1)
    (tmp_path / "w0.npz").rename(tmp_path / "w9.npz")  # solved second, for minutes
    np.savez(tmp_path / "w0.npz", **_data())  # solved at once
    process = _start(command, tmp_path)
    deadline = time.monotonic() + 60
    while not (tmp_path / "out" / "w0_ista.npz").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    lines = _messages(stderr)
    assert process.returncode == 130
    assert lines == ["interrupted: 1 of 2 files finished; run the same command again to do "
                     "the rest"], stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [".sparserec.lock",
                                                                   "w0_ista.npz"]


@pytest.mark.slow
@pytest.mark.parametrize("delay", [0.0, 6.0])  # while the workers start, and while they work
def test_ctrl_c_with_workers_prints_one_line_and_leaves_no_process(tmp_path, delay):
    pytest.importorskip("distributed")
    import psutil  # a dependency of distributed

    process = _start(_long_runs(tmp_path, 4) + ["--workers", "2"], tmp_path)
    deadline = time.monotonic() + 60
    while not psutil.Process(process.pid).children() and time.monotonic() < deadline:
        time.sleep(0.05)  # the delay counts from the first worker's start, not from loading
    time.sleep(delay)
    code, lines = _ctrl_c(process)
    assert code == 130
    assert lines == ["interrupted: 0 of 4 files finished; run the same command again to do "
                     "the rest"]
    for _ in range(100):  # every worker ends (zombies are reaped within moments)
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        pytest.fail("processes of the run are still there 10 s after it ended")


def test_an_archive_of_an_unknown_zip_version_is_refused(tmp_path, invoke):
    # Found by the property test: a byte of the central directory makes zipfile raise
    # NotImplementedError ("zip file version 21.0").
    buffer = bytes_io.BytesIO()
    np.savez(buffer, **_data())
    content = bytearray(buffer.getvalue())
    directory = content.rindex(b"PK\x01\x02")
    content[directory + 6] = 0xD2  # the version needed to extract: 21.0
    (tmp_path / "in.npz").write_bytes(bytes(content))
    assert "in.npz" in _one_line_error(invoke("solve", "in.npz", cwd=tmp_path))
    assert "in.npz" in _one_line_error(invoke("info", "in.npz", cwd=tmp_path))
