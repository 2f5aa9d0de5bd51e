"""The `people` fixture's rows built once per worker and database, then copied into each test.

`make_people` writes 3 organisations, 9 people with their roles and training, and the 30 audit
events that record it, through the services (about 30 commits, each durable): 0.1-0.3 s of
every one of the suite's ~2,600 tests that ask for `people`, a quarter of some directories'
time. The rows depend only on the app's settings, its instance keys (the audit trail's HMAC
and the training records' seals are keyed) and the day, so each worker builds them once per
database kind through `make_people` itself, in a database and instance folder of its own, and a
test gets the same bytes: on SQLite the template file copied over the test's database (the
backup API, page by page), on PostgreSQL the changed tables' rows by COPY in the form the
server printed them, triggers off for that transaction (as the reset does). The test's
instance gets the worker's key files (`instance_path` copies them for tests that ask for
`people`), so the copied events and seals verify under its keys.

A test whose case differs in anything that could change those rows gets `make_people` as
before: settings other than the database and instance paths (a module's `app_config`), other
keys (a module's own `instance_path`), a database that is not as freshly migrated (a fixture
that wrote before `people`), or another day than the template's.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import shutil
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import make_url, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from governance import create_app, schema
from governance.audit import head
from governance.identity.models import User
from governance.identity.organization_model import Organization
from governance.kernel.db import Base, make_engine
from governance.kernel.extensions import database
from governance.kernel.keys import KeyPurpose
from tests import workers
from tests.support import People, make_people

KEY_FILES = tuple(f"{purpose.value}.key" for purpose in KeyPurpose)
# Settings that name this instance's own files or secrets: they differ between any two tests
# and none of them reaches the rows `make_people` writes (the keys are compared as files).
OWN_SETTINGS = {"SECRET_KEY", "SECRET_KEY_FALLBACKS"}
# A template is built again after this long: its rows' times (the people's creation, the audit
# trail's last checkpoint, which the next write renews after AUDIT_CHECKPOINT_MINUTES = 10) stay
# within five minutes of the test's, as if `make_people` had run in the test's set-up.
MAX_AGE_S = 300
ORGANISATIONS = {"lab", "police", "probation"}


@dataclass
class Template:
    built_at: float
    today: dt.date
    settings: dict[str, str]
    # Rows per table in a freshly migrated database once the app is built.
    fresh_counts: dict[str, int]
    # The People's fields: the id of each organisation and person.
    ids: dict[str, Any]
    sqlite_file: Path | None = None
    # PostgreSQL: each written table's rows as COPY printed them, and the sequences' values.
    tables: list[tuple[str, bytes]] = field(default_factory=list)
    sequences: list[tuple[str, int]] = field(default_factory=list)


def copy_keys(source: Path, instance: Path) -> None:
    """The key files of `source`, owner-only as `governance init` writes them."""
    for name in KEY_FILES:
        fd = os.open(instance / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, (source / name).read_bytes())
        finally:
            os.close(fd)


def settings_of(app: Flask, instance: Path, url: str) -> dict[str, str]:
    """The app's settings as text, its instance folder and database named alike in all."""
    return {
        name: repr(value).replace(str(instance), "<instance>").replace(url, "<database>")
        for name, value in app.config.items()
        if name not in OWN_SETTINGS
    }


def row_counts(connection: Connection) -> dict[str, int]:
    """Rows per table, the empty ones left out (one statement)."""
    # The names are the models' own tables, never input.
    parts = [
        f"SELECT '{table.name}', COUNT(*) FROM \"{table.name}\""  # noqa: S608
        for table in Base.metadata.sorted_tables
    ]
    rows = connection.execute(text(" UNION ALL ".join(parts)))
    return {name: count for name, count in rows if count}


