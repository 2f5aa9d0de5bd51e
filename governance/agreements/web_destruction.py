"""The destruction certificates' pages: what closing an agreement destroyed, for auditors.

They belong to agreements (destruction is what closing an agreement does) but keep the address
they had under the datasets' pages, /datasets/certificates, so links and bookmarks still work.
"""

from __future__ import annotations

from flask import Blueprint, Response, render_template

from governance.agreements import destruction
from governance.agreements.destruction_model import DestructionCertificate
from governance.identity.web_login import actor, login_required
from governance.kernel.extensions import db_session
from governance.web.paging import paginate

bp = Blueprint("destruction", __name__, url_prefix="/datasets")


@bp.route("/certificates")
@login_required
def certificates() -> str:
    db = db_session()
    destruction.require_certificate_reader(actor())
    page = paginate(
        db,
        destruction.certificates_query(),
        default_sort="date",
        sorts={"date": DestructionCertificate.certified_at, "id": DestructionCertificate.id},
    )
    return render_template("agreements/certificates.html", page=page)


@bp.route("/certificates/<int:certificate_id>.pdf")
@login_required
def certificate_pdf(certificate_id: int) -> Response:
    certificate = destruction.get_certificate(db_session(), certificate_id, by=actor())
    return Response(
        certificate.pdf,
        mimetype="application/pdf",
        headers={
            "Content-Disposition": "attachment; "
            f'filename="destruction-certificate-{certificate.id}.pdf"'
        },
    )
