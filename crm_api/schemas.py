"""The one lookup of the streams' JSON schemas: ``schemas/<provider>/<stream>.json``, read
through the Singer SDK's ``SchemaDirectory`` (one per provider, which caches each parsed file).
The tap builds its streams from them; the target reads them for the standard column names that
custom-field names must avoid.

In a checkout the files live at the repository root (one place to edit); an installed wheel
carries them as ``tap_crm/schemas`` (pyproject's force-include: data only, nothing of tap_crm
is imported). Look in both.
"""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

from singer_sdk import SchemaDirectory

_ROOT = Path(__file__).resolve().parents[1]
_CANDIDATES = (_ROOT / "tap_crm" / "schemas", _ROOT / "schemas")


def schema_dir(provider: str) -> Path:
    for root in _CANDIDATES:
        if (root / provider).is_dir():
            return root / provider
    raise FileNotFoundError(f"no schemas/{provider} directory under {_ROOT}")


@cache
def schema_source(provider: str) -> SchemaDirectory:
    """The SDK's schema source for one provider's files (streams whose schema never changes
    may use it as ``schema = StreamSchema(schema_source(provider))``)."""
    return SchemaDirectory(schema_dir(provider))


def load_schema(provider: str, stream: str) -> dict[str, Any]:
    """A fresh (mutable) copy of one stream's JSON schema: the streams add custom-field
    columns to theirs, which must not reach the cached one."""
    return copy.deepcopy(schema_source(provider).get_schema(stream))
