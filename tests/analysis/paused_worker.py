"""`python -m tests.analysis.paused_worker SECONDS worker ...`: the `governance` command with
a progress hook that holds each run for SECONDS at its first progress report, so a test can
kill the worker while a run is in flight. The hook is installed before the consumer forks its
worker processes, which inherit it; production code installs no hook."""

from __future__ import annotations

import sys
import time

from governance.analysis import runner as analysis_runner
from governance.cli import main


def install_pause(seconds: float) -> None:
    paused: set[int] = set()

    def pause(run_id: int, fraction: float, message: str) -> None:
        if run_id not in paused:
            paused.add(run_id)
            time.sleep(seconds)

    analysis_runner.progress_hooks.append(pause)


if __name__ == "__main__":
    install_pause(float(sys.argv[1]))
    sys.argv = [sys.argv[0], *sys.argv[2:]]
    main()
