"""The account list: which CRM accounts the Dagster code location syncs, one Meltano run each.

A YAML file (``orchestrate/accounts.yml``, or the file ``CRM_ACCOUNTS_FILE`` names):

    accounts:
    - name: acme                      # the state ID suffix, the Dagster partition, the schema
      provider: pipedrive
      api_token_env: ACME_PIPEDRIVE_TOKEN    # the NAME of the variable holding the token
      settings: {api_url: https://acme.pipedrive.com}

Secrets are named, never written: a key that would hold one (``api_token``, ``client_secret``,
``refresh_token``) is refused with a line that says which ``*_env`` key to use instead.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

PROVIDERS = ("pipedrive", "onpipeline")
# Setting -> the account key naming the environment variable that holds it.
SECRET_SETTINGS = {
    "api_token": "api_token_env",
    "client_id": "client_id_env",
    "client_secret": "client_secret_env",
    "refresh_token": "refresh_token_env",
}
# A name is a state ID suffix, a Dagster partition key and a PostgreSQL schema: keep it plain.
ACCOUNT_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
KNOWN_KEYS = {"name", "provider", "schema", "settings", *SECRET_SETTINGS.values()}


class AccountListError(ValueError):
    """The account list cannot be used; the message says what to change."""


@dataclass(frozen=True)
class Account:
    name: str
    provider: str
    # setting -> name of the environment variable that holds its value
    secret_env: Mapping[str, str] = field(default_factory=dict)
    # every other tap-crm setting, as written (api_url, start_date, timezone ...)
    settings: Mapping[str, Any] = field(default_factory=dict)
    schema: str = ""

    @property
    def load_schema(self) -> str:
        return self.schema or self.name

    def tap_env(self, environ: Mapping[str, str]) -> dict[str, str]:
        """The account's tap-crm settings as Meltano reads them: TAP_CRM_<SETTING> variables."""
        env = {"TAP_CRM_PROVIDER": self.provider}
        for setting, value in self.settings.items():
            env[f"TAP_CRM_{setting.upper()}"] = (
                value if isinstance(value, str) else json.dumps(value)
            )
        for setting, variable in self.secret_env.items():
            if not environ.get(variable):
                raise AccountListError(
                    f"account {self.name}: the variable {variable} ({setting}) is not set; "
                    f"set it where the Dagster run executes"
                )
            env[f"TAP_CRM_{setting.upper()}"] = environ[variable]
        return env


def _account(entry: Any, where: str) -> Account:
    if not isinstance(entry, dict):
        raise AccountListError(f"{where}: an account is a mapping with name and provider")
    name = entry.get("name")
    if not isinstance(name, str) or not ACCOUNT_NAME.match(name):
        raise AccountListError(
            f"{where}: name {name!r} must be lower-case letters, digits and _ "
            f"(it is the state ID suffix and the schema)"
        )
    for setting, env_key in SECRET_SETTINGS.items():
        if setting in entry or setting in (entry.get("settings") or {}):
            raise AccountListError(
                f"account {name}: do not write {setting} in the account list; "
                f"put it in an environment variable and name it with {env_key}"
            )
    unknown = sorted(set(entry) - KNOWN_KEYS)
    if unknown:
        raise AccountListError(
            f"account {name}: unknown key {unknown[0]!r}; known: {', '.join(sorted(KNOWN_KEYS))}"
        )
    provider = entry.get("provider")
    if provider not in PROVIDERS:
        raise AccountListError(
            f"account {name}: provider {provider!r} must be one of {', '.join(PROVIDERS)}"
        )
    secret_env = {
        setting: str(entry[env_key])
        for setting, env_key in SECRET_SETTINGS.items()
        if entry.get(env_key)
    }
    if "api_token" not in secret_env and "client_id" not in secret_env:
        raise AccountListError(
            f"account {name}: name its credentials: api_token_env, or (Pipedrive OAuth) "
            f"client_id_env, client_secret_env and settings.oauth_token_file"
        )
    settings = entry.get("settings") or {}
    if not isinstance(settings, dict):
        raise AccountListError(f"account {name}: settings must be a mapping of tap-crm settings")
    schema = str(entry.get("schema") or "")
    if schema and not ACCOUNT_NAME.match(schema):
        raise AccountListError(f"account {name}: schema {schema!r} must look like a name")
    return Account(name, str(provider), secret_env, dict(settings), schema)


def parse_accounts(document: Any, where: str = "account list") -> list[Account]:
    entries = (document or {}).get("accounts") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise AccountListError(f"{where}: expected a top-level `accounts:` list")
    accounts = [_account(entry, f"{where} entry {i + 1}") for i, entry in enumerate(entries)]
    names = [account.name for account in accounts]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise AccountListError(f"{where}: account {duplicates[0]} is listed twice")
    return accounts


def default_accounts_file() -> Path:
    return Path(os.environ.get("CRM_ACCOUNTS_FILE") or Path(__file__).with_name("accounts.yml"))


def load_accounts(path: Path | None = None) -> list[Account]:
    path = path or default_accounts_file()
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise AccountListError(f"cannot read the account list {path}: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise AccountListError(f"{path} is not valid YAML: {error}") from None
    return parse_accounts(document, str(path))
