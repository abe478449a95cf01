"""Reading and writing sparserec's npz files, safely.

Files are read with ``allow_pickle=False``, so that a file from elsewhere can never run
code, and every problem is reported as an :class:`InputError` whose one-line message names
the file, the array and what was expected. Files are written to a temporary file in the
target directory and renamed into place, so that a reader never sees half a file.

The formats (docs/cli.rst describes them for users):

- data (input of ``sparserec solve``): ``x`` (T, M) or (B, T, M); ``A`` (M, N); optional
  ``D`` (N, N), ``F`` (N, N) and ground truth ``y`` (same leading shape as ``x``, last N);
- results (output of ``sparserec solve``): ``h``, ``y_hat``, per-item ``n_iter``,
  ``converged``, ``objective``, a JSON string ``settings``, and scores when ``y`` was given;
- models (output of ``sparserec fit``): numeric arrays plus one JSON string of
  hyperparameters.
"""

import errno
import fcntl
import glob
import hashlib
import json
import math
import os
import socket
import stat
import tempfile
import zipfile
import zlib
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ._validation import check_array

__all__ = ["InputError", "Header", "load_npz", "read_headers", "read_data", "read_result",
           "read_model", "file_kind", "check_output", "write_npz", "write_model",
           "atomic_path", "directory_lock", "digest", "is_complete", "path_error", "RESULT_KEYS",
           "DATA_KEYS"]

#: Arrays every complete result file holds.
RESULT_KEYS = ("h", "y_hat", "n_iter", "converged", "objective", "settings")
#: The arrays a data file may hold.
DATA_KEYS = ("x", "A", "D", "F", "y")

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a local file header, or an empty archive

# What reading a damaged archive raises: zipfile's NotImplementedError (an unknown version
# or compression) and RuntimeError (encryption) too.
_ARCHIVE_ERRORS = (zipfile.BadZipFile, EOFError, OSError, zlib.error, NotImplementedError,
                   RuntimeError)

# The process umask, read once: mkstemp creates files 0600, and outputs should get the
# permissions any other new file would.
_UMASK = os.umask(0)
os.umask(_UMASK)


class InputError(ValueError):
    """Bad input: the message is one line naming the file, the array and the expectation."""


def _fail(path, problem, expected):
    raise InputError(f"{path}: {problem}; expected {expected}")


# What a path needs, by the operating system's reason for refusing it.
_PATH_NEEDS = {
    errno.ENOENT: "an existing path",
    errno.ENOTDIR: "every parent of the path to be a directory",
    errno.EISDIR: "a file, not a directory",
    errno.EACCES: "a path you have permission to use",
    errno.EPERM: "a path you have permission to use",
    errno.EROFS: "a location on a writable file system",
    errno.ENAMETOOLONG: "a shorter path (at most 255 bytes per name)",
    errno.ENOSPC: "free space on its device",
    errno.EDQUOT: "free space in your disk quota",
    errno.ELOOP: "a path without a loop of symbolic links",
}


def path_error(error, path=None):
    """The :class:`InputError` for an :class:`OSError` on a path a user gave (or chose).

    Parameters
    ----------
    error : OSError
    path : str or path-like, optional
        The path to name when the error does not carry one.

    Returns
    -------
    InputError
        One line: the path, the system's reason and what the path needs.
    """
    name = error.filename if error.filename is not None else path
    reason = (error.strerror or str(error)).lower()
    needs = _PATH_NEEDS.get(error.errno, "a path sparserec can read and write")
    return InputError(f"{name}: {reason}; expected {needs}")


