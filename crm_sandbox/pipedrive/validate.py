"""Request checking in Pipedrive's words: v2 answers bad input with 400
``{"success": false, "error": "Validation failed: ...", "code": "ERR_SCHEMA_VALIDATION_FAILED"}``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from crm_sandbox.core import Response
from crm_sandbox.pipedrive import timefmt
from crm_sandbox.pipedrive.fields import CustomField

ERROR_INFO = "Please check developers.pipedrive.com for more information about Pipedrive API."
HEX40 = re.compile(r"^[0-9a-f]{40}$")
TIME_OF_DAY = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?$")


class Problem(Exception):  # noqa: N818 (an answer, not an error of the sandbox)
    """An API error answer, raised from deep inside a handler."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


def invalid(message: str) -> Problem:
    return Problem(
        Response.json(
            400,
            {
                "success": False,
                "error": f"Validation failed: {message}",
                "code": "ERR_SCHEMA_VALIDATION_FAILED",
            },
        )
    )


def failure(status: int, message: str) -> Problem:
    """The generic (v1 and v2) error envelope."""
    return Problem(
        Response.json(
            status,
            {
                "success": False,
                "error": message,
                "error_info": ERROR_INFO,
                "data": None,
                "additional_data": None,
            },
        )
    )


def feature_off(what: str) -> Problem:
    """A plan without the feature: 403 in the generic envelope, with a machine-readable code."""
    return Problem(
        Response.json(
            403,
            {
                "success": False,
                "error": f"{what} are not available in your current plan",
                "code": "feature_not_enabled",
                "error_info": ERROR_INFO,
                "data": None,
                "additional_data": None,
            },
        )
    )


def not_allowed(key: str) -> Problem:
    return invalid(f"{key}: Parameter '{key}' is not allowed for this request")


# ---- value checkers: (key, value, exists) -> normalised value ---------------------------
Exists = Callable[[str, int], bool]  # (entity, id) -> known?
Checker = Callable[[str, Any, Exists], Any]


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def c_str(key: str, v: Any, _: Exists) -> Any:
    if not isinstance(v, str):
        raise invalid(f"{key}: must be string")
    return v


def nullable(check: Checker) -> Checker:
    return lambda key, v, ex: None if v is None else check(key, v, ex)


def c_int(key: str, v: Any, _: Exists) -> Any:
    if not _is_int(v):
        raise invalid(f"{key}: must be integer")
    return v


def c_num(key: str, v: Any, _: Exists) -> Any:
    if not _is_num(v):
        raise invalid(f"{key}: must be number")
    return v


def c_bool(key: str, v: Any, _: Exists) -> Any:
    if not isinstance(v, bool):
        raise invalid(f"{key}: must be boolean")
    return v


def c_visible(key: str, v: Any, _: Exists) -> Any:
    if not _is_int(v) or v not in (1, 3, 5, 7):
        raise invalid(f"{key}: must be equal to one of the allowed values: 1, 3, 5, 7")
    return v


ONE = {"persons": "person", "activities": "activity"}  # other plurals just drop the "s"


def ref_to(entity: str) -> Checker:
    def check(key: str, v: Any, exists: Exists) -> Any:
        if not _is_int(v):
            raise invalid(f"{key}: must be integer")
        if not exists(entity, v):
            raise invalid(f"{key}: {ONE.get(entity, entity[:-1])} with id {v} does not exist")
        return v

    return check


def c_date(key: str, v: Any, _: Exists) -> Any:
    if not isinstance(v, str) or timefmt.parse_date(v) is None:
        raise invalid(f"{key}: must be a date in format YYYY-MM-DD")
    return v


def c_time_of_day(key: str, v: Any, _: Exists) -> Any:
    m = TIME_OF_DAY.match(v) if isinstance(v, str) else None
    if not m:
        raise invalid(f"{key}: must be a time in format HH:MM or HH:MM:SS")
    return f"{m[1]}:{m[2]}:{m[3] or '00'}"


def c_rfc3339(key: str, v: Any, _: Exists) -> Any:
    epoch = timefmt.parse_rfc3339(v) if isinstance(v, str) else None
    if epoch is None:
        raise invalid(f"{key}: '{v}' is not a valid RFC 3339 date-time (YYYY-MM-DDTHH:MM:SSZ)")
    return timefmt.iso(epoch)


