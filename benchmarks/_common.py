"""Shared pieces of the benchmarks: timing, the machine's description, tables."""

import os
import platform
import sys
import time

import numpy as np


def median_time(run, repeats):
    """Median wall time of ``run()`` over ``repeats`` calls, and the last result."""
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = run()
        times.append(time.perf_counter() - start)
    return float(np.median(times)), out


def machine():
    """One line: CPU, cores, load, Python, BLAS kernel and threads (threadpoolctl)."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if "model name" in line)
    except (OSError, StopIteration):
        pass
    blas = ""
    try:
        from threadpoolctl import threadpool_info
        blas = ", ".join(f"{i['internal_api']} {i.get('architecture', '?')} x{i['num_threads']}"
                         for i in threadpool_info() if i["user_api"] == "blas")
    except ImportError:
        pass
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"{cpu}; {os.cpu_count()} cores; load {load}; Python {sys.version.split()[0]}; "
            f"numpy {np.__version__}; BLAS {blas}")


def print_table(title, rows, columns):
    """Print ``rows`` (dicts) with ``columns`` (key, header, format)."""
    print(f"\n{title}")
    cells = [[h for _, h, _ in columns]]
    for row in rows:
        cells.append(["-" if row.get(key) is None else format(row[key], fmt)
                      for key, _, fmt in columns])
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    for line in cells:
        print("  ".join(text.ljust(w) if i == 0 else text.rjust(w)
                        for i, (text, w) in enumerate(zip(line, widths, strict=True))))
