"""Starting the walk's worker processes (`governance.audit.verify_worker`) for `audit verify`.

Only the standard library: `governance audit verify` starts its workers before it imports the
verification itself, so their interpreters, the walk and the database driver load on the other
core while the command imports and reads the head.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import weakref
from contextlib import ExitStack, suppress
from typing import IO, cast

Worker = tuple[subprocess.Popen[bytes], IO[bytes]]  # a worker process and its error output


def start(stack: ExitStack, dialect: str) -> Worker:
    """A fresh `python -m governance.audit.verify_worker` (no inherited connections or threads,
    and none of the app's imports), stopped when `stack` closes if it is still running; it
    starts Python and imports the walk and the `dialect`'s driver (psycopg: 0.1-0.15 s of
    CPU), then waits for its job on its standard input."""
    # A file, not a pipe, for error output: a long traceback cannot block the worker.
    errors = stack.enter_context(tempfile.TemporaryFile())  # noqa: SIM115  (closed by `stack`)
    process = stack.enter_context(
        subprocess.Popen(  # noqa: S603  (this interpreter, this module, a dialect's name)
            [sys.executable, "-m", "governance.audit.verify_worker", dialect],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
        )
    )
    stack.callback(_stop, process)
    return process, errors


# How long a worker told to end may take to do so before it is killed: it ends as soon as its
# interpreter and imports are up (0.1-0.15 s of CPU), which on a loaded machine can take
# seconds. Killing it mid-import was harmless, but left a worker's end undecidable.
DISMISSED_GRACE_S = 10.0

_dismissed: weakref.WeakSet[subprocess.Popen[bytes]] = weakref.WeakSet()


def dismiss(worker: Worker) -> None:
    """Tell a worker started ahead that it has no job: its standard input closes, it ends."""
    process, _ = worker
    _dismissed.add(process)
    cast(IO[bytes], process.stdin).close()


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process in _dismissed and process.poll() is None:
        with suppress(subprocess.TimeoutExpired):
            process.wait(timeout=DISMISSED_GRACE_S)
    if process.poll() is None:
        process.kill()  # walking still: the command failed or was interrupted
