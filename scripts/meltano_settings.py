"""Regenerate the `settings:` of tap-crm and target-crm in meltano.yml from `--about --format=json`.

    python scripts/meltano_settings.py          rewrite meltano.yml between the generated markers
    python scripts/meltano_settings.py --check  exit 1 when meltano.yml is stale

Meltano does not read `--about`: it knows a plugin's settings only from meltano.yml. Generating
them keeps every setting declared, with its label (the schema's title, else the name in words),
its description, its kind and `sensitive: true` for secrets (Meltano 4 deprecates `kind:
password`), so `meltano config` lists and redacts them. The output depends only on `--about`:
the same declarations give the same bytes, and nothing outside the markers is touched.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
MELTANO_YML = ROOT / "meltano.yml"
PLUGINS = ("tap-crm", "target-crm")


def plugin_executable(plugin: str) -> str:
    beside = Path(sys.executable).parent / plugin
    return str(beside) if beside.exists() else plugin


def about_json(plugin: str) -> dict[str, Any]:
    result = subprocess.run(
        [plugin_executable(plugin), "--about", "--format=json"],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"{plugin} --about failed: {result.stderr.strip()[-500:]}")
    about: dict[str, Any] = json.loads(result.stdout)
    return about


def kind_of(schema: dict[str, Any]) -> str:
    """Meltano's setting kind for a JSON Schema property."""
    if "enum" in schema:
        return "options"
    types = schema.get("type", "string")
    types = [t for t in ([types] if isinstance(types, str) else types) if t != "null"]
    first = types[0] if types else "string"
    if first == "string" and schema.get("format") == "date-time":
        return "date_iso8601"
    if not types and ("anyOf" in schema or "oneOf" in schema):
        return "object"
    return {"number": "decimal"}.get(first, first)


# Words a label spells the way the APIs' documents do, not in title case.
LABEL_WORDS = {
    "api": "API",
    "url": "URL",
    "id": "ID",
    "ids": "IDs",
    "oauth": "OAuth",
    "uri": "URI",
    "2s": "2 s",
}


def label_of(name: str, schema: dict[str, Any]) -> str:
    """The setting's label: the schema's title, else its name in words (`api_url` -> API URL)."""
    if schema.get("title"):
        return str(schema["title"])
    words = [LABEL_WORDS.get(word, word) for word in name.split("_")]
    first = words[0] if words[0] in LABEL_WORDS.values() else words[0].capitalize()
    return " ".join([first, *words[1:]])


def meltano_setting(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    setting: dict[str, Any] = {"name": name, "label": label_of(name, schema)}
    setting["kind"] = kind_of(schema)
    if schema.get("description"):
        setting["description"] = " ".join(str(schema["description"]).split())
    if schema.get("secret"):
        setting["sensitive"] = True
    if "default" in schema:
        setting["value"] = schema["default"]
    if "enum" in schema:
        setting["options"] = [{"label": str(v), "value": v} for v in schema["enum"] if v]
    return setting


def settings_yaml(plugin: str, indent: str) -> str:
    properties = about_json(plugin)["settings"].get("properties", {})
    settings = [meltano_setting(name, schema) for name, schema in properties.items()]
    text = yaml.safe_dump({"settings": settings}, sort_keys=False, width=100, allow_unicode=True)
    return "".join(indent + line + "\n" for line in text.splitlines())


def render(document: str, plugin: str) -> str:
    start = re.search(rf"^( *)# >>> settings of {re.escape(plugin)}: generated.*\n", document, re.M)
    end = re.search(rf"^ *# <<< settings of {re.escape(plugin)}\n", document, re.M)
    if not start or not end or end.start() < start.end():
        raise SystemExit(f"meltano.yml has no generated-settings markers for {plugin}")
    block = settings_yaml(plugin, start.group(1))
    return document[: start.end()] + block + document[end.start() :]


def regenerate(document: str) -> str:
    for plugin in PLUGINS:
        document = render(document, plugin)
    return document


def main(argv: list[str]) -> int:
    current = MELTANO_YML.read_text(encoding="utf-8")
    wanted = regenerate(current)
    if "--check" in argv:
        if wanted != current:
            print(
                "meltano.yml settings are stale: run `python scripts/meltano_settings.py`",
                file=sys.stderr,
            )
            return 1
        return 0
    if wanted != current:
        MELTANO_YML.write_text(wanted, encoding="utf-8")
        print("meltano.yml settings updated")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
