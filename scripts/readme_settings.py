"""Regenerate the README's settings tables from `tap-crm/target-crm --about --format=markdown`.

    python scripts/readme_settings.py          rewrite README.md between the about markers
    python scripts/readme_settings.py --check  exit 1 (and say which) when README.md is stale

The SDK's markdown starts at `#` (the plugin's title); the README holds it under
`## Settings` > `### <plugin>`, so the title is dropped and every other heading moves
down two levels, which keeps the README's outline intact.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PLUGINS = ("tap-crm", "target-crm")
DEMOTE_BY = 2


def plugin_executable(plugin: str) -> str:
    """The plugin's console script from the interpreter's own environment (else PATH)."""
    beside = Path(sys.executable).parent / plugin
    return str(beside) if beside.exists() else plugin


def about_markdown(plugin: str) -> str:
    result = subprocess.run(
        [plugin_executable(plugin), "--about", "--format=markdown"],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"{plugin} --about failed: {result.stderr.strip()[-500:]}")
    return result.stdout


def demote(markdown: str) -> str:
    """Drop the `# title` line and push the other headings two levels down."""
    lines: list[str] = []
    in_code = False
    for line in markdown.strip().splitlines():
        if line.startswith("```"):
            in_code = not in_code
        heading = None if in_code else re.match(r"^(#+)\s", line)
        if heading and len(heading.group(1)) == 1:
            continue  # the README names the plugin in its own heading
        if heading:
            line = "#" * DEMOTE_BY + line
        lines.append(line.rstrip())
    return "\n".join(lines).strip() + "\n"


def render(readme: str, plugin: str, body: str) -> str:
    start, end = f"<!-- about:{plugin}:start -->", f"<!-- about:{plugin}:end -->"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    if not pattern.search(readme):
        raise SystemExit(f"README.md has no {start} ... {end} markers")
    block = f"{start}\n\n{body}\n{end}"
    return pattern.sub(lambda _: block, readme, count=1)


def regenerate(readme: str) -> str:
    for plugin in PLUGINS:
        readme = render(readme, plugin, demote(about_markdown(plugin)))
    return readme


def main(argv: list[str]) -> int:
    current = README.read_text(encoding="utf-8")
    wanted = regenerate(current)
    if "--check" in argv:
        if wanted != current:
            print(
                "README.md settings tables are stale: run `python scripts/readme_settings.py`",
                file=sys.stderr,
            )
            return 1
        return 0
    if wanted != current:
        README.write_text(wanted, encoding="utf-8")
        print("README.md settings tables updated")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
