"""Every place that reports the chain's time-stamp witnesses says the same thing, in the words
of `governance audit verify`: whether the tokens' signatures were checked against the trusted
CA certificates, and the latest token's own time (read from the token, never from the column
stored beside it). The authority is OpenSSL's `ts` (tests/tsa.py), as in test_witness.py.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable

import pytest
from flask import Flask
from pypdf import PdfReader
from rfc3161_client import decode_timestamp_response
from sqlalchemy.orm import Session

from governance.audit import report as audit_report
from governance.audit.queries import AuditFilter
from governance.compliance import controls
from governance.kernel.extensions import database
from governance.kernel.types import utcnow
from tests.audit import test_witness as witnessing
from tests.audit.conftest import HARFBUZZ, CliInvoker
from tests.audit.test_witness import Intruder, stamp, stamped
from tests.compliance.conftest import open_this_year
from tests.conftest import fresh
from tests.support import People

# The authority (OpenSSL's) and the configuration naming it and its CA file, as there.
tsa = witnessing.tsa
app_config = witnessing.app_config
without_ca = witnessing.without_ca

pytestmark = pytest.mark.filterwarnings(HARFBUZZ)

CHECKED = (
    "heads witnessed by a time-stamping authority match. Each token's signature was checked "
    "against the trusted CA certificates (AUDIT_TSA_CA_FILE); the latest witnessed event"
)
UNCHECKED = (
    "heads carry time-stamp tokens whose imprints match; their signatures were not checked: "
    "set AUDIT_TSA_CA_FILE to check them. The latest token says it witnessed event"
)


def pdf_text(data: bytes) -> str:
    pages = PdfReader(io.BytesIO(data)).pages
    return " ".join(" ".join((page.extract_text() or "") for page in pages).split())


def token_time(token: bytes) -> str:
    at = decode_timestamp_response(token).tst_info.gen_time.astimezone(dt.UTC)
    return f"{at:%Y-%m-%d %H:%M:%S} UTC"


def reports(app: Flask, db: Session, cli: CliInvoker, people: People) -> dict[str, str]:
    """What `audit verify`, the PDF audit report (whose cover the evidence packs share) and
    the compliance controls report (its PDF and its audit-chain measure) say."""
    session = fresh(db)
    engine = database(app).read_engine()
    report = audit_report.build_report(session, engine, AuditFilter())
    session.rollback()
    period = open_this_year(session, people)
    controls_report = controls.build(
        session,
        period_id=period.id,
        fmt="pdf",
        by=people.compliance,
        now=utcnow(),
        verification=report.verification,
        settings=app.config,
    )
    session.commit()
    return {
        "cli": " ".join(cli("audit", "verify").output.split()),
        "audit report": pdf_text(audit_report.render_report(report)),
        "controls measure": controls_report.measures["audit_chain"],
        "controls report": pdf_text(controls.render_controls_pdf(controls_report)),
    }


@pytest.mark.parametrize("ca_file", [True, False], ids=["with-ca", "without-ca"])
def test_every_report_states_whether_the_signatures_were_checked_and_the_tokens_time(
    app: Flask,
    db: Session,
    chain: int,
    cli: CliInvoker,
    people: People,
    without_ca: Callable[..., None],
    ca_file: bool,
) -> None:
    """Before, the reports verified without the CA file whatever the configuration, and the
    PDF covers said only "Intact"."""
    witnessed = stamp(db)
    latest = stamped(db)[-1]
    db.rollback()
    if not ca_file:
        without_ca(app)
    said = f"{witnessed} {CHECKED if ca_file else UNCHECKED} {latest.seq} on "
    said += token_time(latest.token)
    for where, text in reports(app, db, cli, people).items():
        assert said in text, (where, text)
        if ca_file:
            assert "not checked" not in text, where


def test_the_public_register_says_whether_the_latest_token_was_checked(
    app: Flask, db: Session, chain: int, intruder: Intruder, without_ca: Callable[..., None]
) -> None:
    stamp(db)
    latest = stamped(db)[-1]
    db.rollback()
    client = app.test_client()
    shown = client.get("/register/register.json").get_json()["witnessed_head"]
    assert shown["signature_checked"] is True
    assert shown["statement"].startswith(
        "1 head witnessed by a time-stamping authority matches. Each token's signature was "
        "checked against the trusted CA certificates"
    )
    assert token_time(latest.token) in shown["statement"]
    page = client.get("/register/").get_data(as_text=True)
    assert "Each token&#39;s signature was checked against the trusted CA" in page
    without_ca(app)
    shown = client.get("/register/register.json").get_json()["witnessed_head"]
    assert shown["signature_checked"] is False
    assert "its signature was not checked: set AUDIT_TSA_CA_FILE" in shown["statement"]
    page = client.get("/register/").get_data(as_text=True)
    assert "its signature was not checked" in page


@pytest.mark.parametrize(
    ("edit", "ca_file"),
    [
        ("UPDATE audit_timestamp SET head_hash = :zero WHERE seq = :seq", False),
        ("UPDATE audit_timestamp SET token = :broken WHERE seq = :seq", True),
    ],
    ids=["head-edited", "signature-broken"],
)
def test_the_public_register_does_not_call_a_token_that_fails_witnessed(
    app: Flask,
    db: Session,
    chain: int,
    intruder: Intruder,
    without_ca: Callable[..., None],
    edit: str,
    ca_file: bool,
) -> None:
    """Before, the register said "witnessed by an independent time-stamping authority" of
    whatever the stored row held, checking nothing."""
    stamp(db)
    latest = stamped(db)[-1]
    db.rollback()
    broken = latest.token[:-1] + bytes([latest.token[-1] ^ 0x01])  # the signature's last byte
    intruder(edit, zero="0" * 64, broken=broken, seq=latest.seq)
    if not ca_file:
        without_ca(app)
    client = app.test_client()
    shown = client.get("/register/register.json").get_json()["witnessed_head"]
    assert shown["seq"] == latest.seq
    assert f"the time-stamp token for seq {latest.seq}" in shown["fault"] or (
        f"the token for seq {latest.seq}" in shown["fault"]
    )
    assert "statement" not in shown
    page = client.get("/register/").get_data(as_text=True)
    assert "does not check" in page
    assert "witnessed by a time-stamping authority" not in page
    assert client.get("/register/witness.json").status_code == 409


def test_an_edited_stored_time_is_not_what_the_register_shows(
    app: Flask, db: Session, chain: int, intruder: Intruder
) -> None:
    stamp(db)
    latest = stamped(db)[-1]
    db.rollback()
    intruder(
        "UPDATE audit_timestamp SET stamped_at = :moment WHERE seq = :seq",
        moment=dt.datetime(2001, 1, 1, tzinfo=dt.UTC),
        seq=latest.seq,
    )
    shown = app.test_client().get("/register/register.json").get_json()["witnessed_head"]
    assert shown["stamped_at"].startswith(token_time(latest.token)[:10])
    assert "2001-01-01" not in shown["statement"]
