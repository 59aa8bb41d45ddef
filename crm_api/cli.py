"""What the tap's and the target's command lines share: reading the config files a user gave.

The Singer SDK reads ``--config`` files while it parses the arguments, where a file that is
not JSON ends in a traceback. ``config_file_problem`` finds that first and says it in one line
(the file and the JSON problem; never the file's content, which holds the tokens).
``unknown_settings`` names the settings a config gives that the plugin does not have: a
misspelt one is otherwise ignored without a word, and a renamed one gets its new name.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from crm_api.settings import explicitly_set


def config_file_problem(paths: Iterable[str]) -> str | None:
    """One line for the first ``--config`` file that cannot be used, else None (``ENV``, the
    SDK's marker for environment variables, is no file)."""
    for name in paths:
        if name == "ENV":
            continue
        path = Path(name)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return f"config file {name} does not exist; check the --config path"
        except IsADirectoryError:
            return f"config file {name} is a folder, not a JSON file; check the --config path"
        except OSError as exc:
            return f"config file {name} cannot be read ({exc.strerror}); check its permissions"
        except UnicodeDecodeError:
            return f"config file {name} is not UTF-8 text; save it as a JSON file"
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            # exc.msg and the position only: the text around it may be a token
            return (
                f"config file {name} is not valid JSON ({exc.msg} at line {exc.lineno} "
                f"column {exc.colno}); fix it, e.g. check commas and double quotes"
            )
        if not isinstance(value, dict):
            return f'config file {name} holds JSON that is not an object; write {{"name": value}}'
    return None


def unknown_settings(
    plugin: str,
    config: Mapping[str, Any],
    schema: Mapping[str, Any],
    renamed: Mapping[str, str] | None = None,
) -> list[str]:
    """One warning line per setting of ``config`` that ``schema`` (the plugin's config schema,
    the SDK's built-in settings included) does not declare, with the closest known name.

    ``renamed`` maps the old names of settings the plugin renamed (and still honours) to the
    new ones: such a line names the new one and says whether the old one's value is used."""
    known = sorted(schema.get("properties") or {})
    lines = []
    for name in sorted(set(config) - set(known)):
        new = (renamed or {}).get(name)
        if new is not None and new in known:
            used = (
                f"{new} is set too, so {name} is ignored: remove it"
                if explicitly_set(config, schema, new)
                else f"its value is used for now: rename it to {new} in the config"
            )
            lines.append(f"setting {name!r} of {plugin} is now called {new!r}; {used}")
            continue
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"; did you mean {close[0]}?" if close else f"; `{plugin} --about` lists them"
        lines.append(f"setting {name!r} is not one of {plugin}'s settings and is ignored{hint}")
    return lines
