"""`make reliability` sets GOVERNANCE_RELIABILITY=full for the test process and the servers it
starts; the settings loader must treat it as the harness's, not as an unknown setting."""

from __future__ import annotations

from pathlib import Path

from governance.kernel.config import load_settings


def test_the_reliability_switch_is_not_a_setting(tmp_path: Path) -> None:
    settings = load_settings(tmp_path, None, environ={"GOVERNANCE_RELIABILITY": "full"})
    assert "RELIABILITY" not in settings