def load_npz(path, names=None):
    """Load the arrays of an npz file, never unpickling.

    Parameters
    ----------
    path : str or path-like
    names : collection of str, optional
        The arrays to read: the others are never inflated, so that an archive's unused
        members cost neither time nor memory. Default: every array.

    Returns
    -------
    dict of str to ndarray
        The arrays (those of ``names`` that the file holds), read completely (so that
        truncation shows here, not later).

    Raises
    ------
    InputError
        If the path is missing or a directory, the file is not a complete npz archive, or
        an array holds pickled objects or is not an ``.npy`` member.
    """
    read_headers(path)  # refuses a damaged or lying archive before anything is inflated
    arrays, member = {}, None
    try:
        with np.load(path, allow_pickle=False) as archive:
            for member in archive.files:
                if names is not None and member not in names:
                    continue
                arrays[member] = archive[member]  # (only .npy members: read_headers)
    except InputError:
        raise
    except ValueError as error:
        if "allow_pickle" in str(error):
            _fail(path, f"array {member!r} holds pickled Python objects (never unpickled)",
                  "numeric arrays")
        _fail(path, f"array {member!r} is unreadable ({error})", "a complete .npz archive")
    except _ARCHIVE_ERRORS as error:
        where = f"array {member!r}" if member else "archive"
        _fail(path, f"is truncated or corrupt ({where}: {error})", "a complete .npz archive")
    return arrays


# Deflate cannot compress by more than about 1032:1: a member that claims more is a lie.
_MAX_DEFLATE_RATIO = 1100


class Header(NamedTuple):
    """What an array's ``.npy`` header declares: enough to tell what a file is."""

    shape: tuple
    dtype: np.dtype

    @property
    def ndim(self):
        return len(self.shape)


def read_headers(path):
    """The arrays of an npz file as their headers declare them, none of them inflated.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    dict of str to Header
        ``shape`` and ``dtype`` (and ``ndim``) of every array, in the file's order.

    Raises
    ------
    InputError
        If the path is missing or a directory, or the file is not a complete npz archive.
    """
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        _fail(path, "no such file", "an existing .npz file")
    except OSError as error:
        raise path_error(error, path) from None
    if stat.S_ISDIR(mode):
        _fail(path, "is a directory", "an .npz file")
    if not stat.S_ISREG(mode):  # a FIFO or a device would block or never end
        _fail(path, "is not a regular file (a pipe, socket or device)", "an .npz file")
    try:
        with open(path, "rb") as file:
            magic = file.read(4)
    except OSError as error:
        raise path_error(error, path) from None
    if not magic:
        _fail(path, "is empty (0 bytes)", "a NumPy .npz archive")
    if magic not in _ZIP_MAGIC:
        kind = "a single .npy array" if magic.startswith(b"\x93NUM") else "not a zip archive"
        _fail(path, f"is not an npz file ({kind})", "a NumPy .npz archive (numpy.savez)")
    return _check_archive(path)


def _check_archive(path):
    """Refuse an archive before anything is allocated: one whose members are ambiguous
    (a name twice), or whose sizes, declared in the zip headers and in each array's
    header, promise more data than the file holds. Returns the arrays' headers."""
    size = os.path.getsize(path)
    headers = {}
    try:
        with zipfile.ZipFile(path) as archive:
            seen = set()
            for info in archive.infolist():
                if info.filename in seen:
                    _fail(path, f"holds the member {info.filename!r} twice (an ambiguous "
                          "archive)", "an archive written by numpy.savez")
                seen.add(info.filename)
                limit = (info.compress_size if info.compress_type == zipfile.ZIP_STORED
                         else _MAX_DEFLATE_RATIO * info.compress_size + 1024)
                if info.header_offset + info.compress_size > size or info.file_size > limit:
                    _fail(path, f"member {info.filename!r} declares more data than the file "
                          "holds", "a complete .npz archive")
                if not info.filename.endswith(".npy"):
                    _fail(path, f"member {info.filename!r} is not a .npy array",
                          "an archive of NumPy arrays")
                with archive.open(info) as member:
                    headers[info.filename[:-4]] = _check_npy_header(path, info, member)
    except InputError:
        raise
    except (*_ARCHIVE_ERRORS, ValueError) as error:
        _fail(path, f"is truncated or corrupt (archive: {error})", "a complete .npz archive")
    return headers


def _check_npy_header(path, info, member):
    """The array's header: its shape and dtype must fit in the member's declared size."""
    name = info.filename.removesuffix(".npy")
    version = np.lib.format.read_magic(member)
    read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
            else np.lib.format.read_array_header_2_0)
    shape, _, dtype = read(member)
    if dtype.hasobject:
        _fail(path, f"array {name!r} holds pickled Python objects (never unpickled)",
              "numeric arrays")
    promised, held = math.prod(shape) * dtype.itemsize, info.file_size - member.tell()
    if promised > held:
        _fail(path, f"array {name!r} declares shape {shape} of {dtype} ({promised} bytes) but "
              f"holds {held} bytes", "a complete .npz archive")
    return Header(tuple(shape), dtype)


