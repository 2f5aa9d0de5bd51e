"""Who may take an output's files away, and who may read figures not yet released inside the
service: the one rule behind every download of an output's PDF and CSV (the output's own routes
and the analysis run's, which hand out the output's files) and behind the run page's figures.

Taking the files:
* output checkers and privacy officers independent of the project, in every state: checking
  is reading. One who produced or corrected the output or is named in the agreement's
  personnel may not check it (authz.rules.independent_of_the_project), so takes the files as
  the project team does: a role must not open what the team's own rule keeps closed;
* the provider's partner reviewers from the preview on: they must see what they preview;
* the project team once the output is released, and, after the agreement stopped being in
  force (terminated, or past its expiry date), only what was released before it ended. What
  was released while the agreement was in force stays the team's: it was cleared by two
  checkers and the provider, and the agreement keeps the right to publish research products
  after it ends (decision 16 in docs/decisions/outputs.md). Whatever is released later never
  leaves to the team: nobody holds the agreement's permission any more.

Reading figures not yet released inside the service (the run page, the output page and
their API answers) is the secure environment: the project team may while the agreement is in
force and they hold a current grant for the run's purpose under it, a grant the data door
would read with now; checkers and privacy officers independent of the project always, and the
provider's partner reviewers from the preview on. What the team may take away as files
(released while the agreement was in force) it may also read.

Every refused download is a 403 with the reason; withheld figures leave the rest of the page
(the output's state, its checks, its flags and their answers). Both are recorded as a denied
event naming the rule.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.access.models import Grant
from governance.agreements.endings import expiry_moment
from governance.agreements.models import Agreement, AgreementStatus
from governance.audit import service as audit
from governance.audit.models import AuditType
from governance.identity.actors import Actor
from governance.kernel.errors import NotFound, PermissionDenied
from governance.outputs.common import (
    get_visible,
    is_checker,
    is_independent,
    is_partner,
    is_team,
    record_output_event,
    refusal,
)
from governance.outputs.lifecycle import PARTNER_SEES, TEAM_DOWNLOADS, state_of
from governance.outputs.models import Output

FILE_KINDS = {"pdf": "application/pdf", "csv": "text/csv"}
CLAUSE_TERM = "term.expiry_date"


@dataclass(frozen=True)
class Download:
    filename: str
    content: bytes
    sha256: str
    mimetype: str


@dataclass(frozen=True)
class Refusal:
    """Why someone may not have something: the rule recorded and the sentence they read."""

    rule: str
    message: str
    clause: str | None = None


def ended_at(agreement: Agreement, now: dt.datetime) -> dt.datetime | None:
    """When the agreement stopped being in force; None while it is. An active agreement past
    its expiry date has ended even before the expiry job marks it expired."""
    if agreement.ended_at is not None:
        return agreement.ended_at
    version = agreement.current_version
    if agreement.status == AgreementStatus.ACTIVE and version is not None:
        end = expiry_moment(version)
        return end if now >= end else None
    return now  # never in force (outputs exist only under agreements that were)


def _ended(agreement: Agreement, end: dt.datetime) -> str:
    """ "Agreement DUA-2026-001 is terminated since 2026-12-07" and the like."""
    status = AgreementStatus(agreement.status)
    if agreement.ended_at is not None:
        return f"Agreement {agreement.reference} is {status.value} since {end:%Y-%m-%d}"
    if status == AgreementStatus.ACTIVE:
        last_day = (end - dt.timedelta(days=1)).date()
        return f"Agreement {agreement.reference} expired after {last_day.isoformat()}"
    return f"Agreement {agreement.reference} is {status.value}, not in force"


def file_refusal(by: Actor, output: Output, now: dt.datetime) -> Refusal | None:
    """None if `by` may take the output's PDF and CSV now, else why not."""
    if is_checker(by) and is_independent(by, output):
        return None
    state = state_of(output)
    if is_partner(by, output):
        if state in PARTNER_SEES:
            return None
        return Refusal(
            "partner-preview",
            f"The provider's partner reviewers get the files of {output.reference} from the "
            f"preview on; it is {state.value.replace('_', ' ')}.",
        )
    if not is_team(by, output):
        return Refusal(
            "output-download",
            "The files are for checkers, the provider's partner reviewers during and after "
            "the preview, and the project team once the output is released.",
        )
    if state not in TEAM_DOWNLOADS:
        return Refusal(
            "released-only",
            f"The project team gets the files of {output.reference} once it is released, after "
            "two output checks and the provider's preview; it is "
            f"{state.value.replace('_', ' ')}. Its figures can be read in the service.",
        )
    end = ended_at(output.agreement, now)
    if end is not None and (output.released_at is None or output.released_at > end):
        return Refusal(
            "agreement-in-force",
            f"{_ended(output.agreement, end)}, before {output.reference} was released: its "
            "files are not handed to the project team.",
            CLAUSE_TERM,
        )
    return None


