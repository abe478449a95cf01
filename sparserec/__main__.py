"""``python -m sparserec`` and the ``sparserec`` console script."""

import os
import signal
import sys

INTERRUPTED = 130


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main():
    """Run the command; Ctrl-C or SIGTERM at any moment, even while it loads, ends with code
    130, once the run has removed its temporary files and said what finished."""
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:  # (a SIGTERM ignored stays so)
        signal.signal(signal.SIGTERM, _interrupt)
    try:
        from .cli import main as run

        run()
        return
    except KeyboardInterrupt:  # while loading; later the command reports it itself
        print("\ninterrupted", file=sys.stderr)
        end = SystemExit(INTERRUPTED)
    except SystemExit as exit_:
        end = exit_
    if end.code == INTERRUPTED:
        # Leave at once: CPython would end by SIGINT instead of 130 if the interrupt struck
        # inside exec() (dataclasses, numba compiling), and a Dask cluster stopped while it
        # started would print tracebacks from its exit handlers. What the run wrote is safe.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(INTERRUPTED)
    raise end


if __name__ == "__main__":
    main()
