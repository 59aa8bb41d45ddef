"""tap-crm and target-crm given a config file they cannot use: one line naming the file and
what is wrong, exit non-zero, no traceback (issue 10, defect 7)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.reliability.harness import SECRET_CLIENT_ID, SECRET_CLIENT_SECRET, URL_PASSWORD, run

BAD_FILES = {
    "truncated": (
        '{"provider": "pipedrive", "api_token": "tok-SECRET-4f9b27c1e0",',
        "not valid JSON",
    ),
    "single_quotes": ("{'provider': 'pipedrive'}", "not valid JSON"),
    "a_list": ('["provider", "pipedrive"]', "not an object"),
    "empty": ("", "not valid JSON"),
}


@pytest.mark.parametrize("command", ["tap_crm.tap", "target_crm.target"])
@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_a_config_file_that_is_not_json_is_one_line(
    tmp_path: Path, command: str, case: str
) -> None:
    text, problem = BAD_FILES[case]
    path = tmp_path / "config-bad.json"  # "config-" files may hold secrets: not searched
    path.write_text(text)
    done = run([sys.executable, "-m", command, "--config", str(path)], tmp_path, timeout=60)
    assert done.returncode == 1
    line = done.assert_one_clear_line(str(path), problem)
    assert "SECRET" not in line  # the file's content is never echoed


@pytest.mark.parametrize("command", ["tap_crm.tap", "target_crm.target"])
def test_a_missing_config_file_is_one_line(tmp_path: Path, command: str) -> None:
    missing = tmp_path / "nowhere.json"
    done = run([sys.executable, "-m", command, "--config", str(missing)], tmp_path, timeout=60)
    assert done.returncode == 1
    done.assert_one_clear_line(str(missing), "does not exist")


@pytest.mark.parametrize("option", ["--oauth-url", "--api-url"])
def test_crm_oauth_refuses_plain_http_to_a_remote_host(tmp_path: Path, option: str) -> None:
    command = [
        sys.executable,
        "-m",
        "crm_api.oauth_cli",
        "--client-id",
        SECRET_CLIENT_ID,
        "--client-secret",
        SECRET_CLIENT_SECRET,
        "--token-file",
        str(tmp_path / "token.json"),
        option,
        f"http://user:{URL_PASSWORD}@oauth.example.com",
        "--port",
        "0",
        "--timeout",
        "1",
    ]
    done = run(command, tmp_path, timeout=60)
    assert done.returncode == 1
    done.assert_one_clear_line(option, "https://", "loopback")
    assert "Open this URL" not in done.stdout  # refused before anything is shown or sent
