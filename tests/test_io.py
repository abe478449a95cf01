"""Tests of sparserec.io: safe npz reading, validation messages, atomic writes."""

import os
import pickle
import warnings
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sparserec import io
from sparserec.io import InputError


def _data(M=4, N=6, lead=(3, 5)):
    rng = np.random.default_rng(0)
    A = rng.standard_normal((M, N))
    y = rng.standard_normal(lead + (N,))
    return dict(x=y @ A.T, A=A, y=y)


def test_load_npz_reads_every_array(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, **_data())
    arrays = io.load_npz(path)
    assert set(arrays) == {"x", "A", "y"} and arrays["x"].shape == (3, 5, 4)


def test_load_npz_never_unpickles(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, x=np.array([{"a": 1}], dtype=object))
    with pytest.raises(InputError, match=r"evil.npz: array 'x' holds pickled Python objects"):
        io.load_npz(path)


def test_load_npz_rejects_a_plain_pickle(tmp_path):
    path = tmp_path / "p.npz"
    path.write_bytes(pickle.dumps({"x": 1}))
    with pytest.raises(InputError, match="is not an npz file"):
        io.load_npz(path)


def test_load_npz_names_the_truncated_array(tmp_path):
    path = tmp_path / "t.npz"
    np.savez(path, **_data())
    path.write_bytes(path.read_bytes()[:-300])
    with pytest.raises(InputError, match="truncated or corrupt"):
        io.load_npz(path)


def test_load_npz_rejects_a_zip_of_other_files(tmp_path):
    path = tmp_path / "z.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("notes.txt", "hello")
    with pytest.raises(InputError, match="member 'notes.txt' is not a .npy array"):
        io.load_npz(path)


def test_read_data_accepts_a_single_sequence_without_y(tmp_path):
    path = tmp_path / "d.npz"
    data = _data(lead=(5,))
    np.savez(path, x=data["x"], A=data["A"], D=np.eye(6), F=np.eye(6))
    assert set(io.read_data(path)) == {"x", "A", "D", "F"}


def test_read_data_without_A_when_a_model_supplies_it(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.ones((2, 4)), y=np.ones((2, 7)))
    assert set(io.read_data(path, require_A=False)) == {"x", "y"}


def test_read_data_message_names_file_array_and_expectation(tmp_path):
    path = tmp_path / "d.npz"
    data = _data()
    np.savez(path, x=data["x"], A=data["A"][:3])
    with pytest.raises(InputError) as error:
        io.read_data(path)
    assert str(error.value) == (f"{path}: array 'A' has shape (3, 6) but x has M = 4; "
                                "expected A of shape (4, N)")


def test_write_npz_is_atomic_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "out.npz"
    io.write_npz(path, dict(a=np.arange(3)))
    assert os.listdir(tmp_path) == ["out.npz"]
    assert np.array_equal(io.load_npz(path)["a"], np.arange(3))


def test_write_npz_interrupted_keeps_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "out.npz"
    io.write_npz(path, dict(a=np.arange(3)))
    before = path.read_bytes()

    def interrupted(file, **arrays):
        file.write(b"PK\x03\x04 half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", interrupted)
    with pytest.raises(KeyboardInterrupt):
        io.write_npz(path, dict(a=np.arange(5)))
    assert os.listdir(tmp_path) == ["out.npz"] and path.read_bytes() == before


def test_written_files_get_ordinary_permissions(tmp_path):
    path = tmp_path / "out.npz"
    io.write_npz(path, dict(a=np.arange(3)))
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_check_output_refuses_the_input_even_with_force(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, **_data())
    with pytest.raises(InputError, match="output is the input file"):
        io.check_output(path, force=True, inputs=[path])


def test_is_complete_only_for_whole_result_files(tmp_path):
    path = tmp_path / "r.npz"
    arrays = {key: np.zeros(2) for key in io.RESULT_KEYS}
    io.write_npz(path, arrays)
    assert io.is_complete(path)
    path.write_bytes(path.read_bytes()[:-100])
    assert not io.is_complete(path)
    assert not io.is_complete(tmp_path / "missing.npz")
    io.write_npz(path, {"h": np.zeros(2)})
    assert not io.is_complete(path)


