"""Where the JSON schemas are: ``schemas/<provider>/<stream>.json``.

In a checkout they live at the repository root (one place to edit); an installed wheel
carries them as ``tap_crm/schemas`` (pyproject's force-include). Look in both.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

_PACKAGE_DIR = Path(__file__).resolve().parent
_CANDIDATES = (_PACKAGE_DIR / "schemas", _PACKAGE_DIR.parent / "schemas")


def schema_dir(provider: str) -> Path:
    for root in _CANDIDATES:
        if (root / provider).is_dir():
            return root / provider
    raise FileNotFoundError(f"no schemas/{provider} directory next to {_PACKAGE_DIR}")


@cache
def _load(provider: str, stream: str) -> str:
    return (schema_dir(provider) / f"{stream}.json").read_text(encoding="utf-8")


def load_schema(provider: str, stream: str) -> dict[str, Any]:
    """A fresh (mutable) copy of one stream's JSON schema."""
    result: dict[str, Any] = json.loads(_load(provider, stream))
    return result
