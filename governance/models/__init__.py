"""Typed SQLAlchemy models, one module per noun; importing this package registers them all.

Import names from their own modules (`governance.models.user`); this file only makes sure
every table is on the metadata, for Alembic and for the relationship registry.
"""

from governance.models import (  # noqa: F401
    access,
    account_link,
    agreement,
    agreement_obligations,
    agreement_parts,
    analysis,
    analysis_kind,
    audit,
    dataset,
    destruction,
    incident,
    law,
    organization,
    output,
    role_change,
    session,
    token,
    user,
)
