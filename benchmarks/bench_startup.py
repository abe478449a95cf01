"""Start-up: wall time of ``sparserec solve`` on a small file in a fresh process.

Cold: an empty numba cache (``NUMBA_CACHE_DIR`` set to a new temporary directory, so every
kernel the command uses is compiled). Warm: the same cache, second and later runs (the
kernels are loaded from it). Also the import time of ``sparserec`` alone, and the largest
entries of ``python -X importtime``, which say what dominates.

Run: ``python benchmarks/bench_startup.py [--repeats 5] [--method lasso]``
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np

try:
    from benchmarks._common import machine, print_table
except ImportError:
    from _common import machine, print_table


def small_file(directory, method):
    rng = np.random.default_rng(0)
    A = rng.standard_normal((32, 64)) / np.sqrt(32)
    shape = (4, 16, 32) if method == "sista" else (20, 32)
    path = os.path.join(directory, "small.npz")
    np.savez(path, x=rng.standard_normal(shape), A=A)
    return path


def timed(command, env):
    start = time.perf_counter()
    subprocess.run(command, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def import_profile(env, top=12):
    """The slowest imports under ``import sparserec.cli``: (cumulative microseconds, name)."""
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", "import sparserec.cli"],
                         env=env, capture_output=True, text=True).stderr
    rows = {}
    for line in out.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if match and ("." not in match.group(4) or match.group(4).startswith("sparserec.")):
            name = match.group(4)  # top-level packages, and sparserec's own modules
            rows[name] = max(rows.get(name, 0), int(match.group(2)))
    return sorted(((v, k) for k, v in rows.items()), reverse=True)[:top]


def run(repeats=5, method="lasso"):
    rows = []
    with tempfile.TemporaryDirectory() as directory:
        data = small_file(directory, method)
        env = dict(os.environ, NUMBA_CACHE_DIR=os.path.join(directory, "numba-cache"))
        command = [sys.executable, "-m", "sparserec", "solve", "--method", method, data,
                   "-o", os.path.join(directory, "out.npz"), "--force"]
        cold = timed(command, env)
        warm = [timed(command, env) for _ in range(repeats)]
        imports = [timed([sys.executable, "-c", "import sparserec"], env)
                   for _ in range(repeats)]
        python = [timed([sys.executable, "-c", "pass"], env) for _ in range(repeats)]
        rows.append(dict(what=f"sparserec solve --method {method}, cold cache", seconds=cold))
        rows.append(dict(what=f"sparserec solve --method {method}, warm cache",
                         seconds=float(np.median(warm))))
        rows.append(dict(what="python -c 'import sparserec'", seconds=float(np.median(imports))))
        rows.append(dict(what="python -c 'pass'", seconds=float(np.median(python))))
        profile = import_profile(env)
    return rows, profile


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--method", default="lasso")
    args = parser.parse_args()
    print(machine())
    rows, profile = run(args.repeats, args.method)
    print_table(f"Start-up (median of {args.repeats} warm runs)", rows,
                [("what", "what", "s"), ("seconds", "seconds", ".2f")])
    print("\nslowest imports under `import sparserec.cli` (cumulative):")
    for micro, name in profile:
        print(f"  {micro / 1e6:6.2f} s  {name}")


if __name__ == "__main__":
    main()
