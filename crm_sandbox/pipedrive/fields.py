"""Field definitions: the standard fields and the seeded custom fields of each entity.

Custom-field keys are 40-hex hashes derived from the seed, as in a real account (every company
has different keys). Two deal fields, "Lead score" and "Lead-Score", snake-case to the same
name on purpose so a client's de-duplication of column names is exercised.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class CustomField:
    key: str
    name: str
    field_type: str
    options: tuple[tuple[int, str], ...] = ()
    order: int = 0

    @property
    def option_ids(self) -> tuple[int, ...]:
        return tuple(oid for oid, _ in self.options)


@dataclass
class EntityFields:
    entity: str  # "deal", "person", "organization", "product", "activity"
    standard: list[tuple[str, str, str]]  # (key, name, field_type)
    custom: list[CustomField] = field(default_factory=list)

    def by_key(self) -> dict[str, CustomField]:
        return {f.key: f for f in self.custom}


# (name, field_type, option labels)
_CUSTOM: dict[str, list[tuple[str, str, tuple[str, ...]]]] = {
    "deal": [
        ("Lead score", "double", ()),
        ("Lead-Score", "double", ()),
        ("Contract notes", "text", ()),
        ("Referral code", "varchar", ()),
        ("Budget", "monetary", ()),
        ("Industry", "enum", ("Software", "Manufacturing", "Retail", "Health", "Éducation")),
        ("Channels", "set", ("Web", "Partner", "Event", "Cold call", "Referral")),
        ("Renewal date", "date", ()),
        ("Account manager", "user", ()),
        ("Partner org", "org", ()),
        ("Champion", "people", ()),
        ("Hotline", "phone", ()),
        ("Site address", "address", ()),
        ("Call window", "time", ()),
        ("Contract period", "daterange", ()),
    ],
    "person": [
        ("Nickname", "varchar", ()),
        ("Bio", "text", ()),
        ("Score", "double", ()),
        ("Lifetime value", "monetary", ()),
        ("Preferred language", "enum", ("English", "Deutsch", "Français", "日本語", "Italiano")),
        ("Interests", "set", ("Pricing", "Integrations", "Security", "Support")),
        ("Referred by", "people", ()),
        ("First contact", "date", ()),
    ],
    "organization": [
        ("Segment", "enum", ("SMB", "Mid-market", "Enterprise")),
        ("Tags", "set", ("Partner", "Reseller", "Prospect", "Churn risk")),
        ("HQ address", "address", ()),
        ("Annual budget", "monetary", ()),
        ("Founded", "date", ()),
        ("Headcount", "double", ()),
        ("Parent org", "org", ()),
    ],
    "product": [
        ("Family", "varchar", ()),
        ("Weight kg", "double", ()),
        ("Colour", "enum", ("Red", "Green", "Blue", "Schwarz")),
        ("Availability", "daterange", ()),
    ],
    "activity": [],
}

_STANDARD: dict[str, list[tuple[str, str, str]]] = {
    "deal": [
        ("id", "ID", "int"),
        ("title", "Title", "varchar"),
        ("creator_user_id", "Creator", "user"),
        ("owner_id", "Owner", "user"),
        ("value", "Value", "monetary"),
        ("currency", "Currency", "varchar"),
        ("person_id", "Contact person", "people"),
        ("org_id", "Organization", "org"),
        ("pipeline_id", "Pipeline", "double"),
        ("stage_id", "Stage", "stage"),
        ("status", "Status", "status"),
        ("probability", "Probability", "double"),
        ("lost_reason", "Lost reason", "varchar"),
        ("visible_to", "Visible to", "visible_to"),
        ("add_time", "Deal created", "date"),
        ("update_time", "Update time", "date"),
        ("close_time", "Deal closed on", "date"),
        ("won_time", "Won time", "date"),
        ("lost_time", "Lost time", "date"),
        ("expected_close_date", "Expected close date", "date"),
        ("label_ids", "Label", "set"),
    ],
    "person": [
        ("id", "ID", "int"),
        ("name", "Name", "varchar"),
        ("first_name", "First name", "varchar"),
        ("last_name", "Last name", "varchar"),
        ("owner_id", "Owner", "user"),
        ("org_id", "Organization", "org"),
        ("emails", "Email", "varchar"),
        ("phones", "Phone", "phone"),
        ("visible_to", "Visible to", "visible_to"),
        ("label_ids", "Labels", "set"),
        ("add_time", "Person created", "date"),
        ("update_time", "Update time", "date"),
    ],
    "organization": [
        ("id", "ID", "int"),
        ("name", "Name", "varchar"),
        ("owner_id", "Owner", "user"),
        ("address", "Address", "address"),
        ("visible_to", "Visible to", "visible_to"),
        ("label_ids", "Labels", "set"),
        ("add_time", "Organization created", "date"),
        ("update_time", "Update time", "date"),
    ],
    "product": [
        ("id", "ID", "int"),
        ("name", "Name", "varchar"),
        ("code", "Product code", "varchar"),
        ("unit", "Unit", "varchar"),
        ("tax", "Tax", "double"),
        ("category", "Category", "enum"),
        ("owner_id", "Owner", "user"),
        ("prices", "Price", "price"),
        ("description", "Description", "text"),
        ("add_time", "Created", "date"),
        ("update_time", "Update time", "date"),
    ],
    "activity": [
        ("id", "ID", "int"),
        ("subject", "Subject", "varchar"),
        ("type", "Type", "enum"),
        ("owner_id", "Assigned to user", "user"),
        ("deal_id", "Deal", "int"),
        ("person_id", "Contact person", "people"),
        ("org_id", "Organization", "org"),
        ("due_date", "Due date", "date"),
        ("due_time", "Due time", "time"),
        ("duration", "Duration", "time"),
        ("done", "Done", "boolean"),
        ("note", "Note", "text"),
        ("add_time", "Add time", "date"),
        ("update_time", "Update time", "date"),
    ],
}

ENTITY_OF_FIELDS_PATH = {
    "dealFields": "deal",
    "personFields": "person",
    "organizationFields": "organization",
    "productFields": "product",
    "activityFields": "activity",
}

SUBFIELDS = {
    "monetary": [("currency", "Currency", "varchar")],
    "address": [
        ("street_number", "House number", "varchar"),
        ("route", "Street/road name", "varchar"),
        ("subpremise", "Apartment/suite no", "varchar"),
        ("sublocality", "District/sublocality", "varchar"),
        ("locality", "City/town/village/locality", "varchar"),
        ("admin_area_level_1", "State/county", "varchar"),
        ("admin_area_level_2", "Region", "varchar"),
        ("country", "Country", "varchar"),
        ("postal_code", "ZIP/Postal code", "varchar"),
        ("formatted_address", "Full/combined address", "varchar"),
    ],
    "time": [("timezone_id", "Timezone", "varchar")],
    "daterange": [("until", "End date", "date")],
}


def _key(seed: int, entity: str, name: str) -> str:
    return hashlib.sha1(f"{seed}:{entity}:{name}".encode(), usedforsecurity=False).hexdigest()


def build_fields(seed: int) -> dict[str, EntityFields]:
    out: dict[str, EntityFields] = {}
    for entity, customs in _CUSTOM.items():
        fields = EntityFields(entity, list(_STANDARD[entity]))
        for order, (name, ftype, labels) in enumerate(customs):
            base = (order + 1) * 100 + len(entity) * 1000
            options = tuple((base + i, label) for i, label in enumerate(labels))
            fields.custom.append(CustomField(_key(seed, entity, name), name, ftype, options, order))
        out[entity] = fields
    return out


def v2_items(fields: EntityFields) -> list[dict[str, Any]]:
    """The v2 field list (``GET /api/v2/dealFields``): field_code, field_name, field_type ..."""
    items: list[dict[str, Any]] = []
    for key, name, ftype in fields.standard:
        items.append(_v2_item(key, name, ftype, False, None))
    for custom in fields.custom:
        options = [{"id": oid, "label": label} for oid, label in custom.options] or None
        items.append(_v2_item(custom.key, custom.name, custom.field_type, True, options))
    return items


def _v2_item(
    key: str, name: str, ftype: str, custom: bool, options: list[dict[str, Any]] | None
) -> dict[str, Any]:
    subfields = SUBFIELDS.get(ftype)
    return {
        "field_name": name,
        "field_code": key,
        "description": None,
        "field_type": ftype,
        "options": options,
        "subfields": [
            {"field_code": f"{key}_{sub}" if custom else sub, "field_name": n, "field_type": t}
            for sub, n, t in subfields
        ]
        if subfields and custom
        else None,
        "is_custom_field": custom,
        "is_optional_response_field": False,
    }


def v1_items(fields: EntityFields, add_time: str) -> list[dict[str, Any]]:
    """The v1 field list (``GET /v1/dealFields``): key, name, field_type, edit_flag, options."""
    items: list[dict[str, Any]] = []
    all_fields = [(k, n, t, False, ()) for k, n, t in fields.standard] + [
        (c.key, c.name, c.field_type, True, c.options) for c in fields.custom
    ]
    for order, (key, name, ftype, custom, options) in enumerate(all_fields):
        item: dict[str, Any] = {
            "id": order + 1 + len(fields.entity) * 1000,
            "key": key,
            "name": name,
            "order_nr": order,
            "field_type": ftype,
            "add_time": add_time,
            "update_time": add_time,
            "last_updated_by_user_id": 1 if custom else None,
            "active_flag": True,
            "edit_flag": custom,
            "index_visible_flag": True,
            "details_visible_flag": True,
            "add_visible_flag": True,
            "important_flag": False,
            "bulk_edit_allowed": True,
            "searchable_flag": ftype in ("varchar", "text", "phone"),
            "filtering_allowed": True,
            "sortable_flag": True,
            "mandatory_flag": key in ("title", "name"),
        }
        if options:
            item["options"] = [{"id": oid, "label": label} for oid, label in options]
        items.append(item)
    return items
