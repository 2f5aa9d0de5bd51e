"""Only governance/datasets/datastore/ may open, write, decrypt or delete stored data files.

A static scan of every module under governance/: outside the datastore package, no module may
import pyarrow.parquet, pyarrow.dataset or the AEAD ciphers, call pandas' read_parquet or
to_parquet, or name the DATA_DIR or DATA_KEY_FILE settings (the way to find stored files).
config.py declares those settings, so it is the one other module allowed to name them;
kernel/sealing.py seals second-factor keys (bytes in, bytes out) and is the one other module
allowed an AEAD cipher: the test checks it opens no file and names no setting. The
lead's runtime test of the access decision door complements this.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "governance"
DATASTORE = ROOT / "datasets" / "datastore"
FORBIDDEN_MODULES = ("pyarrow.parquet", "pyarrow.dataset", "cryptography.hazmat.primitives.ciphers")
FORBIDDEN_NAMES = {"AESGCM", "ChaCha20Poly1305", "AESCCM", "AESOCB3", "AESSIV"}
FORBIDDEN_CALLS = {"read_parquet", "to_parquet", "ParquetFile", "ParquetWriter"}
SETTING_NAMES = {"DATA_DIR", "DATA_KEY_FILE"}


def violations(path: Path, root: Path = ROOT) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            modules = [node.module or ""] + [f"{node.module}.{a.name}" for a in node.names]
            found += [f"imports {a.name}" for a in node.names if a.name in FORBIDDEN_NAMES]
        else:
            modules = []
        found += [f"imports {m}" for m in modules if m.startswith(FORBIDDEN_MODULES)]
        if isinstance(node, ast.Attribute) and node.attr in FORBIDDEN_CALLS | FORBIDDEN_NAMES:
            found.append(f"uses .{node.attr}")
        if isinstance(node, ast.Name) and node.id in FORBIDDEN_CALLS | FORBIDDEN_NAMES:
            found.append(f"uses {node.id}")
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and node.value in SETTING_NAMES
            and path.name != "config.py"
        ):
            found.append(f"names the {node.value} setting")
    return [f"{path.relative_to(root.parent)}: {v}" for v in found]


# Named exceptions, each with why it cannot reach stored data.
SEALS_SMALL_SECRETS = ROOT / "kernel" / "sealing.py"  # bytes in, bytes out; opens no file


def test_no_module_outside_the_datastore_touches_stored_data() -> None:
    modules = [
        p for p in ROOT.rglob("*.py") if DATASTORE not in p.parents and p != SEALS_SMALL_SECRETS
    ]
    assert len(modules) > 20
    problems = [v for path in modules for v in violations(path)]
    assert problems == []


def test_the_scan_would_catch_each_forbidden_pattern(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import pyarrow.parquet as pq\n"
        "from cryptography.hazmat.primitives.ciphers.aead import AESGCM\n"
        "import pandas as pd\n"
        "frame = pd.read_parquet('x')\n"
        "path = settings['DATA_DIR']\n"
    )
    found = violations(sample, tmp_path)
    assert any("pyarrow.parquet" in v for v in found)
    assert any("AESGCM" in v for v in found)
    assert any("read_parquet" in v for v in found)
    assert any("DATA_DIR" in v for v in found)


@pytest.mark.parametrize("module", ["crypto.py", "parquet.py", "store.py", "files.py"])
def test_the_datastore_itself_is_where_these_live(module: str) -> None:
    assert (DATASTORE / module).is_file()


def test_the_sealing_module_opens_no_file_and_names_no_setting() -> None:
    source = SEALS_SMALL_SECRETS.read_text(encoding="utf-8")
    tree = ast.parse(source)
    calls = {
        n.func.id if isinstance(n.func, ast.Name) else getattr(n.func, "attr", "")
        for n in ast.walk(tree)
        if isinstance(n, ast.Call)
    }
    assert not calls & {"open", "read_bytes", "write_bytes", "read_text", "write_text"}
    assert not [v for v in violations(SEALS_SMALL_SECRETS) if "setting" in v or "parquet" in v]
