"""The tap's one lookup of its JSON schemas: ``schemas/<provider>/<stream>.json``, read through
the Singer SDK's ``SchemaDirectory`` (one per provider, which caches each parsed file).

In a checkout the files live at the repository root (one place to edit); an installed wheel
carries them as ``tap_crm/schemas`` (pyproject's force-include). Look in both.
"""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

from singer_sdk import SchemaDirectory

_PACKAGE_DIR = Path(__file__).resolve().parent
_CANDIDATES = (_PACKAGE_DIR / "schemas", _PACKAGE_DIR.parent / "schemas")


def schema_dir(provider: str) -> Path:
    for root in _CANDIDATES:
        if (root / provider).is_dir():
            return root / provider
    raise FileNotFoundError(f"no schemas/{provider} directory next to {_PACKAGE_DIR}")


@cache
def schema_source(provider: str) -> SchemaDirectory:
    """The SDK's schema source for one provider's files (streams whose schema never changes
    may use it as ``schema = StreamSchema(schema_source(provider))``)."""
    return SchemaDirectory(schema_dir(provider))


def load_schema(provider: str, stream: str) -> dict[str, Any]:
    """A fresh (mutable) copy of one stream's JSON schema: the streams add custom-field
    columns to theirs, which must not reach the cached one."""
    return copy.deepcopy(schema_source(provider).get_schema(stream))
