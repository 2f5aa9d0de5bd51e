"""The trail's commands (`audit verify`, `audit export`) open the database with the trail's own
wiring, not the app: in a process of their own (as an operator or cron runs them) they import
no page, no API and not the whole registry, and still record their own event in the chain with
the same record listeners as every other process (governance/registry_trail.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance import registry_trail
from governance.audit.models import AuditEvent, AuditType
from tests.audit.conftest import HARFBUZZ
from tests.conftest import fresh

ROOT = Path(__file__).resolve().parents[2]  # the repository, wherever pytest was started
# Run as the console script runs `main`; then what the process imported and installed.
PROBE = """
import json, sys
from governance.audit import service
from governance.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exit:
    code = exit.code
shell = sorted(
    name for name in sys.modules
    if name in ("governance.registry", "governance.web", "governance.api", "flask_wtf",
                "flask_login")
    or (name.startswith("governance.") and name.rsplit(".", 1)[1] in ("web", "api"))
    or (name.startswith("governance.") and name.rsplit(".", 1)[1].startswith(("web_", "api_")))
)
listeners = [f"{f.__module__}.{f.__qualname__}" for f in service._LISTENERS]
queue = "huey" in sys.modules
arrow = "pyarrow" in sys.modules
print(json.dumps({"code": code, "shell": shell, "listeners": listeners, "queue": queue,
                  "arrow": arrow}))
"""


def _run(*args: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env=dict(os.environ),  # the test's database and instance folder (tests/audit/conftest)
    )
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _listeners() -> list[str]:
    return [f"{f.__module__}.{f.__qualname__}" for f in registry_trail.AUDIT_LISTENERS]


@pytest.mark.filterwarnings(HARFBUZZ)
@pytest.mark.parametrize(
    ("args", "event_type"),
    [
        (("audit", "verify", "--workers", "0"), AuditType.AUDIT_VERIFY),
        (("audit", "export", "--format", "csv"), AuditType.AUDIT_EXPORT),
        (("audit", "export", "--format", "pdf"), AuditType.AUDIT_REPORT),
    ],
)
def test_a_trail_command_builds_no_app_and_records_its_event(
    chain: int, db: Session, tmp_path: Path, args: tuple[str, ...], event_type: AuditType
) -> None:
    if args[1] == "export":
        args = (*args, "--out", str(tmp_path / "out"))
    ran = _run(*args)
    assert ran["code"] in (0, None), ran
    assert ran["shell"] == [], ran
    assert ran["listeners"] == _listeners()
    assert ran["queue"] is False  # no webhook due, so no job queue made (kernel/jobs.py)
    # Verifying draws no report: the report (and its export's pyarrow) is not imported to
    # install the report's dataset namer (audit/report_names.py).
    assert ran["arrow"] is (args[1] == "export"), ran
    last = fresh(db).scalars(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1)).one()
    assert (last.seq, last.event_type, last.actor_email) == (chain + 1, event_type, "system:cli")
    # The chain, with the command's own event, still verifies.
    assert _run("audit", "verify", "--workers", "0")["code"] == 0


def test_an_export_by_agreement_builds_the_app_to_find_it(
    chain: int, db: Session, tmp_path: Path
) -> None:
    """The agreement is named by its reference, which the agreements' wiring resolves: that
    export builds the app as before (and says the agreement is unknown)."""
    ran = _run(
        "audit",
        "export",
        "--format",
        "csv",
        "--agreement",
        "DUA-1999-999",
        "--out",
        str(tmp_path / "out"),
    )
    assert ran["code"] == 1
    assert "governance.registry" in ran["shell"]  # type: ignore[operator]
