"""The suite freezes what lives for the whole session (tests/frozen_heap.py) and nothing a test
or a module's fixtures leave behind: their garbage is still collected, and its finalizers run,
as before. Checked in a pytest of its own, two modules, with the suite's plugin."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CONFTEST = '''
import weakref

import pytest

# Weak references to what each fixture made: alive only while something holds the object.
MADE = {}


class Cyclic:
    """Freed only by the garbage collector (it refers to itself)."""

    def __init__(self):
        self.itself = self


@pytest.fixture(scope="module")
def module_thing():
    thing = Cyclic()
    MADE["module"] = weakref.ref(thing)
    yield thing


@pytest.fixture
def test_thing():
    thing = Cyclic()
    MADE["test"] = weakref.ref(thing)
    yield thing
'''

FIRST = """
def test_uses_both(module_thing, test_thing):
    assert module_thing is not test_thing
"""

SECOND = """
import gc

from conftest import MADE


def test_the_first_modules_objects_were_not_frozen():
    assert gc.get_freeze_count() > 0, "nothing was frozen"
    gc.collect()
    assert MADE["module"]() is None, "the first module's fixture outlived its module"
    assert MADE["test"]() is None, "the first test's fixture outlived its test"
"""


def test_frozen_heap_keeps_no_test_or_module_fixture(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_a_first.py").write_text(FIRST)
    (tmp_path / "test_b_second.py").write_text(SECOND)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:xdist",
            "-p",
            "tests.frozen_heap",
            str(tmp_path),
        ],
        cwd=tmp_path,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout
