"""Hostile input (issue 9): bad files, hostile text in every field, malformed requests.

Each test says what it proves; docs/decisions/reliability-faults.md lists them. Already covered
and not repeated: the checker's own problem messages (tests/datasets/test_ingest_checks.py,
test_upload_pages.py), agreement text round-tripping (tests/agreements/test_hostile_text.py),
each role on each route (tests/api/test_access_matrix.py).
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import json
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.access import requests
from governance.access.models import AccessRequest
from governance.agreements.models import Agreement
from governance.audit.models import AuditType, Outcome
from governance.authz.actions import DataAction
from governance.authz.decision import DataRequest, decide
from governance.datasets.models import (
    Classification,
    ColumnType,
    Dataset,
    DatasetSteward,
    DatasetVersion,
)
from governance.datasets.service import ColumnSpec, create_dataset
from governance.identity import users
from governance.identity.token_model import ApiToken
from governance.kernel.reports.tabular import DANGEROUS_PREFIXES
from governance.kernel.types import utcnow
from tests.access.test_requests_and_grants import ask
from tests.agreements import builders
from tests.agreements.builders import Datasets, approved, make_datasets
from tests.conftest import Browser, csrf_token, fresh
from tests.datasets.conftest import arrests
from tests.datasets.test_upload_pages import upload
from tests.reliability import corpus
from tests.reliability.fixtures import (
    ReadWorld,
    api_token,
    count_events,
    last_event,
    read_world,
    stored_files,
)
from tests.support import PASSWORD, SETUP, People

__all__ = ["arrests", "read_world"]  # fixtures, imported for pytest

HOSTILE = [
    "<script>alert('x')</script>",
    '"><img src=x onerror=alert(1)>',
    "'; DROP TABLE agreement; --",
    "Pa\u0443Pal \u0430dmin",  # Cyrillic look-alikes
    "invoice\u202egpj.exe",  # right-to-left override
    "a) || (true, b,c)",
    "zero\u200bwidth\u200d\ufeffjoin",
    '=HYPERLINK("http://evil.example")',
    "x" * 3000,
]
HOSTILE_IDS = [
    "script",
    "attribute",
    "sql",
    "lookalike",
    "rtl",
    "casbin",
    "zero-width",
    "formula",
    "long",
]


def _text(response: Any) -> str:
    return response.get_data(as_text=True)


def _never_raw(page: str, text: str) -> None:
    """Markup in `text` must appear only escaped in `page`."""
    if "<" in text or '"' in text:
        assert text not in page
    for raw in ("<script>alert", "<img src=x onerror"):
        assert raw not in page


# --- the corpus of bad files --------------------------------------------------------------


@pytest.fixture
def steward(browser: Browser, people: People) -> Browser:
    browser.login(people.steward.email, PASSWORD)
    return browser


def _versions(db: Session) -> list[DatasetVersion]:
    return list(fresh(db).scalars(select(DatasetVersion)))


def _api_upload(client: FlaskClient, token: str, dataset_id: int, content: bytes, name: str) -> Any:
    """The body is encoded here, in memory (werkzeug's test client would spool a large one to
    a temporary file it never closes)."""
    boundary = "----api-upload-boundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="{name}"\r\nContent-Type: application/octet-stream\r\n\r\n'
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return client.post(
        f"/api/v1/datasets/{dataset_id}/versions",
        headers={"Authorization": f"Bearer {token}"},
        input_stream=io.BytesIO(body),
        content_length=len(body),
        content_type=f"multipart/form-data; boundary={boundary}",
    )


BAD = corpus.bad_files()


@pytest.mark.parametrize("bad", BAD, ids=[b.id for b in BAD])
def test_every_bad_file_is_refused_with_a_4xx_and_nothing_is_stored(
    app: Flask, db: Session, people: People, steward: Browser, arrests: Dataset, bad: corpus.BadFile
) -> None:
    """Each file of the corpus, through the upload page and through the API. Proves: a 4xx
    whose message says the file was not stored (and why, where the corpus names it); no
    version row and no file under instance/, not even a hidden partial one; the refusal is
    in the audit trail as a failed ingestion."""
    page = upload(steward, arrests, bad.content, bad.name)
    assert 400 <= page.status_code < 500, (page.status_code, _text(page)[:500])
    said = html.unescape(re.sub(r"<[^>]+>", "", _text(page)))
    assert "The file was not stored" in said
    assert bad.says in said.lower()

    token = api_token(db, people.steward)
    api = _api_upload(app.test_client(), token, arrests.id, bad.content, bad.name)
    assert 400 <= api.status_code < 500, (api.status_code, _text(api)[:500])
    body = api.get_json()
    assert body["status"] == api.status_code
    assert body["message"].startswith("The file was not stored")
    assert bad.says in (body["message"] + json.dumps(body.get("fields", {}))).lower()

    assert _versions(db) == []
    assert stored_files(app.instance_path, app) == []  # type: ignore[arg-type]
    assert count_events(db, AuditType.DATASET_INGEST, Outcome.FAILURE) == 2
    assert count_events(db, AuditType.DATASET_INGEST, Outcome.SUCCESS) == 0


def _downloadable(db: Session, people: People) -> tuple[Datasets, Agreement]:
    made = make_datasets(db, people)
    for dataset in (made.arrests, made.probation):
        db.add(DatasetSteward(dataset_id=dataset.id, user_id=people.steward.id))
    db.commit()
    agreement = approved(db, people, made, row_level_download=True)
    request = ask(db, people, agreement, made, columns=("person_id", "sex"), download=True)
    requests.steward_approve(
        db,
        request_id=request.id,
        columns=["person_id", "sex"],
        comment='=HYPERLINK("http://evil.example")',
        by=people.steward,
        now=utcnow(),
    )
    requests.privacy_approve(
        db,
        request_id=request.id,
        comment="Linkage needs the identifiers; they never leave the environment.",
        by=people.privacy,
        now=utcnow(),
    )
    db.commit()
    return made, agreement


def _cells(body: bytes) -> list[list[str]]:
    lines = [line for line in body.decode("utf-8").splitlines() if not line.startswith("#")]
    return list(csv.reader(lines))


def _assert_neutral(rows: list[list[str]], formulas: list[str]) -> None:
    flat = [cell for row in rows for cell in row]
    dangerous = [c for c in flat if c and c[0] in DANGEROUS_PREFIXES]
    assert dangerous == [], f"cells a spreadsheet would run: {dangerous[:5]}"
    for formula in formulas:
        assert "'" + formula in flat, f"{formula!r} missing or not neutralised"


def test_formula_cells_are_stored_as_data_and_neutralised_in_every_csv_export(
    app: Flask, db: Session, people: People, browser: Browser
) -> None:
    """A file whose text cells look like spreadsheet formulas (=, +, -, @, tab) is accepted:
    they are data. Proves: the row download, the audit export (an actor whose e-mail starts
    with `=` and `-`) and the access-review export never emit a cell starting with = + - @
    tab or CR; each such value appears with a leading apostrophe (OWASP)."""
    made, agreement = _downloadable(db, people)
    formulas = corpus.FORMULAS
    header = ",".join(c.name for c in made.arrests.columns)
    lines = [header]
    for i, cell in enumerate(formulas):
        quoted = '"' + cell.replace('"', '""') + '"'
        lines.append(f"{quoted},n,1990-01-01,{quoted},{20 + i},2025-01-01,theft,north")
    browser.login(people.steward.email, PASSWORD)
    stored = upload(browser, made.arrests, ("\n".join(lines) + "\n").encode(), "f.csv")
    assert stored.status_code == 302, _text(stored)[:800]

    analyst = Browser(app.test_client())
    analyst.login(people.analyst.email, PASSWORD)
    download = analyst.get(
        f"/data/download?agreement={agreement.id}&dataset={made.arrests.id}&purpose=descriptive"
    )
    assert download.status_code == 200, _text(download)[:800]
    _assert_neutral(_cells(download.data), formulas)

    for email in ("=cmd@test.example", "-2+3@test.example", "+x@test.example"):
        users.create_user(
            db,
            email=email,
            name="@SUM(A1)",
            organization_id=people.lab.id,
            roles=["analyst"],
            password=PASSWORD,
            password_min_length=app.config["PASSWORD_MIN_LENGTH"],
            by=SETUP,
        )
        db.commit()
        Browser(app.test_client()).login(email, PASSWORD)
    manager = Browser(app.test_client())
    manager.login(people.compliance.email, PASSWORD)
    exported = manager.get("/audit/export?format=csv")
    assert exported.status_code == 200
    _assert_neutral(
        _cells(exported.data), ["=cmd@test.example", "-2+3@test.example", "+x@test.example"]
    )

    grant_id = fresh(db).scalars(select(AccessRequest.grant_id)).first()
    steward = Browser(app.test_client())
    steward.login(people.steward.email, PASSWORD)
    reviewed = steward.post(
        f"/access/grants/{grant_id}/review",
        {"review-keep": ["person_id", "sex"], "review-comment": "@SUM(A1:A9)"},
    )
    assert reviewed.status_code in {200, 302}, _text(reviewed)[:800]
    today = utcnow().date()
    review = steward.get(f"/access/reviews.csv?since={today}&until={today + dt.timedelta(1)}")
    assert review.status_code == 200, _text(review)[:800]
    _assert_neutral(_cells(review.data), ["@SUM(A1:A9)"])


# --- hostile text in every field ---------------------------------------------------------


@pytest.mark.parametrize("text", HOSTILE, ids=HOSTILE_IDS)
def test_hostile_text_in_every_field_is_stored_verbatim_or_refused_and_never_executed(
    app: Flask, db: Session, people: People, browser: Browser, text: str
) -> None:
    """The same hostile string in the agreement title and purpose, the dataset name and
    description, a column name, the access request justification, the steward's comment and
    an API token's name, all through the pages. Proves: each is stored exactly (names with
    whitespace collapsed) or refused with a 4xx; every page that shows it escapes it (no raw
    `<script>` or `<img onerror>`); the agreement PDF carries it as text."""
    admin = Browser(app.test_client())
    admin.login(people.admin.email, PASSWORD)
    steward = Browser(app.test_client())
    steward.login(people.steward.email, PASSWORD)
    declared = steward.post(
        "/datasets/new",
        {
            "name": text[:200],
            "description": text,
            "provider_id": people.police.id,
            "columns-0-name": "sex",
            "columns-0-type": "string",
            "columns-0-classification": "quasi_identifier",
            "columns-0-required": "y",
            "columns-1-name": text[:120],
            "columns-1-type": "string",
            "columns-1-classification": "general",
            "columns-1-required": "y",
        },
    )
    assert declared.status_code in {302, 409, 422}, (declared.status_code, _text(declared)[:800])
    dataset = fresh(db).scalars(select(Dataset)).first()
    if declared.status_code == 302:
        assert dataset is not None
        assert dataset.name == " ".join(text[:200].split())
        assert dataset.description in {text, " ".join(text.split())}
        assert text[:120].strip() in [c.name for c in dataset.columns]
        for path in ("/datasets/", f"/datasets/{dataset.id}"):
            _never_raw(_text(steward.get(path)), text)
    else:
        assert dataset is None
        _never_raw(_text(declared), text)
        datasets = make_datasets(db, people)
        dataset = datasets.arrests
        db.add(DatasetSteward(dataset_id=dataset.id, user_id=people.steward.id))
        db.commit()

    browser.login(people.privacy.email, PASSWORD)
    datasets = Datasets(arrests=dataset, probation=dataset)
    form = builders.form(
        people, datasets, title=text[:300], purpose=text, columns=[f"{dataset.id}:sex"]
    )
    drafted = browser.post("/agreements/new", form)
    assert drafted.status_code in {302, 422}, (drafted.status_code, _text(drafted)[:800])
    _never_raw(_text(drafted), text)
    if drafted.status_code != 302:
        return
    agreement = fresh(db).scalars(select(Agreement)).one()
    version = agreement.display_version
    assert version.title == text[:300]
    assert version.purpose == text
    assert browser.post(f"/agreements/{agreement.id}/submit").status_code == 302
    second = Browser(app.test_client())
    second.login(people.privacy2.email, PASSWORD)
    assert second.post(f"/agreements/{agreement.id}/approve").status_code == 302
    countersigned = second.post(
        f"/agreements/{agreement.id}/execute",
        {
            "name": "Chief Dana Reyes",
            "title": "Chief of Police",
            "organisation": "Test Police",
            "signed_on": dt.date.today().isoformat(),
            "signed_copy_reference": "TPD-1",
        },
    )
    assert countersigned.status_code == 302
    for path in (f"/agreements/{agreement.id}", "/agreements/"):
        _never_raw(_text(browser.get(path)), text)
    pdf = browser.get(f"/agreements/{agreement.id}/pdf")
    assert pdf.status_code == 200
    assert pdf.data.startswith(b"%PDF-")
    words = "".join(PdfReader(io.BytesIO(pdf.data)).pages[0].extract_text().split())
    visible = "".join(text[:40].split())
    if text.isascii():
        assert visible[:20] in words, "the title must be printed as text"

    analyst = Browser(app.test_client())
    analyst.login(people.analyst.email, PASSWORD)
    asked = analyst.post(
        f"/access/requests/new?agreement_id={agreement.id}&dataset_id={dataset.id}",
        {
            "columns": ["sex"],
            "purpose": "descriptive",
            "justification": text,
            "end_date": (dt.date.today() + dt.timedelta(days=30)).isoformat(),
        },
    )
    assert asked.status_code in {302, 422}, (asked.status_code, _text(asked)[:800])
    _never_raw(_text(asked), text)
    if asked.status_code == 302:
        request = fresh(db).scalars(select(AccessRequest)).one()
        assert request.justification == text
        for who, path in (
            (analyst, f"/access/requests/{request.id}"),
            (steward, f"/access/requests/{request.id}"),
            (steward, "/access/requests"),
        ):
            _never_raw(_text(who.get(path)), text)
        reviewed = steward.post(
            f"/access/requests/{request.id}/approve",
            {"approve-columns": ["sex"], "approve-comment": text},
        )
        assert reviewed.status_code in {302, 422}
        _never_raw(_text(steward.get(f"/access/requests/{request.id}")), text)

    token = analyst.post("/tokens/", {"name": text[:200]})
    assert token.status_code in {200, 201, 302, 422}, (token.status_code, _text(token)[:500])
    _never_raw(_text(token), text)
    made = fresh(db).scalars(select(ApiToken)).first()
    if made is not None:
        assert made.name == text[:200].strip()
        _never_raw(_text(analyst.get("/tokens/")), text)


def test_commas_and_parentheses_in_names_never_widen_a_grant(
    app: Flask, db: Session, people: People
) -> None:
    """Columns named `a`, `b`, `a,b`, `x) || (true` and `*` in one dataset; the analyst is
    granted only `a,b` and `x) || (true`. Proves: the policy decision grants exactly those two
    names — never `a`, `b`, `*` or anything a CSV split or a matcher injection would yield —
    and a grant of `a` alone would not open `a,b`."""
    names = ["a", "b", "a,b", "x) || (true", "*", "p, q"]
    dataset = create_dataset(
        db,
        name="Tricky, (names)",
        description="",
        provider_id=people.police.id,
        columns=[ColumnSpec(n, ColumnType.STRING, Classification.GENERAL) for n in names],
        steward_ids=[people.steward.id],
        by=SETUP,
    )
    db.commit()
    datasets = Datasets(arrests=dataset, probation=dataset)
    agreement = approved(db, people, datasets, columns={dataset.id: names})
    granted = ["a,b", "x) || (true"]
    request = ask(db, people, agreement, datasets, columns=tuple(granted))
    requests.steward_approve(
        db, request_id=request.id, columns=granted, comment="", by=people.steward, now=utcnow()
    )
    db.commit()

    other = ask(db, people, agreement, datasets, columns=("a",), by=people.analyst2)
    requests.steward_approve(
        db, request_id=other.id, columns=["a"], comment="", by=people.steward, now=utcnow()
    )
    db.commit()

    def allowed(column: str, user_id: int = people.analyst.id) -> bool:
        return decide(
            fresh(db),
            DataRequest(
                user_id=user_id,
                agreement_id=agreement.id,
                dataset_id=dataset.id,
                columns=(column,),
                action=DataAction.READ,
                purpose="descriptive",
                now=utcnow(),
            ),
        ).allowed

    assert {n: allowed(n) for n in names} == {
        "a": False,
        "b": False,
        "a,b": True,
        "x) || (true": True,
        "*": False,
        "p, q": False,
    }
    for probe in ("a,b,c", "x", "true", "x) ||", "(true", "a%2Cb", "a b", "", " a,b"):
        assert not allowed(probe), probe
    assert allowed("a", people.analyst2.id)
    assert not allowed("a,b", people.analyst2.id)
    assert not allowed("b", people.analyst2.id)


# --- oversized and malformed requests ------------------------------------------------------


@pytest.fixture
def small_limits(app_config: dict[str, Any]) -> None:
    app_config["MAX_UPLOAD_MB"] = 1


def test_oversized_bodies_are_refused_with_413_and_nothing_changes(
    small_limits: None,
    app: Flask,
    db: Session,
    people: People,
    browser: Browser,
    read_world: ReadWorld,
) -> None:
    """Bodies over the limit (MAX_UPLOAD_MB, 1 MB here) on a form, on the JSON API and on the
    login page, with and without a declared length. Proves: 413 (JSON on the API), never a
    5xx, and nothing is created."""
    token = api_token(db, people.privacy)
    browser.login(people.privacy.email, PASSWORD)
    big = "x" * (1024 * 1024 + 10)
    form = browser.post("/agreements/new", {"title": big, "purpose": "p"})
    assert form.status_code == 413
    api = app.test_client().post(
        "/api/v1/agreements",
        data=b"{" + b" " * (1024 * 1024 + 10),
        headers={"Authorization": f"Bearer {token}"},
        content_type="application/json",
    )
    assert api.status_code == 413
    assert api.get_json()["status"] == 413
    login = app.test_client().post("/login", data={"email": big, "password": "x"})
    assert login.status_code in {400, 413}
    chunked = app.test_client().post(
        "/api/v1/agreements",
        input_stream=io.BytesIO(b"[" * (2 * 1024 * 1024)),
        headers={"Authorization": f"Bearer {token}", "Transfer-Encoding": "chunked"},
        content_type="application/json",
    )
    assert 400 <= chunked.status_code < 500
    assert (
        fresh(db).scalars(select(Agreement)).all() == [read_world.agreement]
        or len(fresh(db).scalars(select(Agreement)).all()) == 1
    )


MALFORMED_MULTIPART = [
    pytest.param(
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.csv"'
        b"\r\n\r\nperson_id\r\n",
        "multipart/form-data; boundary=b",
        id="no-end",
    ),
    pytest.param(b"garbage", "multipart/form-data; boundary=b", id="no-parts"),
    pytest.param(b"--b\r\n\r\n--b--\r\n", "multipart/form-data", id="no-boundary"),
    pytest.param(
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.csv"'
        b"\r\n\r\n" + b"x" * 1000,
        "multipart/form-data; boundary=b",
        id="truncated",
    ),
    pytest.param(b"file=abc", "application/x-www-form-urlencoded", id="not-multipart"),
    pytest.param(b'{"file": "abc"}', "application/json", id="json"),
    pytest.param(b"\xff\xfe\x00", "text/plain; charset=utf-8", id="text"),
]


# werkzeug's multipart parser leaves the SpooledTemporaryFile of a part cut off by the end of
# the body unclosed (in memory below 500 KB; the garbage collector frees it): an upstream
# ResourceWarning, not a failure of ours, so it is not turned into an error here.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.parametrize(("body", "content_type"), MALFORMED_MULTIPART)
def test_malformed_uploads_are_a_4xx(
    app: Flask, db: Session, people: People, arrests: Dataset, body: bytes, content_type: str
) -> None:
    """Broken multipart bodies (no closing boundary, no boundary parameter, truncated part)
    and the wrong content type, to the API upload and the upload page. Proves: a 4xx with a
    message, never a 5xx, and no version stored."""
    token = api_token(db, people.steward)
    api = app.test_client().post(
        f"/api/v1/datasets/{arrests.id}/versions",
        data=body,
        headers={"Authorization": f"Bearer {token}"},
        content_type=content_type,
    )
    assert 400 <= api.status_code < 500, (api.status_code, _text(api)[:500])
    assert api.get_json()["message"]
    page = Browser(app.test_client())
    page.login(people.steward.email, PASSWORD)
    posted = page.client.post(
        f"/datasets/{arrests.id}/versions",
        data=body,
        content_type=content_type,
        headers={"X-CSRFToken": csrf_token(page.client, "/login")},
    )
    assert 400 <= posted.status_code < 500, (posted.status_code, _text(posted)[:500])
    assert _versions(db) == []


ODD_QUERIES = [
    "page=99999999999999999999999",
    "page=-1",
    "page=abc",
    "per_page=100000000",
    "per_page=-5",
    "sort=%FF%FE",
    "sort=name;DROP TABLE x",
    "dir=sideways",
    "q=%00%FF&status=%C0%AF&user=%ED%A0%80",
    "since=9999-99-99&until=not-a-date",
    "event_type=%FF&format=%FF",
    # Ids past 64 bits, and "²", which str.isdigit accepts and int refuses (both were 500s).
    "agreement_id=99999999999999999999999",
    "agreement_id=%C2%B2",
    "dataset_id=%C2%B2&organization_id=%C2%B2",
    "before=%C2%B2",
]


def _get_routes(app: Flask) -> list[str]:
    paths = []
    for rule in app.url_map.iter_rules():
        if (
            "GET" in (rule.methods or set())
            and not rule.arguments
            and not rule.rule.startswith("/static")
            and "logout" not in rule.rule
        ):
            paths.append(rule.rule)
    return sorted(set(paths))


@pytest.mark.parametrize("role", ["admin", "compliance", "analyst"])
def test_absurd_query_strings_on_every_page_are_never_a_5xx(
    app: Flask, db: Session, people: People, read_world: ReadWorld, role: str
) -> None:
    """Every GET route without path arguments, pages and API alike, with absurd page numbers
    and sizes, unknown sort keys and directions, invalid UTF-8 and NUL in the query string,
    as three roles that between them see every page. Proves: each answer is below 500 (a
    4xx for what it refuses); the API's 4xx answers are JSON with a message."""
    token = api_token(db, getattr(people, role))
    browser = Browser(app.test_client())
    browser.login(getattr(people, role).email, PASSWORD)
    bad: list[tuple[str, str]] = []
    for path in _get_routes(app):
        for query in ODD_QUERIES:
            url = f"{path}?{query}"
            try:  # under TESTING an unhandled error propagates: it would be a 500
                if path.startswith("/api/"):
                    response = app.test_client().get(
                        url, headers={"Authorization": f"Bearer {token}"}
                    )
                    if response.status_code >= 400 and response.mimetype == "application/json":
                        assert response.get_json()["message"]
                else:
                    response = browser.get(url)
            except Exception as error:
                bad.append((url, repr(error)[:120]))
                continue
            if response.status_code >= 500:
                bad.append((url, str(response.status_code)))
    assert bad == [], "\n".join(f"{u}: {e}" for u, e in bad)