def _numeric(path, name, a, ndim):
    """One array checked as the solvers check their input (real, non-empty, finite, of
    the given rank), as float32 or float64."""
    try:
        return check_array(a, f"array {name!r}", ndim=ndim)
    except ValueError as error:
        raise InputError(f"{path}: {error}") from None


def read_data(path, *, require_A=True, x_ndim=(2, 3)):
    """Read and validate a data file (the input of ``sparserec solve``).

    Parameters
    ----------
    path : str or path-like
    require_A : bool, default=True
        Whether ``A`` must be present (a model may supply it instead).
    x_ndim : tuple of int, default=(2, 3)
        The numbers of dimensions ``x`` may have: signals or sequences (2, 3), or the
        vectors of a one-shot network (1, 2).

    Returns
    -------
    dict
        ``x``, and whichever of ``A``, ``D``, ``F``, ``y`` the file holds, all checked to
        be finite real arrays of consistent shapes.

    Raises
    ------
    InputError
    """
    arrays = load_npz(path, DATA_KEYS)
    if "x" not in arrays:
        kind = file_kind(read_headers(path))
        if kind in ("result", "prediction"):
            _fail(path, "is a sparserec result, not data", "an input holding array 'x'")
        if kind == "model":
            _fail(path, "is a sparserec model, not data", "an input holding array 'x'")
        _fail(path, "missing array 'x'", "measurements x of shape (T, M) or (B, T, M)")
    x = _numeric(path, "x", arrays["x"], x_ndim)
    M = x.shape[-1]
    data = {"x": x}
    if "A" in arrays:
        A = _numeric(path, "A", arrays["A"], 2)
        if A.shape[0] != M:
            _fail(path, f"array 'A' has shape {A.shape} but x has M = {M}",
                  f"A of shape ({M}, N)")
        data["A"] = A
    elif require_A:
        _fail(path, "missing array 'A'", f"the measurement matrix A of shape ({M}, N)")
    N = data["A"].shape[1] if "A" in data else None
    for name in ("D", "F"):
        if name in arrays:
            a = _numeric(path, name, arrays[name], 2)
            square = a.shape[0] == a.shape[1] and (N is None or a.shape[0] == N)
            if not square:
                shape = f"({N}, {N})" if N else "(N, N)"
                _fail(path, f"array {name!r} has shape {a.shape}", f"{name} of shape {shape}"
                      + (f" to match A's N = {N}" if N else ""))
            N = a.shape[0]
            data[name] = a
    if "y" in arrays:
        lead = x.shape[:-1]
        expected = f"y of shape ({', '.join(map(str, lead + (N or 'N',)))})"
        y = _numeric(path, "y", arrays["y"], x.ndim)
        if y.shape[:-1] != lead or (N and y.shape[-1] != N):
            _fail(path, f"array 'y' has shape {y.shape} but x has shape {x.shape}", expected)
        data["y"] = y
    return data


def read_result(path, keys=RESULT_KEYS):
    """Read a result file written by ``sparserec solve``: its arrays and its settings.

    Parameters
    ----------
    path : str or path-like
    keys : tuple of str
        The arrays it must hold (those of ``sparserec predict``: ``('y_hat', 'settings')``).

    Raises
    ------
    InputError
        If it is not a complete result file.
    """
    arrays = load_npz(path)
    missing = [key for key in keys if key not in arrays]
    if missing:
        _fail(path, f"missing array {missing[0]!r}", "a sparserec result with "
              + ", ".join(keys))
    return arrays, _json(path, "settings", arrays["settings"])


# Metadata is small and flat: anything larger or deeper is not ours.
_MAX_JSON_CHARS = 1_000_000
_MAX_JSON_DEPTH = 20