def c_v1_time(key: str, v: Any, _: Exists) -> Any:
    epoch = timefmt.parse_v1(v) if isinstance(v, str) else None
    if epoch is None:
        raise invalid(f"{key}: must be in format YYYY-MM-DD HH:MM:SS")
    return timefmt.v1(epoch)


def one_of(*allowed: str) -> Checker:
    def check(key: str, v: Any, _: Exists) -> Any:
        if v not in allowed:
            raise invalid(
                f"{key}: must be equal to one of the allowed values: {', '.join(allowed)}"
            )
        return v

    return check


def c_int_list(key: str, v: Any, _: Exists) -> Any:
    if not isinstance(v, list) or not all(_is_int(x) for x in v):
        raise invalid(f"{key}: must be an array of integers")
    return v


def c_contacts(key: str, v: Any, _: Exists) -> Any:
    """emails / phones: [{"value", "primary"?, "label"?}], one primary (the first if none)."""
    if not isinstance(v, list):
        raise invalid(f"{key}: must be an array of objects")
    out = []
    for item in v:
        if not isinstance(item, dict) or not isinstance(item.get("value"), str):
            raise invalid(f"{key}: every item needs a string 'value'")
        extra = set(item) - {"value", "primary", "label"}
        if extra:
            raise not_allowed(f"{key}.{sorted(extra)[0]}")
        primary = item.get("primary", False)
        if not isinstance(primary, bool):
            raise invalid(f"{key}.primary: must be boolean")
        out.append({"value": item["value"], "primary": primary, "label": item.get("label", "work")})
    if out and sum(x["primary"] for x in out) > 1:
        raise invalid(f"{key}: only one item can be primary")
    if out and not any(x["primary"] for x in out):
        out[0]["primary"] = True
    return out


ADDRESS_PARTS = (
    "value", "street_number", "route", "subpremise", "sublocality", "locality",
    "admin_area_level_1", "admin_area_level_2", "country", "postal_code", "formatted_address",
)  # fmt: skip


def c_address(key: str, v: Any, _: Exists) -> Any:
    if not isinstance(v, dict) or not isinstance(v.get("value"), str):
        raise invalid(f"{key}: must be an object with a string 'value'")
    extra = set(v) - set(ADDRESS_PARTS)
    if extra:
        raise not_allowed(f"{key}.{sorted(extra)[0]}")
    return {part: v.get(part) for part in ADDRESS_PARTS}


def c_prices(key: str, v: Any, _: Exists) -> Any:
    if not isinstance(v, list):
        raise invalid(f"{key}: must be an array of objects")
    out = []
    for item in v:
        if not isinstance(item, dict) or not _is_num(item.get("price")):
            raise invalid(f"{key}: every price needs a numeric 'price'")
        if not isinstance(item.get("currency"), str):
            raise invalid(f"{key}: every price needs a 'currency'")
        out.append(
            {
                "price": item["price"],
                "currency": item["currency"],
                "cost": item.get("cost", 0),
                "direct_cost": item.get("direct_cost"),
                "notes": item.get("notes", ""),
            }
        )
    return out


def c_participants(key: str, v: Any, exists: Exists) -> Any:
    if not isinstance(v, list):
        raise invalid(f"{key}: must be an array of objects")
    out = []
    for item in v:
        if not isinstance(item, dict) or not _is_int(item.get("person_id")):
            raise invalid(f"{key}: every participant needs an integer 'person_id'")
        if not exists("persons", item["person_id"]):
            raise invalid(f"{key}: person with id {item['person_id']} does not exist")
        out.append({"person_id": item["person_id"], "primary": bool(item.get("primary", False))})
    return out


def c_str_or_int(key: str, v: Any, _: Exists) -> Any:
    if not isinstance(v, str) and not _is_int(v):
        raise invalid(f"{key}: must be string or integer")
    return v


def c_count(key: str, v: Any, _: Exists) -> Any:
    if not _is_int(v) or v < 0:
        raise invalid(f"{key}: must be an integer >= 0")
    return v


ATTENDEE_KEYS = ("email", "name", "status", "is_organizer", "person_id", "user_id")


