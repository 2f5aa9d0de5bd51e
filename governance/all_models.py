"""Typed SQLAlchemy models, one module per noun; importing this package registers them all.

Import names from their own modules (`governance.identity.models`); this file only makes sure
every table is on the metadata, for Alembic and for the relationship registry.
"""

from governance.access import models as access  # noqa: F401
from governance.agreements import analysis_kind_model as analysis_kind  # noqa: F401
from governance.agreements import destruction_model as destruction  # noqa: F401
from governance.agreements import law_model as law  # noqa: F401
from governance.agreements import models as agreement  # noqa: F401
from governance.agreements import obligations_model as agreement_obligations  # noqa: F401
from governance.agreements import parts_model as agreement_parts  # noqa: F401
from governance.agreements import progress_model as progress  # noqa: F401
from governance.analysis import linkage_model as linkage  # noqa: F401
from governance.analysis import models as analysis  # noqa: F401
from governance.audit import models as audit  # noqa: F401
from governance.committees import models as committees  # noqa: F401
from governance.compliance import models as compliance  # noqa: F401
from governance.datasets import attachment_model as attachment  # noqa: F401
from governance.datasets import cohort_model as cohort  # noqa: F401
from governance.datasets import models as dataset  # noqa: F401
from governance.identity import account_link_model as account_link  # noqa: F401
from governance.identity import group_mapping_model as group_mapping  # noqa: F401
from governance.identity import models as user  # noqa: F401
from governance.identity import organization_model as organization  # noqa: F401
from governance.identity import role_change_model as role_change  # noqa: F401
from governance.identity import scim_model as scim  # noqa: F401
from governance.identity import second_factor_model as second_factor  # noqa: F401
from governance.identity import session_model as session  # noqa: F401
from governance.identity import sso_model as sso  # noqa: F401
from governance.identity import token_model as token  # noqa: F401
from governance.incidents import models as incident  # noqa: F401
from governance.kernel import mail_model as mail  # noqa: F401
from governance.kernel.db import Base
from governance.outputs import models as output  # noqa: F401
from governance.passport import models as passport  # noqa: F401
from governance.reminders import models as reminders  # noqa: F401
from governance.webhooks import models as webhook  # noqa: F401

# The metadata with every table above on it.
METADATA = Base.metadata
