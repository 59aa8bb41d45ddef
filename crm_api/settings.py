"""The settings tap-crm and target-crm share, declared once (both ``--about`` outputs, the
README's settings tables and meltano.yml come from these declarations).

``shared_settings(component)`` gives the declarations in the order each component lists them;
a description fits both components unless a sentence must differ, and then the difference is
spelt out here (``for_component``), as are the few defaults that still differ (the tap reads
long lists, the target writes one record a request). ``RENAMED_SETTINGS`` keeps the old names
of settings that were renamed so that tap and target call them the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from jsonschema.validators import validator_for
from singer_sdk import typing as th

from crm_api.onpipeline import REQUESTS_PER_MINUTE

Component = Literal["tap", "target"]

PROVIDER_NAMES = ("onpipeline", "pipedrive")

# Old name -> new name of a setting the target once called differently from the tap. A config
# that still uses the old name gets one warning line naming the new one (crm_api.cli), and the
# target uses its value until the config is changed (``with_renamed_settings``).
RENAMED_SETTINGS: Mapping[str, str] = {
    "requests_per_minute": "onpipeline_requests_per_minute",
}

# The defaults that differ: the tap's list requests may take long on a big account and are
# safe to repeat; the target's writes are retried fewer times, each create being looked for in
# the CRM before it is sent again.
DEFAULT_TRIES: Mapping[Component, int] = {"tap": 10, "target": 6}
DEFAULT_TIMEOUT_SECONDS: Mapping[Component, int] = {"tap": 120, "target": 60}


def for_component(component: Component, *, tap: str, target: str) -> str:
    """The wording of a sentence that must differ between the two components."""
    return tap if component == "tap" else target


def provider(component: Component) -> th.Property:
    verb = for_component(component, tap="read", target="write")
    return th.Property(
        "provider",
        th.StringType,
        required=True,
        allowed_values=list(PROVIDER_NAMES),
        description=f"Which CRM to {verb}: `pipedrive` or `onpipeline`.",
    )


API_TOKEN = th.Property(
    "api_token",
    th.StringType,
    secret=True,
    description="The API token (Pipedrive: Settings > Personal preferences > API; "
    "Onpipeline: the account's API token, one that may write for target-crm).",
)

API_URL = th.Property(
    "api_url",
    th.StringType,
    description="Base URL of the API. Default: the provider's public API. Set it to a "
    "Pipedrive company domain, or to a crm-sandbox URL to try things safely.",
)

PIPEDRIVE_OAUTH: list[th.Property] = [
    th.Property(
        "client_id",
        th.StringType,
        description="Pipedrive OAuth: the app's client id (instead of api_token).",
    ),
    th.Property(
        "client_secret",
        th.StringType,
        secret=True,
        description="Pipedrive OAuth: the app's client secret.",
    ),
    th.Property(
        "refresh_token",
        th.StringType,
        secret=True,
        description="Pipedrive OAuth: the refresh token from `crm-oauth` (needed only until "
        "oauth_token_file holds one).",
    ),
    th.Property(
        "oauth_token_file",
        th.StringType,
        description="Pipedrive OAuth: where the current refresh token is kept. Pipedrive may "
        "hand out a new refresh token on every refresh; tap and target write it here and read "
        "it on the next run, so it wins over refresh_token. A file (mode 0600; `crm-oauth` "
        "creates it; tap and target may share one), or a postgresql:// URI shared by every "
        "machine running the account (add #<account> when one app serves several companies; "
        "see docs/shared-stores.md). Required with OAuth.",
    ),
    th.Property(
        "oauth_url",
        th.StringType,
        description="Pipedrive OAuth server. Default: https://oauth.pipedrive.com, or api_url "
        "when api_url is not a pipedrive.com host (e.g. crm-sandbox).",
    ),
]


def max_concurrent_requests(component: Component) -> th.Property:
    which = for_component(
        component,
        tap="Pipedrive: requests in flight at once for per-parent streams (followers changelogs).",
        target="Requests in flight at once (all streams together).",
    )
    # The target's writes wait on the API one round trip each; at 100 ms and a slow tail, 8 in
    # flight leave a 40-per-2-s budget partly idle (updates ran at 1.12x the rate floor, 16
    # at 1.06x: benchmarks/target_persons.py). The tap's per-parent reads are lighter.
    default = 16 if component == "target" else 8
    return th.Property(
        "max_concurrent_requests",
        th.IntegerType(minimum=1, maximum=32),
        default=default,
        description=f"{which} They all share one request budget, so more never exceeds the "
        "API's rate limit.",
    )


MAX_REQUESTS_PER_2S = th.Property(
    "max_requests_per_2s",
    th.IntegerType(minimum=1),
    description="Pipedrive: your own ceiling on requests per 2-second window, e.g. to leave "
    "room for other integrations on the same token. Default: the limit the API announces "
    "in its x-ratelimit-limit header.",
)


def token_caps(component: Component) -> list[th.Property]:
    """``max_tokens_per_run`` and ``daily_budget_share``: the Pipedrive client counts the
    tokens of every request, the tap's reads and the target's writes alike."""
    stops = for_component(
        component,
        tap="the run stops with a resumable state, says so in one line and exits with status 3; "
        "the next run continues where it stopped.",
        target="the load stops before sending it, says so in one line and exits with status 1 "
        "(what was written stays written).",
    )
    return [
        th.Property(
            "max_tokens_per_run",
            th.IntegerType(minimum=1),
            description="Pipedrive: the most daily-budget tokens one run may spend (the budget "
            f"is shared by every integration of the company). When the next request would pass "
            f"it, {stops} Default: no cap. See docs/costs.md.",
        ),
        th.Property(
            "daily_budget_share",
            th.NumberType(minimum=0, maximum=1),
            description="Pipedrive: the share (e.g. 0.5) of the tokens the API says are left of "
            "the day (x-daily-ratelimit-token-remaining at the run's first request) that one run "
            "may spend; stops as max_tokens_per_run does (the lower of the two wins). Ignored "
            "when the API sends no such header. Default: no cap.",
        ),
    ]


def max_request_tries(component: Component) -> th.Property:
    resend = for_component(
        component, tap="", target=" A create is looked for in the CRM before each resend."
    )
    return th.Property(
        "max_request_tries",
        th.IntegerType(minimum=1),
        default=DEFAULT_TRIES[component],
        description="Tries per request, the first included, before a 429, a 5xx or a dropped "
        f"connection ends the run (waits: Retry-After on 429, else 1, 2, 4 ... 60 s).{resend}",
    )


def request_timeout(component: Component) -> th.Property:
    # The tap's SDK streams take whole seconds (RESTStream.timeout is an int); the target's
    # writes accept fractions.
    seconds: th.IntegerType | th.NumberType = (
        th.IntegerType(minimum=1) if component == "tap" else th.NumberType(exclusive_minimum=0)
    )
    resend = for_component(
        component,
        tap="",
        target=" A create that times out is looked for in the CRM (after twice this long) "
        "before it is sent again, never blindly resent.",
    )
    return th.Property(
        "request_timeout",
        seconds,
        default=DEFAULT_TIMEOUT_SECONDS[component],
        description=f"Seconds to wait for one response.{resend}",
    )


ONPIPELINE_REQUESTS_PER_MINUTE = th.Property(
    "onpipeline_requests_per_minute",
    th.IntegerType(minimum=0),
    default=REQUESTS_PER_MINUTE,
    description="Onpipeline: requests per minute to allow (the vendor's published limit is 60 "
    "per account; 0 = no pacing, e.g. against crm-sandbox).",
)


def explicitly_set(config: Mapping[str, Any], schema: Mapping[str, Any], name: str) -> bool:
    """Whether ``config`` gives ``name`` a value of its own: the SDK writes each declared
    default into the config, so a value equal to the default counts as not given."""
    declared = (schema.get("properties") or {}).get(name) or {}
    return name in config and config[name] != declared.get("default")


def with_renamed_settings(config: Mapping[str, Any], schema: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` with each old setting name's value under its new name, unless the config
    gives the new name a value of its own (``schema``: the plugin's config schema); the old
    names stay, for ``crm_api.cli.unknown_settings`` to report."""
    renamed = dict(config)
    for old, new in RENAMED_SETTINGS.items():
        if old in config and not explicitly_set(config, schema, new):
            renamed[new] = config[old]
    return renamed


def renamed_setting_problems(config: Mapping[str, Any], schema: Mapping[str, Any]) -> list[str]:
    """One line per old setting name whose value the new name's declaration refuses (the SDK
    checks only the declared names, and an old name's value is used in its place)."""
    problems = []
    for old, new in RENAMED_SETTINGS.items():
        declared = (schema.get("properties") or {}).get(new)
        if old not in config or declared is None or explicitly_set(config, schema, new):
            continue
        for error in validator_for(declared)(declared).iter_errors(config[old]):
            problems.append(
                f"setting {old} (now called {new}): {error.message}; give {new} a valid value"
            )
            break
    return problems
