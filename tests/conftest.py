"""Fixtures shared by every test: an app on SQLite and again on PostgreSQL, clients, people.

Every test that asks for `app` (or anything built on it) runs twice: once on SQLite and once on
PostgreSQL. The PostgreSQL run needs GOVERNANCE_TEST_DATABASE_URL (CI sets it); without it those
runs are skipped with a message saying so.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import settings
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import text
from sqlalchemy.orm import Session

from governance import create_app, schema
from governance.kernel import keys
from governance.kernel.db import Base, make_engine
from governance.kernel.extensions import database
from governance.kernel.keys import KeyPurpose
from tests import people_template, workers
from tests.support import People, make_people

# The garbage collector skips what lives for the whole session (tests/frozen_heap.py).
pytest_plugins = ["tests.frozen_heap"]

# Property tests check what holds, not how fast: speed targets live in bench/ (developers'
# guide). Hypothesis's default 200 ms deadline per example failed a policy property test once
# on this shared 2-core machine at load 15 (592 ms, then 0.69 ms on the retry), so it is off
# for every property test unless a test sets its own.
settings.register_profile("governance", deadline=None)
settings.load_profile("governance")

# Flask-WTF's session key and form field for the CSRF secret (its default, which we keep).
CSRF_FIELD = "csrf_token"

PG_VARIABLE = "GOVERNANCE_TEST_DATABASE_URL"
PG_SKIP_REASON = (
    f"PostgreSQL run skipped: {PG_VARIABLE} is not set. Set it to "
    "postgresql+psycopg://postgres@127.0.0.1:5432/test (as CI does) to run every database "
    "test on PostgreSQL too."
)


def pytest_report_header(config: pytest.Config) -> str:
    if os.environ.get(PG_VARIABLE):
        return f"database tests run on SQLite and on PostgreSQL ({PG_VARIABLE} is set)"
    return PG_SKIP_REASON


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`--dist loadgroup` (`make test`): a test marked `xdist_group(name)` goes to the worker
    that runs the group's other tests. pytest-xdist 3.8 says so by appending `@name` to the
    item's `_nodeid`, which pytest 9.2 no longer reads (a node's id is its `_id`): every group
    was silently ignored, so the reliability suite's load tests shared the machine, two workers
    started a Spark JVM each, and the grouped modules built their fixtures twice. This appends
    the suffix where pytest 9 reads it, after every conftest has added its markers (trylast),
    as xdist does; where xdist's own suffix took, it does nothing."""
    if not config.getoption("loadgroup", default=False):
        return
    from _pytest.nodeid import NodeId

    for item in items:
        names = {
            str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
            for mark in item.iter_markers("xdist_group")
        }
        if names and "@" not in item.nodeid:
            item._id = NodeId.parse(f"{item.nodeid}@{'_'.join(sorted(names))}")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test: migrating once keeps the suite fast."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    schema.upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_url() -> str:
    configured = os.environ.get(PG_VARIABLE)
    if not configured:
        pytest.skip(PG_SKIP_REASON)
    # Each xdist worker has its own database beside the configured one (tests/workers.py).
    url = workers.database_url(configured)
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP SCHEMA public CASCADE")
        connection.exec_driver_sql("CREATE SCHEMA public")
    schema.upgrade(engine)
    engine.dispose()
    return url