def _json(path, name, a):
    """A JSON object stored as a 0-d string array, decoded within size and depth limits."""
    if a.dtype.kind != "U" or a.ndim != 0:
        _fail(path, f"array {name!r} has dtype {a.dtype} and shape {a.shape}",
              "a JSON string (0-d unicode array)")
    text = a.item()
    if len(text) > _MAX_JSON_CHARS:
        _fail(path, f"array {name!r} holds {len(text)} characters of JSON",
              f"at most {_MAX_JSON_CHARS}")
    too_deep = (f"array {name!r} is JSON nested too deeply", f"at most {_MAX_JSON_DEPTH} levels")
    try:
        value = json.loads(text)
    except RecursionError:  # (nested beyond Python's recursion limit)
        _fail(path, *too_deep)
    except ValueError:
        _fail(path, f"array {name!r} is not valid JSON", "a JSON string")
    if _depth(value) > _MAX_JSON_DEPTH:
        _fail(path, *too_deep)
    if not isinstance(value, dict):
        _fail(path, f"array {name!r} is JSON but not an object", "a JSON object")
    return value


def _depth(value):
    """The nesting depth of decoded JSON, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        value, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(value, dict):
            stack.extend((item, depth + 1) for item in value.values())
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)
    return deepest


def file_kind(arrays):
    """Guess what an npz file holds: 'data', 'result', 'prediction', 'model' or 'unknown'.

    A model is recognised by a JSON string array next to numeric ones, as
    ``SISTARegressor.save`` writes it.
    """
    if "x" in arrays:
        return "data"
    if set(RESULT_KEYS) <= arrays.keys():
        return "result"
    if {"y_hat", "settings"} <= arrays.keys():
        return "prediction"
    if any(a.dtype.kind == "U" and a.ndim == 0 for a in arrays.values()):
        return "model"
    return "unknown"


def check_output(path, *, force=False, inputs=(), suffix=".npz"):
    """Check that ``path`` can receive an output file, before any work is done.

    Parameters
    ----------
    path : str or path-like
    force : bool, default=False
        Allow replacing an existing file.
    inputs : iterable of path-like
        Input files, which are never overwritten, even with ``force``.
    suffix : str, default='.npz'
        The extension the output must have.

    Returns
    -------
    Path

    Raises
    ------
    InputError
    """
    path = Path(path)
    if path.suffix != suffix:
        _fail(path, f"output name does not end in {suffix}", f"an output path like out{suffix}")
    if path.is_dir():
        _fail(path, "output is a directory", "an output file path")
    parent = path.parent
    if not parent.is_dir():
        problem = "is not a directory" if parent.exists() else "does not exist"
        _fail(path, f"output directory {str(parent)!r} {problem}", "an existing directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        _fail(path, f"output directory {str(parent)!r} is not writable",
              "a writable directory")
    if path.exists():
        if any(path.resolve() == Path(p).resolve() for p in inputs):
            _fail(path, "output is the input file", "a different output path (inputs are "
                  "never modified)")
        if not force:
            _fail(path, "output already exists", "a new path, or force=True to replace it")
    return path


@contextmanager
def directory_lock(directory):
    """Hold the exclusive lock of ``directory`` (its file ``.sparserec.lock``), waiting for
    it. The kernel releases it when the holder ends, even when it is killed: a killed run
    never leaves it stuck."""
    fd = os.open(Path(directory) / ".sparserec.lock", os.O_RDWR | os.O_CREAT, 0o666 & ~_UMASK)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # (closing releases the lock)


def _writer():
    """Who writes a temporary file: this host and process, in its name."""
    return f"{socket.gethostname().replace('.', '_')}-{os.getpid()}"


@contextmanager
def atomic_path(path, check=None):
    """Yield a temporary path next to ``path``; rename it into place if the block succeeds.

    The temporary file is unique to this writer and removed on any failure (including
    KeyboardInterrupt), so that ``path`` is either the complete new file, or untouched.
    With ``check``, the rename happens under the directory's lock (:func:`directory_lock`),
    after ``check()``, which may raise to keep ``path`` as it is: the state of ``path`` that
    it sees is the one the rename replaces, whatever other writers do.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{_writer()}.", suffix=".tmp",
                               dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)
        if check is None:
            os.replace(tmp, path)
        else:
            with directory_lock(path.parent):
                check()
                os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def remove_leftovers(path):
    """Remove the temporary files of ``path`` that killed writers of this host left behind.

    :func:`atomic_path` removes its temporary file on any error, but not when its process
    is killed (a lost cluster worker, ``kill -9``). Only the files of processes of this host
    that no longer run are removed: those of live writers, here or on other hosts, stay.
    """
    path = Path(path)
    host = socket.gethostname().replace(".", "_")
    for leftover in path.parent.glob(f".{glob.escape(path.name)}.{glob.escape(host)}-*.tmp"):
        pid = leftover.name[len(path.name) + len(host) + 3:].split(".")[0]
        if pid.isdigit() and not _alive(int(pid)):
            leftover.unlink(missing_ok=True)


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's
        return True
    return True