@pytest.mark.parametrize("arrays, kind", [
    (dict(x=np.ones((2, 3)), A=np.ones((3, 4))), "data"),
    ({key: np.zeros(1) for key in io.RESULT_KEYS}, "result"),
    (dict(D=np.eye(3), hyperparameters=np.array("{}")), "model"),
    (dict(w=np.ones(3)), "unknown"),
])
def test_file_kind(arrays, kind):
    assert io.file_kind(arrays) == kind


def test_input_error_is_a_value_error():
    assert issubclass(InputError, ValueError)
    with pytest.raises(ValueError, match="no such file"):
        io.load_npz("/nonexistent/d.npz")


@pytest.mark.parametrize("change, message", [
    (dict(x=np.ones(4)), "array 'x' must have 2 or 3 dimensions, got shape (4,)"),
    (dict(x=np.full((3, 5, 4), np.nan)), "array 'x' contains NaN or Inf"),
    (dict(x=np.ones((0, 3, 4)), y=np.ones((0, 3, 6))), "array 'x' is empty (shape (0, 3, 4))"),
    (dict(x=np.array([["a"]])), "array 'x' must be a real numeric array, got dtype <U1"),
    (dict(A=np.ones(4)), "array 'A' must have 2 dimensions, got shape (4,)"),
    (dict(A=np.ones((4, 6)) * 1j), "array 'A' must be a real numeric array, got dtype "
                                   "complex128"),
    (dict(D=np.ones((6, 6, 1))), "array 'D' must have 2 dimensions, got shape (6, 6, 1)"),
    (dict(y=np.ones((3, 6))), "array 'y' must have 3 dimensions, got shape (3, 6)"),
])
def test_read_data_messages_name_the_file_and_the_array(tmp_path, change, message):
    path = tmp_path / "in.npz"
    np.savez(path, **{**_data(), **change})
    with pytest.raises(InputError) as error:
        io.read_data(path)
    assert str(error.value) == f"{path}: {message}"


def test_check_output_names_the_parameter_force(tmp_path):
    path = tmp_path / "out.npz"
    io.write_npz(path, dict(a=np.arange(3)))
    with pytest.raises(InputError, match="output already exists; expected a new path, or "
                                         "force=True to replace it"):
        io.check_output(path)
    assert io.check_output(path, force=True)


def test_write_model_and_read_model_round_trip(tmp_path):
    path = tmp_path / "m.npz"
    io.write_model(path, "sparserec.Test/1", {"n_layers": 3, "learn": ["D"]},
                   {"D": np.eye(2), "alpha_": np.float64(2.0)})
    assert os.listdir(tmp_path) == ["m.npz"]
    assert io.file_kind(io.load_npz(path)) == "model"
    format, hyperparameters, arrays = io.read_model(path, "sparserec.Test/1")
    assert format == "sparserec.Test/1"
    assert hyperparameters == {"n_layers": 3, "learn": ["D"]}
    assert set(arrays) == {"D", "alpha_"}
    np.testing.assert_array_equal(arrays["D"], np.eye(2))
    with pytest.raises(InputError, match="m.npz: is a model of another kind .*expected a "
                                         "model of format 'sparserec.Other/1'"):
        io.read_model(path, "sparserec.Other/1")


def test_read_model_refuses_data_and_a_model_without_hyperparameters(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, **_data())
    with pytest.raises(InputError, match="d.npz: is not a model \\(no .format. entry"):
        io.read_model(path, "sparserec.Test/1")
    path = tmp_path / "m.npz"
    np.savez(path, format=np.array("sparserec.Test/1"), D=np.eye(2))
    with pytest.raises(InputError, match="m.npz: missing array 'hyperparameters'"):
        io.read_model(path, "sparserec.Test/1")


def test_load_npz_inflates_only_the_arrays_asked_for(tmp_path, monkeypatch):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.ones(3), unused=np.zeros(10))
    read = []
    original = np.lib.npyio.NpzFile.__getitem__
    monkeypatch.setattr(np.lib.npyio.NpzFile, "__getitem__",
                        lambda self, key: read.append(key) or original(self, key))
    assert list(io.load_npz(path, ("x",))) == ["x"]
    assert read == ["x"]
    headers = io.read_headers(path)
    assert headers["unused"].shape == (10,) and headers["unused"].ndim == 1
    assert read == ["x"]