def _reset_postgres(url: str) -> None:
    """Empty every table and restart every sequence, as a freshly migrated database has them.

    TRUNCATE of all the tables took 1.3 to 2.2 s per test (new files for the 77 tables and
    their 270-odd indexes, on a server with fsync on), more than most tests themselves. Instead
    the tables are emptied with DELETE (under the replication role `replica`, which skips
    triggers for that transaction only: the audit tables' append-only ones, and the foreign
    keys', so the order does not matter), then the tables the last test wrote to are VACUUMed,
    which gives their emptied pages back: each heap starts at its first page again, as after
    TRUNCATE, so rows lie in the order they were inserted and no dead rows pile up (this server
    runs without autovacuum). About 0.1 to 0.25 s in all."""
    engine = make_engine(url)
    names = [table.name for table in Base.metadata.sorted_tables]
    with engine.begin() as connection:
        written = set(
            connection.scalars(
                text(
                    "SELECT c.relname FROM pg_class c "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = 'public' AND c.relkind = 'r' "
                    "AND pg_relation_size(c.oid) > 0"
                )
            )
        )
        statements = ["SET LOCAL session_replication_role = replica"]
        # The names are the models' own tables, never input.
        statements += [f'DELETE FROM "{name}"' for name in reversed(names)]  # noqa: S608
        statements.append(
            "SELECT setval(quote_ident(schemaname) || '.' || quote_ident(sequencename), "
            "start_value, false) FROM pg_sequences WHERE schemaname = 'public'"
        )
        # One round trip: psycopg sends statements without parameters as one batch.
        connection.exec_driver_sql(";\n".join(statements))
    vacuumed = [name for name in names if name in written]
    if vacuumed:
        # VACUUM runs outside a transaction.
        with engine.execution_options(isolation_level="AUTOCOMMIT").connect() as connection:
            connection.exec_driver_sql("VACUUM " + ", ".join(f'"{name}"' for name in vacuumed))
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO audit_head (id, seq, hash, last_checkpoint_seq) "
                "VALUES (1, 0, :genesis, 0)"
            ),
            {"genesis": "0" * 64},
        )
        connection.execute(text("INSERT INTO policy_epoch (id, epoch) VALUES (1, 0)"))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    if request.param == "sqlite":
        path = tmp_path / "governance.kernel.db"
        shutil.copy(sqlite_template, path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("postgres_url")
    _reset_postgres(url)
    return url


@pytest.fixture
def instance_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Path:
    """An instance folder with its keys, created explicitly as `governance init` does (the
    app refuses to start without them). A test with `people` gets this worker's keys, under
    which its people's rows were written once (tests/people_template.py)."""
    path = tmp_path / "instance"
    path.mkdir(mode=0o700)
    monkeypatch.setenv("GOVERNANCE_INSTANCE_PATH", str(path))
    if "people" in request.fixturenames:
        templates: people_template.Templates = request.getfixturevalue("people_templates")
        people_template.copy_keys(templates.keys, path)
    else:
        create_keys(path)
    return path


def create_keys(instance: Path) -> None:
    """The default key files of an instance folder, as `governance init` creates them."""
    for purpose in KeyPurpose:
        keys.create_key(purpose, instance / f"{purpose.value}.key")


@pytest.fixture
def app_config(database_url: str) -> dict[str, Any]:
    """Override in a test module to change settings; CSRF stays on, as in production."""
    return {"TESTING": True, "DATABASE_URL": database_url}


@pytest.fixture
def app(app_config: dict[str, Any], instance_path: Path) -> Iterator[Flask]:
    # The administrators of most tests have no second factor: unless a test says otherwise,
    # the rule that sends them to enrolment is off (tests/identity/test_totp.py checks it).
    application = create_app({"ADMIN_SECOND_FACTOR_REQUIRED": False, **app_config})
    yield application
    database(application).dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> Any:
    return app.test_cli_runner()


@pytest.fixture
def db(app: Flask) -> Iterator[Session]:
    """The test's own session. It begins transactions DEFERRED (a read does not take SQLite's
    write lock, which would stall the app's requests) and opens no app context (a test request
    would reuse it and share `g` across requests). Call `fresh(db)` before reading what a
    request wrote."""
    engine = database(app).read_engine()
    with Session(bind=engine, info=database(app).info, expire_on_commit=False) as session:
        yield session


@pytest.fixture(scope="session")
def people_templates(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path
) -> people_template.Templates:
    """This worker's `people` rows, built once per database kind (tests/people_template.py)."""
    base = tmp_path_factory.mktemp("people")
    keys = base / "keys"
    keys.mkdir(mode=0o700)
    create_keys(keys)
    return people_template.Templates(base, keys, sqlite_template, _reset_postgres)


@pytest.fixture
def people(app: Flask, db: Session, people_templates: people_template.Templates) -> People:
    """One active, trained person per role, plus the research lab and two provider agencies:
    the rows `make_people` wrote once for this worker, copied into the test's database, or
    `make_people` itself where the test's settings, keys or database differ."""
    return people_templates.people(app, db) or make_people(db, app)


def fresh(session: Session) -> Session:
    """Leave any older snapshot and forget loaded objects, to read what requests committed."""
    session.rollback()
    session.expire_all()
    return session


def csrf_token(client: FlaskClient, path: str | None = None) -> str:
    """The CSRF token a page of `path` would carry, read from that page; without a path, the
    token of the client's session as any page of it would carry it.

    Reading a page for every form cost a third of some modules' time: signed in, `/login`
    redirects to the dashboard, which renders the person's tasks and charts. Without a path the
    token is made as Flask-WTF makes it for a page (`generate_csrf`: the session's random
    secret, created if the session has none, signed with the app's secret key), from the
    session cookie the client holds, so the form is checked exactly as a browser's would be:
    a wrong or missing token, or one from another session, is still refused."""
    if path is not None:
        page = client.get(path, follow_redirects=True)
        match = re.search(r'name="csrf-token" content="([^"]+)"', page.get_data(as_text=True))
        assert match, f"no CSRF token on {path}"
        return match.group(1)
    app = client.application
    with client.session_transaction() as session:
        if CSRF_FIELD not in session:
            session[CSRF_FIELD] = hashlib.sha1(os.urandom(64)).hexdigest()  # noqa: S324 (as Flask-WTF)
        secret = session[CSRF_FIELD]
    signer = URLSafeTimedSerializer(
        app.config.get("WTF_CSRF_SECRET_KEY") or app.secret_key, salt="wtf-csrf-token"
    )
    return str(signer.dumps(secret))


class Browser:
    """A test client that logs in and sends forms with their CSRF token, as a browser does."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def login(self, email: str, password: str) -> Any:
        return self.client.post(
            "/login",
            data={"email": email, "password": password, "csrf_token": csrf_token(self.client)},
        )

    def post(self, path: str, data: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        form = dict(data or {})
        form.setdefault("csrf_token", csrf_token(self.client))
        return self.client.post(path, data=form, **kwargs)

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.client.get(path, **kwargs)


@pytest.fixture
def browser(client: FlaskClient) -> Browser:
    return Browser(client)


@pytest.fixture(autouse=True, scope="session")
def _fast_password_hashing() -> Iterator[None]:
    """argon2's production cost (64 MiB, 3 passes) would dominate the suite's time."""
    from argon2 import PasswordHasher

    from governance.identity import passwords

    production = passwords._hasher
    passwords._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    yield
    passwords._hasher = production


@pytest.fixture(autouse=True, scope="session")
def _policy_loaded_once_per_content() -> Iterator[None]:
    """Each app loads its policy files with casbin at start (about 40 ms of CPU, a third of
    `create_app`, for each of the suite's thousands of apps). The same files give the same
    Policy (an immutable value), so the tests' apps load each content once: an app given
    other files (another directory, or the same one rewritten) loads them for real, and files
    that do not load raise as before."""
    import governance.authz as authz
    from governance.authz.enforcer import DEFAULT_POLICY_DIR, Policy

    original = authz.load_policy
    loaded: dict[tuple[Path, bytes, bytes], Policy] = {}

    def load_once(directory: Path = DEFAULT_POLICY_DIR) -> Policy:
        try:
            key = (
                directory,
                (directory / "model.conf").read_bytes(),
                (directory / "roles.csv").read_bytes(),
            )
        except OSError:
            return original(directory)
        if key not in loaded:
            loaded[key] = original(directory)
        return loaded[key]

    authz.load_policy = load_once
    yield
    authz.load_policy = original


@pytest.fixture(autouse=True, scope="session")
def _url_builders_compiled_once() -> Iterator[None]:
    """Each app binds its ~280 routes, and werkzeug compiles two URL builders for each (a
    function built as an AST, then `compile`d): most of what remains of `create_app`'s CPU
    once the policy is loaded once, for each of the suite's thousands of apps. A builder's
    code depends only on what `Rule._compile_builder` reads (the rule's parsed parts, its
    defaults, whether unknown arguments are appended) and it keeps no state (the rule is its
    first argument), so the tests' apps share the builders compiled for identical inputs:
    the same keys give the same code, any other rule compiles as before."""
    from werkzeug.routing.rules import Rule

    original = Rule._compile_builder
    compiled: dict[tuple[Any, ...], Any] = {}

    def compile_once(self: Rule, append_unknown: bool = True) -> Any:
        dynamic = {data for is_dynamic, data in self._trace if is_dynamic}
        key = (
            self.rule,
            append_unknown,
            tuple(self._trace),
            # Only the names of the defaults reach the code, and the converted value of a
            # default that fills one of the rule's own parts.
            tuple(
                (name, self._converters[name].to_url(value) if name in dynamic else None)
                for name, value in (self.defaults or {}).items()
            ),
        )
        if key not in compiled:
            compiled[key] = original(self, append_unknown)
        return compiled[key]

    compile_once.original = original  # type: ignore[attr-defined]  (tests/kernel/test_app_builders.py)
    Rule._compile_builder = compile_once  # type: ignore[method-assign]
    yield
    Rule._compile_builder = original  # type: ignore[method-assign]


@pytest.fixture(autouse=True, scope="session")
def _templates_compiled_once() -> Iterator[None]:
    """Each app has its own Jinja environment, which compiles every template it renders from
    source (parse, generate Python, `compile`): 0.09 s a template, a sixth of some modules'
    time, for the same few dozen templates in each of the suite's thousands of apps. Jinja's
    bytecode cache is made for this: the tests' apps share one, in memory, for this worker.
    Jinja keys it by the template's name and checks the source's checksum, so a template
    changed on disk compiles again; every app is made by `create_app` with the same
    environment options, for which the compiled code is the same."""
    from jinja2 import BytecodeCache
    from jinja2.bccache import Bucket

    class InMemory(BytecodeCache):
        def __init__(self) -> None:
            self.codes: dict[str, bytes] = {}

        def load_bytecode(self, bucket: Bucket) -> None:
            code = self.codes.get(bucket.key)
            if code is not None:
                bucket.bytecode_from_string(code)

        def dump_bytecode(self, bucket: Bucket) -> None:
            self.codes[bucket.key] = bucket.bytecode_to_string()

    original = Flask.jinja_options
    Flask.jinja_options = {**original, "bytecode_cache": InMemory()}
    yield
    Flask.jinja_options = original


COMMAND_MODULES = ("agreements", "analyses", "audit", "core", "datasets", "keys", "tokens")


@pytest.fixture
def commands(monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    """A runner for `governance` commands, which build their app from the environment as
    usual; each app's connections are closed at the end of the test (a real command's process
    would simply exit)."""
    from governance.cli import context

    built: list[Flask] = []
    original = context.build_app

    def build_and_remember() -> Flask:
        built.append(original())
        return built[-1]

    for module in COMMAND_MODULES:
        monkeypatch.setattr(f"governance.cli.{module}.build_app", build_and_remember)
    yield CliRunner()
    for application in built:
        database(application).dispose()