class Templates:
    """This worker's templates, built on first use: one per database kind and day."""

    def __init__(
        self, base: Path, keys: Path, sqlite_template: Path, reset: Callable[[str], None]
    ) -> None:
        self.base = base
        self.keys = keys
        self.sqlite_template = sqlite_template
        self.reset = reset
        self.built: dict[str, Template] = {}
        self.postgres_url: str | None = None
        self.builds = itertools.count()

    def get(self, kind: str) -> Template:
        template = self.built.get(kind)
        today = dt.date.today()
        if (
            template is None
            or template.today != today
            or time.monotonic() - template.built_at > MAX_AGE_S
        ):
            if template is not None and template.sqlite_file is not None:
                shutil.rmtree(template.sqlite_file.parent)
            template = self.built[kind] = self._build(kind, today)
        return template

    def people(self, app: Flask, db: Session) -> People | None:
        """The template's people copied into the test's database, or None when this test's
        case could differ from the template's (then `make_people` runs as before)."""
        instance = Path(app.instance_path)
        for name in KEY_FILES:
            own = instance / name
            if not own.exists() or own.read_bytes() != (self.keys / name).read_bytes():
                return None
        template = self.get("sqlite" if database(app).is_sqlite else "postgresql")
        return _copied(template, app, db, instance)

    def _build(self, kind: str, today: dt.date) -> Template:
        folder = self.base / f"{kind}-{next(self.builds)}"
        folder.mkdir()
        instance = folder / "instance"
        instance.mkdir(mode=0o700)
        copy_keys(self.keys, instance)
        sqlite_file = None
        if kind == "sqlite":
            sqlite_file = folder / "people.db"
            shutil.copy(self.sqlite_template, sqlite_file)
            url = f"sqlite:///{sqlite_file}"
        else:
            url = self._template_database()
        built_at = time.monotonic()
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("GOVERNANCE_INSTANCE_PATH", str(instance))
            app = create_app(
                {"ADMIN_SECOND_FACTOR_REQUIRED": False, "TESTING": True, "DATABASE_URL": url}
            )
        try:
            engine = database(app).read_engine()
            with Session(bind=engine, info=database(app).info, expire_on_commit=False) as db:
                fresh_counts = row_counts(db.connection())
                db.rollback()
                people = make_people(db, app)
                ids = {f.name: getattr(people, f.name).id for f in fields(People)}
                written = row_counts(db.connection())
                db.rollback()
            template = Template(
                built_at=built_at,
                today=today,
                settings=settings_of(app, instance, url),
                fresh_counts=fresh_counts,
                ids=ids,
                sqlite_file=sqlite_file,
            )
            if kind == "postgresql":
                _copy_out(database(app).engine.raw_connection(), written, template)
        finally:
            database(app).dispose()
        if sqlite_file is not None:
            # Every page in the main file: the WAL is folded in when the last connection closes.
            with sqlite3.connect(sqlite_file) as connection:
                connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            connection.close()
        return template

    def _template_database(self) -> str:
        """A migrated PostgreSQL database beside the worker's own (`<name>_people`), emptied
        as the tests' is after the first time."""
        if self.postgres_url is not None:
            self.reset(self.postgres_url)
            return self.postgres_url
        self.postgres_url = _migrated_database()
        return self.postgres_url


def _migrated_database() -> str:
    configured = os.environ["GOVERNANCE_TEST_DATABASE_URL"]
    own = make_url(workers.database_url(configured))
    url = own.set(database=f"{own.database}_people").render_as_string(hide_password=False)
    workers.create_database(url, via=configured)
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql("DROP SCHEMA public CASCADE")
            connection.exec_driver_sql("CREATE SCHEMA public")
        schema.upgrade(engine)
    finally:
        engine.dispose()
    return url


def _copy_out(raw: Any, written: dict[str, int], template: Template) -> None:
    try:
        with raw.cursor() as cursor:
            for table in Base.metadata.sorted_tables:
                if table.name not in written:
                    continue
                data = bytearray()
                with cursor.copy(f'COPY "{table.name}" TO STDOUT') as copy:
                    for block in copy:
                        data += block
                template.tables.append((table.name, bytes(data)))
            cursor.execute(
                "SELECT quote_ident(schemaname) || '.' || quote_ident(sequencename), last_value "
                "FROM pg_sequences WHERE schemaname = 'public' AND last_value IS NOT NULL"
            )
            template.sequences = [(name, value) for name, value in cursor.fetchall()]
        raw.rollback()
    finally:
        raw.close()


def _copied(template: Template, app: Flask, db: Session, instance: Path) -> People | None:
    url = database(app).url
    if template.settings != settings_of(app, instance, url):
        return None
    if row_counts(db.connection()) != template.fresh_counts:
        db.rollback()
        return None
    db.rollback()
    if template.sqlite_file is not None:
        source = sqlite3.connect(template.sqlite_file)
        target = sqlite3.connect(make_url(url).database or "")
        try:
            source.backup(target)
        finally:
            target.close()
            source.close()
    else:
        _copy_in(database(app).engine.raw_connection(), template)
    # As after `make_people`: this engine's writers remember the head they last wrote.
    head.read(db.connection())
    db.rollback()
    # One statement per model (organisations and people have ids of their own each).
    models = {name: Organization if name in ORGANISATIONS else User for name in template.ids}
    loaded: dict[tuple[type, int], Organization | User] = {}
    for model in (Organization, User):
        wanted = [id_ for name, id_ in template.ids.items() if models[name] is model]
        loaded.update(
            ((model, row.id), row) for row in db.scalars(select(model).where(model.id.in_(wanted)))
        )
    people = People(
        **{name: loaded[models[name], id_] for name, id_ in template.ids.items()}  # type: ignore[arg-type]
    )
    db.commit()
    return people


def _copy_in(raw: Any, template: Template) -> None:
    try:
        with raw.cursor() as cursor:
            cursor.execute("SET LOCAL session_replication_role = replica")
            for name, _data in template.tables:
                cursor.execute(f'DELETE FROM "{name}"')  # noqa: S608 (the models' own tables)
            for name, data in template.tables:
                with cursor.copy(f'COPY "{name}" FROM STDIN') as copy:
                    copy.write(data)
            for sequence, value in template.sequences:
                cursor.execute("SELECT setval(%s, %s, true)", (sequence, value))
        raw.commit()
    finally:
        raw.close()