@pytest.mark.parametrize("depth", [21, 1000, 100_000])
def test_deeply_nested_metadata_is_refused(tmp_path, depth):
    path = tmp_path / "r.npz"
    np.savez(path, settings=np.array("[" * depth + "]" * depth))
    with pytest.raises(io.InputError, match="'settings' is JSON nested too deeply"):
        io.read_result(path, keys=("settings",))


def test_a_model_of_a_newer_format_says_so(tmp_path):
    path = tmp_path / "m.npz"
    io.write_model(path, "sparserec.Thing/2", {}, {"w": np.ones(2)})
    with pytest.raises(io.InputError, match=r"written by a newer sparserec \(format '2' of "
                       r"sparserec.Thing; this version reads 1\)"):
        io.read_model(path, "sparserec.Thing/1")
    with pytest.raises(io.InputError, match="a model of another kind"):
        io.read_model(path, "sparserec.Other/1")


def _npy_bytes(array):
    import io as bytes_io

    buffer = bytes_io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


@st.composite
def _archives(draw):
    """An archive of any layout: members named, sized and compressed at random, each a
    valid array, a cut one, one whose header lies, or bytes."""
    members = []
    for _ in range(draw(st.integers(0, 6))):
        name = draw(st.sampled_from(["x.npy", "A.npy", "y.npy", "x.npy", "z", "dir/x.npy",
                                     ".npy", "x.npy/"]))
        array = np.zeros(draw(st.sampled_from([(0,), (3,), (4, 6), (2, 3, 4), (10_000,)])))
        content = _npy_bytes(array.astype(draw(st.sampled_from(["f8", "f4", "i1", "U2"]))))
        kind = draw(st.sampled_from(["valid", "cut", "lying", "bytes"]))
        if kind == "cut":
            content = content[:draw(st.integers(0, len(content) - 1))]
        elif kind == "lying":  # the header promises far more than the member holds
            content = content.replace(b"'shape': (", b"'shape': (99999999, ", 1)
        elif kind == "bytes":
            content = draw(st.binary(max_size=200))
        members.append((name, content, draw(st.sampled_from([zipfile.ZIP_STORED,
                                                             zipfile.ZIP_DEFLATED]))))
    return members


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(members=_archives())
def test_any_archive_layout_is_read_or_refused_in_words(tmp_path, members):
    path = tmp_path / "a.npz"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile's "Duplicate name"
        with zipfile.ZipFile(path, "w") as archive:
            for name, content, compression in members:
                archive.writestr(name, content, compress_type=compression)
    for read in (io.read_headers, io.load_npz, io.read_data):
        try:
            read(path)
        except InputError as error:
            assert str(error).startswith(f"{path}: ") and "\n" not in str(error)


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(depth=st.integers(0, 3000), opener=st.sampled_from(["[", '{"a": ']))
def test_metadata_of_any_depth_is_decoded_or_refused(tmp_path, depth, opener):
    closer = "]" if opener == "[" else "}"
    path = tmp_path / "r.npz"
    np.savez(path, settings=np.array('{"v": ' + opener * depth + "1" + closer * depth + "}"))
    if depth + 2 <= io._MAX_JSON_DEPTH:  # (the object, the openers, the number)
        _, decoded = io.read_result(path, keys=("settings",))
        assert "v" in decoded
    else:
        with pytest.raises(InputError, match="'settings' is JSON nested too deeply"):
            io.read_result(path, keys=("settings",))


def test_memory_is_bounded_by_the_arrays_used_not_by_an_unused_member(tmp_path):
    import tracemalloc

    path = tmp_path / "bomb.npz"
    np.savez(path, **_data())
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("unused.npy", _npy_bytes(np.zeros(25_000_000, np.float32)))
    assert path.stat().st_size < 1_000_000  # 100 MB inflated
    tracemalloc.start()
    try:
        data = io.read_data(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert set(data) == {"x", "A", "y"} and peak < 5_000_000