def correction_refusal(output: Output, now: dt.datetime) -> Refusal | None:
    """None while the output's agreement is in force, else why its team may no longer correct
    it: a correction is new work on the agreement's data, and after the end nobody on the team
    holds the agreement's permission any more (what was released before stays theirs)."""
    end = ended_at(output.agreement, now)
    if end is None:
        return None
    return Refusal(
        "agreement-in-force",
        f"{_ended(output.agreement, end)}: the project team no longer corrects {output.reference}.",
        CLAUSE_TERM,
    )


def may_download(by: Actor, output: Output, now: dt.datetime) -> bool:
    return file_refusal(by, output, now) is None


def download(
    session: Session, *, output_id: int, kind: str, by: Actor, now: dt.datetime
) -> Download:
    """The PDF or CSV for someone allowed it now; recorded before it is sent, and a refusal
    too (403; 404 to someone who may not see the output, as for a missing id)."""
    if kind not in FILE_KINDS:
        raise NotFound("Outputs have a PDF and a CSV file only.")
    output = get_visible(session, output_id, by=by, event=AuditType.OUTPUT_DOWNLOAD)
    refused = file_refusal(by, output, now)
    if refused is not None:
        denied = refusal(AuditType.OUTPUT_DOWNLOAD, output.id, output, refused.rule)
        denied["detail"] = {
            "file": kind,
            "state": state_of(output).value,
            "reason": refused.message,
        }
        if refused.clause:
            denied["clause"] = refused.clause
        raise PermissionDenied(refused.message, clause=refused.clause, audit=denied)
    content = output.pdf if kind == "pdf" else output.csv
    digest = output.pdf_sha256 if kind == "pdf" else output.csv_sha256
    record_output_event(
        session,
        AuditType.OUTPUT_DOWNLOAD,
        by=by,
        output=output,
        detail={"file": kind, "sha256": digest, "state": state_of(output).value},
    )
    return Download(
        f"{output.reference.lower()}-r{output.revision}.{kind}", content, digest, FILE_KINDS[kind]
    )


def figures_refusal(
    session: Session, by: Actor, agreement: Agreement, purpose: str, now: dt.datetime
) -> Refusal | None:
    """None if `by` is in the secure environment for the purpose now (the agreement in force
    and a current grant for the purpose under it), else why not. A current grant is one the
    data door would read with now (`Grant.works_at`): a lapsed condition, such as the
    holder's training, stops it at once, before the conditions job pauses it."""
    end = ended_at(agreement, now)
    if end is not None:
        return Refusal(
            "agreement-in-force",
            f"{_ended(agreement, end)}: figures not released through output checking are no "
            "longer shown to the project team. A released output's files stay available from "
            "its output page.",
            CLAUSE_TERM,
        )
    current = session.scalar(
        select(Grant.id)
        .where(
            Grant.user_id == by.id,
            Grant.agreement_id == agreement.id,
            Grant.purpose == purpose,
            Grant.works_at(now),
        )
        .limit(1)
    )
    if current is None:
        return Refusal(
            "current-grant",
            f"You hold no current grant for {purpose} analyses under agreement "
            f"{agreement.reference}: figures not released through output checking are shown "
            "only to analysts who do.",
            "access.valid_until",
        )
    return None


def figures_withheld(
    session: Session,
    by: Actor,
    *,
    agreement: Agreement,
    purpose: str,
    independent: bool,
    now: dt.datetime,
    view: dict[str, Any],
) -> str | None:
    """None if figures not yet released may be shown to `by` in a view now (`view`: the
    event type and target of the page or answer that would show them), else the reason,
    recorded once as a denied event of that view naming the rule, in the caller's
    transaction. Checkers and privacy officers independent of the project (`independent`:
    authz.rules.independent_of_the_project) always may: checking is reading; anyone else
    only in the secure environment."""
    if is_checker(by) and independent:
        return None
    refused = figures_refusal(session, by, agreement, purpose, now)
    if refused is None:
        return None
    audit.record_refusal(
        session,
        {
            **view,
            "rule": refused.rule,
            "clause": refused.clause,
            "now": now,
            "detail": {"part": "figures", "reason": refused.message},
        },
        by=by,
    )
    return refused.message


def output_figures_withheld(
    session: Session, by: Actor, output: Output, now: dt.datetime
) -> str | None:
    """None if the output's figures (its tables, statistics, notes and summary) may be shown
    to `by` now, else the reason, recorded as a denied `output:read` of its figures. Who may
    take its files may read them (independent checkers, the provider's partner reviewers from
    the preview on, the team once it was released while the agreement was in force); the
    team reads figures not yet released only in the secure environment, as on the run page.
    The output's kind is its run's purpose."""
    if file_refusal(by, output, now) is None:
        return None
    return figures_withheld(
        session,
        by,
        agreement=output.agreement,
        purpose=output.kind,
        independent=is_independent(by, output),
        now=now,
        view=refusal(AuditType.OUTPUT_READ, output.id, output),
    )
