"""Tests of batch runs: serial, on a real distributed.LocalCluster, killed workers, resume."""

import os
import socket
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from sparserec import batch, io
from sparserec.cli import cli

distributed = pytest.importorskip("distributed")

N_FILES = 20


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """Twenty small data files, with ground truth in half of them."""
    directory = tmp_path_factory.mktemp("inputs")
    rng = np.random.default_rng(0)
    A = rng.standard_normal((6, 12)) / np.sqrt(6)
    for i in range(N_FILES):
        y = np.zeros((2, 4, 12))
        y[..., rng.choice(12, 2, replace=False)] = rng.standard_normal((2, 4, 2))
        extra = dict(y=y) if i % 2 else {}
        np.savez(directory / f"f{i:02d}.npz", x=y @ A.T, A=A, **extra)
    return sorted(str(p) for p in directory.iterdir())


@pytest.fixture(scope="module")
def client():
    """A real cluster: 2 worker processes with 1 thread each, on loopback."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client:
        yield client


@pytest.fixture(scope="module")
def serial(inputs, tmp_path_factory):
    """The outputs of the serial run, the reference."""
    out = tmp_path_factory.mktemp("serial")
    reports = batch.run(batch.plan(inputs, out, "sista", dict(lam1=0.05)))
    assert [r.status for r in reports] == ["done"] * N_FILES
    return out


def _assert_same_outputs(directory, reference):
    names = sorted(p for p in os.listdir(reference) if not p.startswith("."))
    assert sorted(p for p in os.listdir(directory) if not p.startswith(".")) == names
    for name in names:
        assert io.is_complete(directory / name)
        got, want = io.load_npz(directory / name), io.load_npz(reference / name)
        assert got.keys() == want.keys()
        for key in want:
            assert np.array_equal(got[key], want[key]), (name, key)


def test_dask_run_gives_the_serial_results(inputs, client, serial, tmp_path):
    reports = batch.run(batch.plan(inputs, tmp_path, "sista", dict(lam1=0.05)), client=client)
    assert [r.status for r in reports] == ["done"] * N_FILES
    assert [r.input for r in reports] == inputs
    _assert_same_outputs(tmp_path, serial)


class KillOnce(distributed.WorkerPlugin):
    """Kill the worker process as it starts its third task, once in the whole cluster."""

    name = "kill-once"

    def __init__(self, marker):
        self.marker = marker
        self.started = 0

    def transition(self, key, start, finish, **kwargs):
        if finish == "executing" and str(key).startswith("sparserec-solve"):
            self.started += 1
            if self.started == 3:
                try:
                    os.close(os.open(self.marker, os.O_CREAT | os.O_EXCL))
                except FileExistsError:
                    return
                os.kill(os.getpid(), signal.SIGKILL)


def test_a_killed_worker_loses_no_output(inputs, client, serial, tmp_path):
    marker = tmp_path / "killed"
    client.register_plugin(KillOnce(str(marker)))
    try:
        out = tmp_path / "out"
        out.mkdir()
        reports = batch.run(batch.plan(inputs, out, "sista", dict(lam1=0.05)), client=client)
    finally:
        client.unregister_worker_plugin(KillOnce.name)
    assert marker.exists()  # a worker did die mid-run
    assert {r.status for r in reports} <= {"done", "skipped"}
    _assert_same_outputs(out, serial)


def test_the_console_script_on_an_existing_scheduler(inputs, client, serial, tmp_path):
    script = shutil.which("sparserec")
    command = [script] if script else [sys.executable, "-m", "sparserec"]
    result = subprocess.run(command + ["solve", "--lam1", "0.05", *inputs, "--out-dir",
                                       str(tmp_path), "--scheduler", client.scheduler.address],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert f"{N_FILES} files: {N_FILES} done, 0 skipped, 0 failed" in result.stdout
    _assert_same_outputs(tmp_path, serial)


def test_an_interrupted_run_resumes_with_only_what_is_missing(inputs, serial, tmp_path,
                                                              monkeypatch):
    out = tmp_path / "out"
    real_savez, calls = np.savez, []

    def savez_interrupted_at_the_eighth_file(file, **arrays):
        calls.append(1)
        if len(calls) == 8:  # Ctrl-C in the middle of writing the eighth output
            file.write(b"PK\x03\x04 half a file")
            raise KeyboardInterrupt
        real_savez(file, **arrays)

    monkeypatch.setattr(np, "savez", savez_interrupted_at_the_eighth_file)
    args = ["solve", "--lam1", "0.05", *inputs, "--out-dir", str(out)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 130 and "interrupted: 7 of 20 files finished" in result.stderr
    first = sorted(p for p in os.listdir(out) if not p.startswith("."))
    assert len(first) == 7 and all(io.is_complete(out / name) for name in first)
    stamps = {name: os.stat(out / name).st_mtime_ns for name in first}

    monkeypatch.undo()
    # What a worker killed in the middle of a write leaves: a hidden temporary file, named
    # after its host and process, which no longer runs.
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = socket.gethostname().replace(".", "_")
    name = Path(batch.output_path(inputs[9], out, "sista")).name
    killed = out / f".{name}.{host}-{dead.pid}.x1y2z3.tmp"
    killed.write_bytes(b"PK\x03\x04 half a file")
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0
    assert f"{N_FILES} files: 13 done, 7 skipped, 0 failed" in result.stdout
    assert not killed.exists() and not list(out.glob(".*.tmp"))
    assert {name: os.stat(out / name).st_mtime_ns for name in first} == stamps
    _assert_same_outputs(out, serial)


def test_workers_option_starts_a_local_cluster(inputs, serial, tmp_path):
    result = CliRunner().invoke(cli, ["solve", "--lam1", "0.05", *inputs, "--out-dir",
                                      str(tmp_path), "--workers", "2"])
    assert result.exit_code == 0, result.output
    _assert_same_outputs(tmp_path, serial)
