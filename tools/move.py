"""The move to one package per noun (issue 15), as a re-runnable script.

    python tools/move.py            # move what is still in an old place, rewrite every name
    python tools/move.py --check    # say what would change, change nothing (exit 1 if any)

One table, `MOVES` below, says where each module of the old layout went. The script:

1. renames each old file that still exists to its new path with `git mv` (pure renames: a
   branch that edited the old file merges by git's rename detection);
2. adds an `__init__.py` to each new package that lacks one;
3. rewrites, in every text file of the repository, each name of an old module: imports
   (`from governance.services import audit` becomes `from governance.audit import service
   as audit`), dotted strings (patch targets, `python -m` commands, logger names, Alembic,
   pyproject) and file paths in comments and documents (`services/audit.py`);
4. sorts the imports it touched (`ruff check --select I --fix`).

It is idempotent: a second run changes nothing. A branch that still adds files in old places
(or imports old names) runs it again after merging: new files under an old folder whose name
is not in the table are reported, so that a line can be added for them.
"""

from __future__ import annotations

import argparse
import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# fmt: off
# Old path (relative to governance/) -> new path. Files not listed stay where they are.
MOVES: dict[str, str] = {
    # The kernel: what every noun may use and which knows no noun.
    "append_only.py": "kernel/append_only.py",
    "config.py": "kernel/config.py",
    "db.py": "kernel/db.py",
    "errors.py": "kernel/errors.py",
    "extensions.py": "kernel/extensions.py",
    "jobs.py": "kernel/jobs.py",
    "keys.py": "kernel/keys.py",
    "models/types.py": "kernel/types.py",
    "services/text.py": "kernel/text.py",
    "services/notify.py": "kernel/notify.py",
    "reports/__init__.py": "kernel/reports/__init__.py",
    "reports/_svg.py": "kernel/reports/_svg.py",
    "reports/charts.py": "kernel/reports/charts.py",
    "reports/pdf.py": "kernel/reports/pdf.py",
    "reports/statcharts.py": "kernel/reports/statcharts.py",
    "reports/tabular.py": "kernel/reports/tabular.py",
    "models/__init__.py": "all_models.py",
    # The composition root (beside create_app): what wires the nouns together.
    "workflows.py": "registry.py",
    "api/openapi.py": "openapi.py",
    "web/access.py": "identity/web_login.py",
    "cli/agreements.py": "cli/expire.py",
    # identity: people, organisations, roles, training, sign-in, sessions, tokens.
    "models/user.py": "identity/models.py",
    "models/organization.py": "identity/organization_model.py",
    "models/session.py": "identity/session_model.py",
    "models/token.py": "identity/token_model.py",
    "models/account_link.py": "identity/account_link_model.py",
    "models/role_change.py": "identity/role_change_model.py",
    "services/actors.py": "identity/actors.py",
    "services/auth.py": "identity/signin.py",
    "services/passwords.py": "identity/passwords.py",
    "services/credentials.py": "identity/credentials.py",
    "services/account_links.py": "identity/account_links.py",
    "services/sessions.py": "identity/sessions.py",
    "services/tokens.py": "identity/tokens.py",
    "services/users.py": "identity/users.py",
    "services/role_changes.py": "identity/role_changes.py",
    "web/auth.py": "identity/web_signin.py",
    "web/account.py": "identity/web_account.py",
    "web/admin.py": "identity/web_admin.py",
    "web/tokens.py": "identity/web_tokens.py",
    "web/throttle.py": "identity/web_throttle.py",
    "api/auth.py": "identity/api_auth.py",
    "api/me.py": "identity/api.py",
    "cli/tokens.py": "identity/cli.py",
    # datasets: declaration, ingestion, the encrypted datastore and the keys of its files.
    "models/dataset.py": "datasets/models.py",
    "services/datasets.py": "datasets/service.py",
    "services/ingestion.py": "datasets/ingestion.py",
    "services/key_management.py": "datasets/key_management.py",
    "web/datasets.py": "datasets/web.py",
    "api/datasets.py": "datasets/api.py",
    "cli/datasets.py": "datasets/cli.py",
    "datastore/__init__.py": "datasets/datastore/__init__.py",
    "datastore/cohorts.py": "datasets/datastore/cohorts.py",
    "datastore/crypto.py": "datasets/datastore/crypto.py",
    "datastore/envelope.py": "datasets/datastore/envelope.py",
    "datastore/files.py": "datasets/datastore/files.py",
    "datastore/parquet.py": "datasets/datastore/parquet.py",
    "datastore/rewrap.py": "datasets/datastore/rewrap.py",
    "datastore/store.py": "datasets/datastore/store.py",
    "ingest/__init__.py": "datasets/ingest/__init__.py",
    "ingest/convert.py": "datasets/ingest/convert.py",
    "ingest/csv_source.py": "datasets/ingest/csv_source.py",
    "ingest/problems.py": "datasets/ingest/problems.py",
    "ingest/schema_check.py": "datasets/ingest/schema_check.py",
    "ingest/typed_source.py": "datasets/ingest/typed_source.py",
    # agreements: terms, lifecycle, laws, documents, and destruction when one closes.
    "models/agreement.py": "agreements/models.py",
    "models/agreement_obligations.py": "agreements/obligations_model.py",
    "services/agreement_obligations.py": "agreements/obligations.py",
    "web/agreement_obligations.py": "agreements/web_obligations.py",
    "services/grant_obligations.py": "access/obligation_conditions.py",
    # incidents: reported, frozen, notified by the laws' deadlines, closed.
    "models/incident.py": "incidents/models.py",
    "services/incidents.py": "incidents/service.py",
    "services/incident_evidence.py": "incidents/evidence.py",
    "web/incidents.py": "incidents/web.py",
    "models/agreement_clauses.py": "agreements/clauses.py",
    "models/agreement_parts.py": "agreements/parts_model.py",
    "models/law.py": "agreements/law_model.py",
    "models/analysis_kind.py": "agreements/analysis_kind_model.py",
    "models/destruction.py": "agreements/destruction_model.py",
    "services/agreements.py": "agreements/service.py",
    "services/agreement_common.py": "agreements/common.py",
    "services/agreement_document.py": "agreements/document.py",
    "services/agreement_endings.py": "agreements/endings.py",
    "services/agreement_events.py": "agreements/events.py",
    "services/agreement_lifecycle.py": "agreements/lifecycle.py",
    "services/agreement_queries.py": "agreements/queries.py",
    "services/agreement_schedule.py": "agreements/schedule.py",
    "services/agreement_terms.py": "agreements/terms.py",
    "services/laws.py": "agreements/laws.py",
    "services/destruction.py": "agreements/destruction.py",
    "services/destruction_hooks.py": "agreements/destruction_hooks.py",
    "web/agreements.py": "agreements/web.py",
    "web/agreement_forms.py": "agreements/web_forms.py",
    "web/agreement_view.py": "agreements/web_view.py",
    "api/agreements.py": "agreements/api.py",
    "api/agreement_shapes.py": "agreements/api_shapes.py",
    # access: requests, grants, eligibility, review, conditions, the door to rows
    # (reclassification went down to datasets later: it needs nothing above datasets).
    "models/access.py": "access/models.py",
    "services/access_eligibility.py": "access/eligibility.py",
    "services/access_queries.py": "access/queries.py",
    "services/access_requests.py": "access/requests.py",
    "services/access_review.py": "access/review.py",
    "services/access_review_export.py": "access/review_export.py",
    "services/access_workflow.py": "access/workflow.py",
    "services/grants.py": "access/grants.py",
    "services/grant_conditions.py": "access/conditions.py",
    "services/grant_hooks.py": "access/grant_hooks.py",
    "services/data_access.py": "access/data_door.py",
    "services/row_filters.py": "access/row_filters.py",
    "services/reclassification.py": "datasets/reclassification.py",
    "web/access_pages.py": "access/web.py",
    "web/access_forms.py": "access/web_forms.py",
    "web/data_pages.py": "access/web_data.py",
    "api/access_requests.py": "access/api_requests.py",
    "api/grants.py": "access/api_grants.py",
    # audit: the trail, its format, verification, search, exports, reports, evidence.
    "models/audit.py": "audit/models.py",
    "services/audit.py": "audit/service.py",
    "services/audit_evidence.py": "audit/evidence.py",
    "services/audit_export.py": "audit/export.py",
    "services/audit_format.py": "audit/format.py",
    "services/audit_pdf.py": "audit/pdf.py",
    "services/audit_query.py": "audit/queries.py",
    "services/audit_report.py": "audit/report.py",
    "services/audit_search.py": "audit/search.py",
    "services/audit_verify.py": "audit/verify.py",
    "services/audit_walk.py": "audit/walk.py",
    "services/audit_worker.py": "audit/verify_worker.py",
    "services/evidence_sections.py": "evidence_sections.py",
    "web/audit.py": "audit/web.py",
    "api/audit.py": "audit/api.py",
    "cli/audit.py": "audit/cli.py",
    # analysis: runs, the scope gate, the differencing ledger, cohorts, the report; the
    # statistical engine is the pure library analysis/engine/.
    "models/analysis.py": "analysis/models.py",
    "services/analyses.py": "analysis/runs.py",
    "services/analysis_ledger.py": "analysis/differencing.py",
    "services/analysis_provenance.py": "analysis/provenance.py",
    "services/analysis_reaper.py": "analysis/reaper.py",
    "services/analysis_runner.py": "analysis/runner.py",
    "services/analysis_scope.py": "analysis/scope.py",
    "services/cohorts.py": "analysis/cohorts.py",
    "reports/analysis_report.py": "analysis/report.py",
    "web/analyses.py": "analysis/web.py",
    "web/analysis_forms.py": "analysis/web_forms.py",
    "api/analyses.py": "analysis/api.py",
    "cli/analyses.py": "analysis/cli.py",
    **{f"analysis/{name}.py": f"analysis/engine/{name}.py" for name in (
        "__init__", "att", "balance", "disclosure", "encoding", "errors", "kinds",
        "kinds_base", "kinds_matched", "kinds_simple", "ledger", "linkage",
        "matched_summary", "matched_tables", "matching", "matching_variance", "normalise",
        "output_control", "propensity", "protection", "protection_lp", "protection_system",
        "reoffending", "results", "secondary", "stats", "synthetic", "synthetic_cohort",
        "synthetic_names", "tabulation")},
    # outputs: what leaves the project, its checks, preview, release and publication.
    "models/output.py": "outputs/models.py",
    "services/outputs.py": "outputs/service.py",
    "services/output_common.py": "outputs/common.py",
    "services/output_content.py": "outputs/content.py",
    "services/output_lifecycle.py": "outputs/lifecycle.py",
    "services/output_notices.py": "outputs/notices.py",
    "services/output_preview.py": "outputs/preview.py",
    "services/output_public.py": "outputs/public.py",
    "services/output_queries.py": "outputs/queries.py",
    "services/output_tasks.py": "outputs/tasks.py",
    "web/outputs.py": "outputs/web.py",
    "web/output_forms.py": "outputs/web_forms.py",
    "web/public.py": "outputs/web_public.py",
    "api/outputs.py": "outputs/api.py",
    # dashboard: each role's tasks and pictures, gathered from the nouns.
    "services/tasks.py": "kernel/tasks.py",
    "services/dashboard_charts.py": "dashboard/charts.py",
    "web/dashboard.py": "dashboard/web.py",
    # Second thoughts after the first "Move:" commit (for branches that merged it).
    "kernel/schema.py": "schema.py",
    "kernel/periodic.py": "periodic.py",
    "worker.py": "analysis/worker.py",
    "dashboard/tasks.py": "kernel/tasks.py",
    "audit/evidence_sections.py": "evidence_sections.py",
    "web/login.py": "identity/web_login.py",
}
# Old packages that are empty once their modules moved (their __init__ goes too).
EMPTIED = ["services/__init__.py"]
# fmt: on
# Old folders that stay, as the shells of the web pages, the API and the command line.
SHELLS = {"governance/web", "governance/api", "governance/cli"}
NEW_PACKAGE_DOCS = {
    "kernel": "The shared kernel: database, settings, errors, keys, job queue, scheduler, mail,\n"
    "text cleaning and the PDF and chart toolkit. It imports no noun of the domain.",
    "identity": "People, organisations, roles and training; signing in, sessions, passwords, "
    "API tokens\nand role changes.",
    "datasets": "Datasets: declaration and schema, reclassification, ingestion of uploads, the "
    "encrypted\ndatastore and the keys of its files.",
    "agreements": "Data use agreements: terms, lifecycle, laws, documents, and the "
    "destruction of data\nwhen an agreement closes.",
    "access": "Access to dataset rows: requests, grants, eligibility, conditions, periodic "
    "review, and the\none door every read goes through.",
    "audit": "The tamper-evident audit trail: writing, format, verification, search, exports,"
    "\nreports and evidence packs.",
    "analysis": "Analysis runs: submission inside an approved scope, the scope gate, the worker's"
    "\nrunner, the differencing ledger, partner cohorts and the report. The "
    "statistical engine\nis the pure library `analysis/engine/` (no database, no "
    "Flask).",
    "outputs": "Outputs of analyses: content checks, the provider's preview, output checking, "
    "release,\npublication and public files.",
    "dashboard": "Each role's dashboard: the tasks waiting for it and the pictures, gathered "
    "from the nouns.",
}
# Test folders that merged into another (every file moves; `tests.analyses` is renamed too).
TEST_FOLDERS = {"tests/analyses": "tests/analysis"}
# Whole folders that moved, as documents name them (`governance/datastore/`).
FOLDERS = {
    "governance/datastore": "governance/datasets/datastore",
    "governance/ingest": "governance/datasets/ingest",
    "governance/reports": "governance/kernel/reports",
}
FOLDER = re.compile(r"(?<![\w/.-])(" + "|".join(map(re.escape, FOLDERS)) + r")(?![\w.])")
# Text that depends on a file's depth, fixed once after the move: (file, old, new).
FIXUPS = [
    (
        "governance/kernel/config.py",
        "PROJECT_ROOT = Path(__file__).resolve().parent.parent\n",
        "PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent\n",
    ),
    (
        "tests/datasets/test_datastore_boundary.py",
        'DATASTORE = ROOT / "datastore"',
        'DATASTORE = ROOT / "datasets" / "datastore"',
    ),
]
TEXT_SUFFIXES = {
    ".py",
    ".md",
    ".toml",
    ".ini",
    ".cfg",
    ".txt",
    ".mako",
    ".html",
    ".conf",
    ".csv",
    ".yml",
    ".yaml",
    ".sh",
    ".json",
    ".j2",
    "",
}
SKIP_DIRS = {
    ".git",
    ".venv",
    "node_modules",
    "__pycache__",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    "instance",
    "vectors",
}
SKIP_FILES = {"tools/move.py"}


