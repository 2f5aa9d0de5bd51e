"""Every refusal of a `governance` command says why, in one line, with a non-zero exit and no
traceback; options that take an agreement take its reference (DUA-2026-001) too."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy.orm import Session

from governance.cli import main
from tests.support import People

pytestmark = pytest.mark.filterwarnings(
    "ignore:HarfBuzz-Subset will be required:DeprecationWarning"
)


@pytest.fixture
def app_config(database_url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    # Commands build their own app from the environment: the test's database.
    monkeypatch.setenv("GOVERNANCE_DATABASE_URL", database_url)
    return {"TESTING": True, "DATABASE_URL": database_url}


def refusals(tmp: Path) -> list[tuple[list[str], str]]:
    """(arguments, a fragment of the reason the refusal must give)."""
    blocked = tmp / "a-file"
    blocked.write_text("not a folder")
    schema = tmp / "schema.json"
    schema.write_text("{}")
    data = tmp / "rows.csv"
    data.write_text("a\n1\n")
    return [
        (["audit", "export", "--format", "csv", "--out", str(blocked / "x.csv")], "Cannot write"),
        (["audit", "export", "--format", "pdf", "--out", str(blocked / "x.pdf")], "Cannot write"),
        (["audit", "evidence", "--agreement", "DUA-2099-999", "--out", str(tmp)], "DUA-2099-999"),
        (["audit", "evidence", "--agreement", "DUA-2026-001", "--out", str(blocked)], ""),
        (
            ["audit", "export", "--format", "csv", "--agreement", "DUA-2099-999", "--out", "-"],
            "DUA-2099-999",
        ),
        (["audit", "export", "--format", "csv", "--since", "yesterday", "--out", "x"], "since"),
        (["audit", "verify", "--expect-head", "banana"], "SEQ:SHA256"),
        (["token", "revoke", "999999"], "999999"),
        (["token", "list", "--user", "nobody@nowhere.example"], "nobody@nowhere.example"),
        (["token", "create", "--user", "nobody@nowhere.example"], "nobody@nowhere.example"),
        (["expire", "--now", "not-a-date"], "not-a-date"),
        (["dataset", "ingest", "No such dataset", str(data)], "No such dataset"),
        (
            [
                "dataset",
                "create",
                "--provider",
                "Nowhere Agency",
                "--name",
                "x",
                "--schema",
                str(schema),
            ],
            "Nowhere Agency",
        ),
        (
            [
                "create-user",
                "--email",
                "new@lab.example",
                "--name",
                "New",
                "--org",
                "Nowhere Lab",
                "--role",
                "analyst",
                "--password-stdin",
            ],
            "Nowhere Lab",
        ),
        (["keys", "discard", "--purpose", "data", "--key-id", "0000000000000000"], "0000"),
    ]


def test_every_refusal_says_why(
    commands: CliRunner, people: People, db: Session, tmp_path: Path
) -> None:
    failures = []
    for arguments, reason in refusals(tmp_path):
        result = commands.invoke(main, arguments, input="a long enough password 1\n")
        said = result.output + (result.stderr if result.stderr_bytes is not None else "")
        problems = []
        if result.exit_code == 0:
            problems.append("exit 0")
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            problems.append(f"raised {type(result.exception).__name__}: {result.exception}")
        if "Traceback" in said:
            problems.append("a traceback")
        if "Error" not in said or len(said.strip()) < 20:
            problems.append(f"no reason given ({said.strip()!r})")
        if reason and reason not in said:
            problems.append(f"does not name {reason!r} ({said.strip()[:200]!r})")
        if problems:
            failures.append(f"governance {' '.join(arguments)}: {', '.join(problems)}")
    assert failures == [], "\n".join(failures)
