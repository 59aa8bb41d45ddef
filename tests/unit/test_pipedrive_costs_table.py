"""crm_api.pipedrive.endpoint_cost against crm-sandbox's own price list (issue 16).

The sandbox is a second, independent reading of the API's documents; every endpoint must cost
in our table what it costs there, or the run's estimate and its token cap are wrong.
"""

from __future__ import annotations

import pytest

from crm_api import pipedrive as api
from crm_sandbox.pipedrive.routes import ROUTES, Route

EXAMPLE = {"{id}": "12", "{follower_id}": "3", "{lead_id}": "adf21080-0e10-11eb-879b-05d71fb426ec"}


def _example(template: str) -> str:
    for placeholder, value in EXAMPLE.items():
        template = template.replace(placeholder, value)
    return template


@pytest.mark.parametrize(
    "route",
    [r for r in ROUTES if not r.public and "{field_code}" not in r.template],
    ids=lambda r: f"{r.method} {r.template}",
)
def test_every_endpoint_costs_what_the_sandbox_charges(route: Route) -> None:
    path = _example(route.template)
    assert api.endpoint_cost(route.method, path) == route.cost, f"{route.method} {path}"