def module_of(path: str) -> str:
    """`services/audit.py` -> `governance.services.audit`; `x/__init__.py` -> `governance.x`."""
    parts = ["governance", *Path(path).with_suffix("").parts]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


OLD_TO_NEW = {module_of(old): module_of(new) for old, new in MOVES.items()}
OLD_TO_NEW.update({module_of(old): None for old in EMPTIED})  # type: ignore[dict-item]
PATHS = {f"governance/{old}": f"governance/{new}" for old, new in MOVES.items()}


def current_modules() -> set[str]:
    gov = ROOT / "governance"
    return {
        module_of(str(p.relative_to(gov)))
        for p in gov.rglob("*.py")
        if "__pycache__" not in p.parts
    }


def new_modules() -> set[str]:
    """Every module of the new layout: today's files with the moves applied."""
    found = {m for m in (OLD_TO_NEW.get(m, m) for m in current_modules()) if m}
    found |= {m for m in OLD_TO_NEW.values() if m}
    for name in list(found):  # packages of nested modules
        parts = name.split(".")
        found |= {".".join(parts[:i]) for i in range(1, len(parts))}
    return found


def check_table() -> None:
    olds, news = set(PATHS), set(PATHS.values())
    clash = {p for p in olds & news if PATHS[p] != p}
    if clash:
        sys.exit(f"the table maps a file onto another's old path: {sorted(clash)}")