def c_attendees(key: str, v: Any, exists: Exists) -> Any:
    """[{email, name?, status?, is_organizer?, person_id?, user_id?}] (ActivityItemAttendees)."""
    if not isinstance(v, list):
        raise invalid(f"{key}: must be an array of objects")
    out = []
    for item in v:
        if not isinstance(item, dict) or not isinstance(item.get("email"), str):
            raise invalid(f"{key}: every attendee needs a string 'email'")
        extra = set(item) - set(ATTENDEE_KEYS)
        if extra:
            raise not_allowed(f"{key}.{sorted(extra)[0]}")
        person, user = item.get("person_id"), item.get("user_id")
        if person is not None:
            ref_to("persons")(f"{key}.person_id", person, exists)
        if user is not None:
            ref_to("users")(f"{key}.user_id", user, exists)
        out.append(
            {
                "email": item["email"],
                "name": item.get("name"),
                "status": item.get("status", "noreply"),
                "is_organizer": bool(item.get("is_organizer", False)),
                "person_id": person,
                "user_id": user,
            }
        )
    return out


# ---- custom fields ---------------------------------------------------------------------
def custom_value(f: CustomField, v: Any, exists: Exists) -> Any:
    """Check one custom-field value against its type (v2 shapes, research §6)."""
    key = f.key
    if v is None:
        return None
    t = f.field_type
    if t in ("varchar", "varchar_auto", "text", "phone"):
        return c_str(key, v, exists)
    if t == "double":
        return c_num(key, v, exists)
    if t == "monetary":
        if not isinstance(v, dict) or not _is_num(v.get("value")):
            raise invalid(f"{key}: monetary value must be an object {{value, currency}}")
        currency = v.get("currency", "EUR")
        if not isinstance(currency, str):
            raise invalid(f"{key}: currency must be string")
        return {"value": v["value"], "currency": currency}
    if t == "enum":
        if not _is_int(v) or v not in f.option_ids:
            raise invalid(f"{key}: must be one of the option ids {list(f.option_ids)}")
        return v
    if t == "set":
        if not isinstance(v, list) or not v or not all(_is_int(x) for x in v):
            raise invalid(f"{key}: must be a non-empty array of option ids (use null to clear)")
        unknown = [x for x in v if x not in f.option_ids]
        if unknown:
            raise invalid(f"{key}: unknown option ids {unknown}")
        return v
    if t == "date":
        return c_date(key, v, exists)
    if t in ("user", "org", "people"):
        entity = {"user": "users", "org": "organizations", "people": "persons"}[t]
        return ref_to(entity)(key, v, exists)
    if t == "address":
        return c_address(key, v, exists)
    if t == "time":
        if not isinstance(v, dict):
            raise invalid(f"{key}: time value must be an object {{value, timezone_id}}")
        return {
            "value": c_time_of_day(key, v.get("value"), exists),
            "timezone_id": v.get("timezone_id"),
            "timezone_name": v.get("timezone_name"),
        }
    if t == "daterange":
        if not isinstance(v, dict):
            raise invalid(f"{key}: daterange value must be an object {{value, until}}")
        return {
            "value": c_date(key, v.get("value"), exists),
            "until": c_date(key, v.get("until"), exists),
        }
    return v  # pragma: no cover


def check_custom_fields(
    fields: dict[str, CustomField], body: Any, exists: Exists
) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise invalid("custom_fields: must be an object")
    out = {}
    for key, value in body.items():
        f = fields.get(key)
        if f is None:
            raise invalid(f"custom_fields.{key}: unknown custom field")
        out[key] = custom_value(f, value, exists)
    return out


def check_body(
    body: Any,
    schema: dict[str, Checker],
    customs: dict[str, CustomField] | None,
    exists: Exists,
) -> dict[str, Any]:
    """Check a v2 POST/PATCH body: known keys only, custom fields only under custom_fields."""
    if not isinstance(body, dict):
        raise invalid("request body must be a JSON object")
    out: dict[str, Any] = {}
    for key, value in body.items():
        if key == "custom_fields" and customs is not None:
            out[key] = check_custom_fields(customs, value, exists)
            continue
        check = schema.get(key)
        if check is None:
            raise not_allowed(key)
        out[key] = check(key, value, exists)
    return out