def write_npz(path, arrays, check=None):
    """Write arrays to an npz file atomically (temporary file, fsync, rename).

    Parameters
    ----------
    path : str or path-like
    arrays : dict of str to array_like
    check : callable, optional
        Called under the directory's lock just before the rename (:func:`atomic_path`).

    Raises
    ------
    InputError
        If the file cannot be written (the message names it and the reason).
    """
    try:
        with atomic_path(path, check) as tmp, open(tmp, "wb") as file:
            np.savez(file, **arrays)
            file.flush()
            os.fsync(file.fileno())
    except OSError as error:
        _fail(path, f"cannot be written ({error.strerror or error})", "a writable location")


def digest(arrays):
    """A SHA-256 of named arrays (names, dtypes, shapes and values), in hex: what a result
    records of its input, to know whether the input changed since."""
    sha = hashlib.sha256()
    for name in sorted(arrays):
        a = np.asarray(arrays[name])
        sha.update(f"{name}:{a.dtype.str}:{a.shape};".encode())
        sha.update(np.ascontiguousarray(a).reshape(-1).view(np.uint8))
    return sha.hexdigest()


def write_model(path, format, hyperparameters, arrays):
    """Write a model atomically: its numeric arrays, the name of its ``format`` and its
    hyperparameters as a JSON string (never a pickle).

    Parameters
    ----------
    path : str or path-like
    format : str
        What the file holds and its version, e.g. ``'sparserec.SISTARegressor/1'``.
    hyperparameters : dict
        JSON-serialisable values.
    arrays : dict of str to array_like
    """
    write_npz(path, {**arrays, "format": np.array(format),
                     "hyperparameters": np.array(json.dumps(hyperparameters))})


def read_model(path, formats):
    """Read a model written by :func:`write_model` in one of the given ``formats``.

    Parameters
    ----------
    path : str or path-like
    formats : str or collection of str

    Returns
    -------
    format : str
        The file's format.
    hyperparameters : dict
    arrays : dict of str to ndarray
        The other arrays of the file.

    Raises
    ------
    InputError
        If the file is not a model of one of these formats.
    """
    formats = (formats,) if isinstance(formats, str) else tuple(formats)
    arrays = load_npz(path)
    found = arrays.pop("format", None)
    if found is None or found.dtype.kind != "U" or found.ndim != 0:
        _fail(path, "is not a model (no 'format' entry naming what it holds)",
              f"a model of format {' or '.join(map(repr, formats))}")
    found = found.item()
    if found not in formats:
        kind, _, version = found.rpartition("/")
        known = [known for known in formats if known.rpartition("/")[0] == kind]
        if known:
            reads = known[0].rpartition("/")[2]
            newer = version.isdecimal() and len(version) < 10 and int(version) > int(reads)
            problem = ("was written by a newer sparserec" if newer
                       else "has a format version this sparserec cannot read")
            _fail(path, f"{problem} (format {version[:20]!r} of {kind}; this version reads "
                  f"{reads})", f"a model of format {reads}, or a sparserec that reads "
                  f"{version[:20]!r}")
        _fail(path, f"is a model of another kind (format {found[:80]!r})",
              f"a model of format {' or '.join(map(repr, formats))}")
    if "hyperparameters" not in arrays:
        _fail(path, "missing array 'hyperparameters'", "a model with its hyperparameters")
    return found, _json(path, "hyperparameters", arrays.pop("hyperparameters")), arrays


def is_complete(path):
    """Whether ``path`` is a complete result file (all arrays present, checksums good)."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = {name.removesuffix(".npy") for name in archive.namelist()}
            return set(RESULT_KEYS) <= names and archive.testzip() is None
    except _ARCHIVE_ERRORS:
        return False
