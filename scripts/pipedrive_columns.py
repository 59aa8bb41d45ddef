"""Regenerate docs/columns.md (every column of every Pipedrive stream) from schemas/pipedrive.

    python scripts/pipedrive_columns.py          rewrite docs/columns.md
    python scripts/pipedrive_columns.py --check  exit 1 when docs/columns.md is stale

Each column says where it comes from: a default field of the API, an ``include_fields`` extra
(asked for only while the ``include_fields`` setting allows it; crm_api.pipedrive_include), or
the raw custom-field hash. The readable custom-field columns depend on the account, so the
page explains how they are named instead of listing them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from crm_api.pipedrive_include import INCLUDE_FIELDS, NAMED_ONLY, WRITABLE  # noqa: E402

SCHEMAS = ROOT / "schemas" / "pipedrive"
PAGE = ROOT / "docs" / "columns.md"
CUSTOM_STREAMS = ("deals", "persons", "organizations", "activities", "products", "leads")

INTRO = """\
# Pipedrive columns

Every column tap-crm emits per Pipedrive stream, and where it comes from. Generated from
`schemas/pipedrive/*.json` by `scripts/pipedrive_columns.py` (a test fails when this page is
stale); the stream list and how each stream reads is in [streams.md](streams.md).

Where a column comes from:

- **default**: a field the API sends in every record.
- **include_fields extra**: a field API v2 sends only when the list is asked for it by name
  (`include_fields=...`). API v1 sent most of them by default, so connectors built on v1 had
  them; tap-crm asks for them, see below.
- **custom fields (raw)**: `custom_fields`, the account's custom-field values keyed by their
  40-character field codes.
- **custom field columns**: one typed column per custom field of the account, named from its
  label (`Lead score` -> `lead_score`), enum/set fields with `<name>_label(s)`; planned at
  discovery from the fields endpoints (leads take the deal fields), listed with the
  description `Custom field '<label>' (<type>, <code>)` in the catalog. Switch them off with
  `custom_field_columns: false`. See [streams.md](streams.md#pipedrive).

## The include_fields extras: cost and how to switch them off

The deals, persons, organizations and activities lists are asked for their extras in the
same request that reads the records: no extra request. The API documents a token cost per
request (a v2 list costs 10 tokens whatever its size or its parameters) and no extra cost,
and no limit on how many extras one request may name (unlike `custom_fields=`, at most 15,
which tap-crm never sends), so all of them go in one request.

The tap setting `include_fields` chooses them:

- `all` (default): every extra of the entity, except `{named_only}` (they need the
  Campaigns app; name them to get them).
- `none`: no extra; none is asked for and none is in the schemas.
- a list, e.g. `["won_deals_count", "people_count"]`, or the same comma-separated: those
  names, for each entity that has them; a name no entity has stops the run with one line.

```yaml
# meltano.yml, tap-crm config
include_fields: none
```

target-crm writes the writable extras (`{writable}`) and never sends the others (counts, ids
and times Pipedrive computes): such a column is skipped with one log line saying it is a
read-only include_fields extra.
"""


def type_of(prop: dict[str, Any]) -> str:
    kinds = prop.get("type", [])
    kinds = [kinds] if isinstance(kinds, str) else list(kinds)
    shown = [k for k in kinds if k != "null"] or ["any"]
    text = " or ".join(shown)
    if prop.get("format"):
        text += f" ({prop['format']})"
    return text


def origin_of(stream: str, name: str) -> str:
    if name in INCLUDE_FIELDS.get(stream, ()):
        if name in NAMED_ONLY:
            return "include_fields extra (only when named)"
        return "include_fields extra"
    if name == "custom_fields":
        return "custom fields (raw)"
    return "default"


def cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def stream_section(stream: str, schema: dict[str, Any]) -> list[str]:
    lines = [f"### `{stream}`", ""]
    lines += ["| Column | Type | Comes from | Description |", "|---|---|---|---|"]
    for name, prop in schema.get("properties", {}).items():
        description = str(prop.get("description") or "")
        description = description.removeprefix("include_fields extra (sent only when asked): ")
        row = (f"`{name}`", type_of(prop), origin_of(stream, name), cell(description))
        lines.append("| " + " | ".join(row) + " |")
    if stream in CUSTOM_STREAMS:
        lines.append(
            "| *one per custom field* | by field type | custom field columns | named from "
            "the label; see above |"
        )
    return [*lines, ""]


def render() -> str:
    writable = sorted({name for names in WRITABLE.values() for name in names})
    text = INTRO.format(named_only="`, `".join(sorted(NAMED_ONLY)), writable="`, `".join(writable))
    lines = [text, "## Columns per stream", ""]
    first = list(INCLUDE_FIELDS)
    rest = sorted(p.stem for p in SCHEMAS.glob("*.json") if p.stem not in INCLUDE_FIELDS)
    for stream in [*first, *rest]:
        schema = json.loads((SCHEMAS / f"{stream}.json").read_text(encoding="utf-8"))
        lines += stream_section(stream, schema)
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        current = PAGE.read_text(encoding="utf-8") if PAGE.exists() else ""
        if current != text:
            print(f"{PAGE.relative_to(ROOT)} is stale: run python scripts/pipedrive_columns.py")
            return 1
        return 0
    PAGE.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
