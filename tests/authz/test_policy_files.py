"""policies/ and the Permission enum agree; missing or corrupt policy files stop start-up."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from governance import create_app
from governance.authz import Permission, PolicyError, Role
from governance.authz.enforcer import DEFAULT_POLICY_DIR, load_policy


def policy_lines() -> list[list[str]]:
    lines = (DEFAULT_POLICY_DIR / "roles.csv").read_text().splitlines()
    return [
        [part.strip() for part in line.split(",")]
        for line in lines
        if line.strip() and not line.startswith("#")
    ]


def test_every_permission_in_the_policy_file_is_declared_and_used() -> None:
    named = {line[2] for line in policy_lines()}
    assert named == {p.value for p in Permission}


def test_every_role_in_the_policy_file_exists() -> None:
    assert {line[1] for line in policy_lines()} == {r.value for r in Role}


def test_casbin_decides_role_permissions_from_the_file() -> None:
    policy = load_policy()
    assert Permission.AGREEMENT_REVIEW in policy.permissions_of(frozenset({Role.PRIVACY_OFFICER}))
    assert Permission.AGREEMENT_REVIEW not in policy.permissions_of(frozenset({Role.ANALYST}))
    assert policy.permissions_of(frozenset()) == frozenset()


@pytest.mark.parametrize(
    "damage",
    ["missing model", "missing roles", "unknown permission", "empty roles", "garbled model"],
)
def test_damaged_policy_files_stop_start_up(
    tmp_path: Path, instance_path: Path, damage: str
) -> None:
    policies = tmp_path / "policies"
    shutil.copytree(DEFAULT_POLICY_DIR, policies)
    if damage == "missing model":
        (policies / "model.conf").unlink()
    elif damage == "missing roles":
        (policies / "roles.csv").unlink()
    elif damage == "unknown permission":
        with (policies / "roles.csv").open("a") as handle:
            handle.write("p2, analyst, everything:everything\n")
    elif damage == "empty roles":
        (policies / "roles.csv").write_text("# nothing\n")
    else:
        (policies / "model.conf").write_text("[matchers]\nm = (((\n")
    with pytest.raises(PolicyError):
        create_app({"POLICY_DIR": str(policies)})
