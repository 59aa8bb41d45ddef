"""The Dagster code location of crm-singer: one Meltano run per CRM account (docs/many-accounts.md).

    dagster dev -m orchestrate

loads ``defs``: the accounts of ``orchestrate/accounts.yml`` (or ``CRM_ACCOUNTS_FILE``), the
Meltano project of this repository (or ``CRM_MELTANO_PROJECT_DIR``).
"""

from __future__ import annotations

from orchestrate.accounts import load_accounts
from orchestrate.definitions import build_definitions, project_from_env

defs = build_definitions(load_accounts(), project_from_env())