@pytest.mark.parametrize(
    "path",
    [
        "/login",
        "/agreements/new",
        "/datasets/new",
        "/tokens/",
        "/access/requests/new?agreement_id=1&dataset_id=1",
    ],
)
def test_invalid_utf8_in_form_fields_is_a_4xx_or_ignored_never_a_5xx(
    app: Flask, db: Session, people: People, read_world: ReadWorld, path: str
) -> None:
    """Form bodies whose values (and names) are not UTF-8, or hold NUL and lone surrogates
    percent-encoded. Proves: the answer is below 500 and nothing is stored."""
    browser = Browser(app.test_client())
    browser.login(people.admin.email if "datasets" in path else people.analyst.email, PASSWORD)
    token = csrf_token(browser.client, "/login")
    agreements_before = len(fresh(db).scalars(select(Agreement)).all())
    requests_before = len(fresh(db).scalars(select(AccessRequest)).all())
    for body in (
        b"title=%FF%FE&purpose=%C0%AF&name=%ED%A0%80&csrf_token=" + token.encode(),
        b"%FF=1&justification=%00&email=%FF%40x&password=%FF&csrf_token=" + token.encode(),
        b"name=\xff\xfe\xfd&csrf_token=" + token.encode(),
    ):
        response = browser.client.post(
            path, data=body, content_type="application/x-www-form-urlencoded"
        )
        assert response.status_code < 500, (path, body, response.status_code)
    assert len(fresh(db).scalars(select(Agreement)).all()) == agreements_before
    assert len(fresh(db).scalars(select(AccessRequest)).all()) == requests_before


