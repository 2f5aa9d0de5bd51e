"""Shared fixtures for the reporting toolkit tests.

Owns: making the repository importable when pytest runs from anywhere, the
narrow warning filter for WeasyPrint's import-time notice, a Jinja
environment over templates/, and an I/O recorder built on audit hooks that
proves a render opened no file and touched no socket.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from jinja2 import ChoiceLoader, DictLoader, Environment, FileSystemLoader

REPO = Path(__file__).resolve().parents[3]
if str(REPO) not in sys.path:  # tests import governance.kernel.reports from the tree
    sys.path.insert(0, str(REPO))

from governance.kernel.reports import pdf  # noqa: E402

HERE = Path(__file__).resolve().parent

# WeasyPrint 70 warns once, at import, when the system lacks libharfbuzz-subset
# (it then subsets fonts with fontTools).  That is a packaging notice about the
# machine, not about our code, so exactly that message is ignored; pytest's
# "-W error" still turns every other warning into a failure.  A mark (not an
# ini/conftest filterwarnings call) is used because marks are applied after
# the command line's -W, so they are the only filter "-W error" cannot undo.
_HARFBUZZ = "ignore:HarfBuzz-Subset will be required:DeprecationWarning"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.filterwarnings(_HARFBUZZ))


@pytest.fixture
def make_env() -> Callable[[dict[str, str]], Environment]:
    """Build a report environment: the given test templates, then templates/."""

    def build(templates: dict[str, str]) -> Environment:
        loader = ChoiceLoader([DictLoader(templates), FileSystemLoader(REPO / "templates")])
        return pdf.report_environment(loader)

    return build


class IORecorder:
    """Collects file opens and network attempts while ``active``.

    Audit hooks cannot be removed, so one hook is installed per process and
    only records while a test has it switched on.
    """

    def __init__(self) -> None:
        self.active = False
        self.opened: list[str] = []
        self.network: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def __call__(self, event: str, args: tuple[Any, ...]) -> None:
        if not self.active:
            return
        if event == "open" and args and isinstance(args[0], (str, bytes, Path)):
            with self._lock:
                self.opened.append(str(args[0]))
        elif event.startswith(("socket.", "urllib.", "ftplib.", "http.client.")):
            with self._lock:
                self.network.append((event, repr(args)[:200]))


_RECORDER = IORecorder()
sys.addaudithook(_RECORDER)


@pytest.fixture
def io_recorder() -> Iterator[IORecorder]:
    _RECORDER.opened.clear()
    _RECORDER.network.clear()
    yield _RECORDER
    _RECORDER.active = False