# --- 1 and 2: renames ---------------------------------------------------------------------


def git(*args: str) -> str:
    command = ["git", *args]
    return subprocess.run(  # noqa: S603 (git, with our own arguments)
        command,
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def rename_files(dry: bool) -> list[str]:
    done = []
    for old, new in PATHS.items():
        source, target = ROOT / old, ROOT / new
        if not source.exists():
            continue
        if (
            target.exists()
            and source.name == "__init__.py"
            and str(source.parent.relative_to(ROOT)) in NEW_FOLDERS
        ):
            continue  # the old package's name now belongs to a new package
        if target.exists():
            sys.exit(f"both {old} and {new} exist: merge them by hand, then re-run")
        done.append(f"git mv {old} {new}")
        if not dry:
            target.parent.mkdir(parents=True, exist_ok=True)
            git("mv", old, new)
    for old_folder, new_folder in TEST_FOLDERS.items():
        for source in sorted((ROOT / old_folder).glob("*.py")):
            target = ROOT / new_folder / source.name
            if target.exists():
                sys.exit(f"both {source} and {target} exist: merge them by hand, then re-run")
            done.append(f"git mv {source.relative_to(ROOT)} {target.relative_to(ROOT)}")
            if not dry:
                git("mv", str(source.relative_to(ROOT)), str(target.relative_to(ROOT)))
    for empty in EMPTIED:
        path = ROOT / "governance" / empty
        if path.exists() and not path.read_text().strip():
            done.append(f"git rm {path.relative_to(ROOT)}")
            if not dry:
                git("rm", "-q", str(path.relative_to(ROOT)))
    for new in sorted({str(Path(n).parent) for n in PATHS.values()}):
        init = ROOT / new / "__init__.py"
        if new != "governance" and not init.exists():
            done.append(f"create {init.relative_to(ROOT)}")
            if not dry:
                doc = NEW_PACKAGE_DOCS.get(Path(new).name, "")
                init.write_text(f'"""{doc}"""\n' if doc else "")
                git("add", str(init.relative_to(ROOT)))
    for old_dir in sorted({str(Path(o).parent) for o in PATHS}):
        folder = ROOT / old_dir
        if folder.is_dir() and folder != ROOT / "governance":
            for stray in sorted(folder.glob("*.py")):
                rel = str(stray.relative_to(ROOT))
                if (
                    rel not in PATHS
                    and rel not in PATHS.values()
                    and old_dir not in SHELLS
                    and stray.name != "__init__.py"
                ):
                    print(f"note: {rel} is in an old place and not in the table", file=sys.stderr)
    return done


# --- 3: names -------------------------------------------------------------------------------

DOTTED = re.compile(r"(?<![\w.])governance(?:\.[A-Za-z_]\w*)+")
PATHLIKE = re.compile(r"(?<![\w/.-])((?:[A-Za-z_][\w]*/)*[A-Za-z_]\w*\.py)(?![\w])")


def map_dotted(token: str, news: set[str]) -> str:
    """Rewrite the longest old-module prefix of `token`, unless the token names something of
    the new layout at least as long (so a second run leaves new names alone)."""
    parts = token.split(".")
    old_len = next((i for i in range(len(parts), 0, -1) if ".".join(parts[:i]) in OLD_TO_NEW), 0)
    new_len = next((i for i in range(len(parts), 0, -1) if ".".join(parts[:i]) in news), 0)
    if old_len == 0 or new_len > old_len:
        return token
    target = OLD_TO_NEW[".".join(parts[:old_len])]
    if target is None:
        return token
    return ".".join([target, *parts[old_len:]])


def rewrite_from_imports(text: str, news: set[str]) -> str:
    """`from P import m1, m2 as x, name` where P.m1 moved: one import per moved module."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return text
    lines = text.splitlines(keepends=True)
    edits = []
    for node in ast.walk(tree):
        if not (
            isinstance(node, ast.ImportFrom)
            and node.level == 0
            and node.module
            and node.module.split(".")[0] == "governance"
        ):
            continue
        moved = [
            a
            for a in node.names
            if map_dotted(f"{node.module}.{a.name}", news) != f"{node.module}.{a.name}"
            and f"{node.module}.{a.name}" in OLD_TO_NEW
        ]
        if not moved:
            continue
        indent = re.match(r"\s*", lines[node.lineno - 1]).group(0)  # type: ignore[union-attr]
        first = lines[node.lineno - 1]
        comment = first[first.index("#") :].rstrip("\n") if "#" in first else ""
        statements = []
        kept = [a for a in node.names if a not in moved]
        if kept:
            names = ", ".join(a.name + (f" as {a.asname}" if a.asname else "") for a in kept)
            statements.append(f"from {node.module} import {names}")
        for alias in moved:
            target = map_dotted(f"{node.module}.{alias.name}", news)
            parent, _, base = target.rpartition(".")
            local = alias.asname or alias.name
            statements.append(
                f"from {parent} import {base}" + (f" as {local}" if local != base else "")
            )
        # A `noqa` (an import kept for its effect) holds for each import it becomes.
        new_text = "".join(
            f"{indent}{s}{'  ' + comment if comment and (i == 0 or 'noqa' in comment) else ''}\n"
            for i, s in enumerate(statements)
        )
        edits.append((node.lineno - 1, node.end_lineno, new_text))  # type: ignore[arg-type]
    for start, end, new_text in sorted(edits, reverse=True):
        lines[start:end] = [new_text]
    return "".join(lines)


NEW_FOLDERS = {str(Path(new).parent) for new in PATHS.values()}
REVERSE = {new: old for old, new in PATHS.items()}


# `from P import m` written as text (in a string: a script a test or benchmark runs), one name.
TEXT_FROM = re.compile(r"^(\s*)from (governance(?:\.\w+)*) import (\w+)(?: as (\w+))?[ \t]*$", re.M)


def rewrite_text_imports(text: str, news: set[str]) -> str:
    def one(match: re.Match[str]) -> str:
        indent, package, name, alias = match.groups()
        full = f"{package}.{name}"
        if full not in OLD_TO_NEW or map_dotted(full, news) == full:
            return match.group(0)
        parent, _, base = map_dotted(full, news).rpartition(".")
        local = alias or name
        return f"{indent}from {parent} import {base}" + (f" as {local}" if local != base else "")

    return TEXT_FROM.sub(one, text)


def map_path(match: re.Match[str], here: Path) -> str:
    written = match.group(1)
    relative = str(here.relative_to(ROOT))
    if "/" not in written:  # a bare name: a file beside this one, in this file's old folder
        if not relative.startswith("governance/"):
            return written
        old_folder = Path(REVERSE.get(relative, relative)).parent
        candidate = f"{old_folder}/{written}"
        if candidate not in PATHS or PATHS[candidate] == candidate:
            return written
        new = Path(PATHS[candidate])
        return (
            new.name
            if new.parent == here.parent.relative_to(ROOT)
            else str(new.relative_to("governance"))
        )
    candidate = written if written.startswith("governance/") else f"governance/{written}"
    if candidate not in PATHS or PATHS[candidate] == candidate:
        return written
    new_path = PATHS[candidate]
    return new_path if written.startswith("governance/") else new_path.removeprefix("governance/")


# Old names that are also new ones: `governance.analysis` was the engine and is the noun now.
AMBIGUOUS = {"governance.analysis"}
FOLLOWING_IMPORT = re.compile(r"\s+import\s+\(?\s*(\w+)")


def _dotted(match: re.Match[str], news: set[str]) -> str:
    """A dotted name; in `from P import m` where P.m is a module of the new layout, P is a new
    package and stays (`governance.analysis` was the engine and is now the noun)."""
    token = match.group(0)
    following = FOLLOWING_IMPORT.match(match.string, match.end())
    if token in AMBIGUOUS and not following:
        return token  # the engine's old name is the noun's new one: a person decides
    if (
        following
        and f"{token}.{following.group(1)}" in news
        and f"{token}.{following.group(1)}" not in OLD_TO_NEW
    ):
        return token
    return map_dotted(token, news)


def rewrite_text(path: Path, text: str, news: set[str]) -> str:
    if path.suffix == ".py":
        text = rewrite_from_imports(text, news)
    text = rewrite_text_imports(text, news)
    text = DOTTED.sub(lambda m: _dotted(m, news), text)
    text = PATHLIKE.sub(lambda m: map_path(m, path), text)
    for old_folder, new_folder in TEST_FOLDERS.items():
        text = text.replace(f"{old_folder}/", f"{new_folder}/").replace(
            old_folder.replace("/", ".") + ".", new_folder.replace("/", ".") + "."
        )
    return FOLDER.sub(lambda m: FOLDERS[m.group(1)], text)


def text_files() -> list[Path]:
    listed = git("ls-files", "--cached", "--others", "--exclude-standard").splitlines()
    files = []
    for name in listed:
        path = ROOT / name
        if name in SKIP_FILES or set(Path(name).parts) & SKIP_DIRS or not path.is_file():
            continue
        if path.suffix in TEXT_SUFFIXES or path.name in {"Makefile", "run"}:
            files.append(path)
    return files


def rewrite_names(dry: bool) -> list[Path]:
    news = new_modules()
    changed = []
    for path in text_files():
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        new = rewrite_text(path, text, news)
        for file, before, after in FIXUPS:
            if path == ROOT / file:
                new = new.replace(before, after)
        if new != text:
            changed.append(path)
            if not dry:
                path.write_text(new, encoding="utf-8")
    return changed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if due")
    args = parser.parse_args()
    check_table()
    steps = rename_files(args.check)
    changed = rewrite_names(args.check)
    for step in steps:
        print(step)
    for path in changed:
        print(f"rewrite {path.relative_to(ROOT)}")
    python = [p for p in changed if p.suffix == ".py"]
    if python and not args.check:
        ruff = next(
            (
                p
                for p in (Path(sys.executable).parent / "ruff", ROOT / ".venv/bin/ruff")
                if p.exists()
            ),
            Path("ruff"),
        )
        command = [str(ruff), "check", "--quiet", "--fix", "--select", "I", *map(str, python)]
        subprocess.run(command, cwd=ROOT, check=False)  # noqa: S603  (our linter, our files)
    if args.check and (steps or changed):
        sys.exit(1)


if __name__ == "__main__":
    main()