def test_a_hostile_upload_name_is_recorded_clean(
    app: Flask, db: Session, people: People, steward: Browser, arrests: Dataset
) -> None:
    """A file name with directories, control characters, markup and a formula. Proves: the
    version and the audit event keep only the clean base name, and the page escapes it."""
    name = "../../etc/\x1b[31m<script>alert(1)</script>=1+1.csv"
    stored = upload(steward, arrests, corpus.GOOD.encode(), name)
    assert stored.status_code == 302, _text(stored)[:500]
    version = fresh(db).scalars(select(DatasetVersion)).one()
    assert "/" not in version.source_filename
    assert "\x1b" not in version.source_filename
    assert version.source_filename.endswith("=1+1.csv")
    assert (
        last_event(db, AuditType.DATASET_INGEST).detail["source_filename"]
        == version.source_filename
    )
    _never_raw(_text(steward.get(f"/datasets/{arrests.id}")), "<script>alert(1)</script>")


def test_huge_and_negative_ids_in_paths_and_queries_are_never_a_5xx(
    app: Flask, db: Session, people: People, read_world: ReadWorld
) -> None:
    """Every GET route with path arguments, each argument replaced by a number past 64 bits,
    and the row pages with such an agreement, dataset and page. Proves: 404 or another 4xx,
    never a 5xx (a database integer overflow must not escape as an internal error)."""
    token = api_token(db, people.admin)
    browser = Browser(app.test_client())
    browser.login(people.compliance.email, PASSWORD)
    huge = str(10**25)
    urls = [
        f"/data/view?agreement={huge}&dataset={huge}&purpose=descriptive",
        f"/data/download?agreement={huge}&dataset=1&purpose=descriptive",
        f"{read_world.view_path}&page={huge}",
        f"/api/v1/datasets/{read_world.datasets.arrests.id}/rows?agreement={huge}"
        "&purpose=descriptive",
        "/audit/?before=" + huge,
        "/audit/?agreement=" + huge,
        "/audit/?agreement_id=" + huge,
        "/audit/?dataset_id=" + huge,
    ]
    for rule in app.url_map.iter_rules():
        if "GET" in (rule.methods or set()) and rule.arguments and "static" not in rule.rule:
            url = re.sub(r"<(?:int:)?(\w+)>", huge, rule.rule)
            urls.append(re.sub(r"<\w+:(\w+)>", "x", url))
    bad: list[str] = []
    for url in urls:
        try:
            if url.startswith("/api/"):
                status = (
                    app.test_client()
                    .get(url, headers={"Authorization": f"Bearer {token}"})
                    .status_code
                )
            else:
                status = browser.get(url).status_code
        except Exception as error:
            bad.append(f"{url}: {error!r}"[:200])
            continue
        if status >= 500:
            bad.append(f"{url}: {status}")
    assert bad == [], "\n".join(bad)
