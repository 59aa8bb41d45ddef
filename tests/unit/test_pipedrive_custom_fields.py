"""Custom fields become readable, typed, stable columns."""

from __future__ import annotations

from tap_crm.pipedrive import custom_fields as cf

KEY_A = "a" * 40
KEY_B = "b" * 40
KEY_C = "c" * 40
KEY_D = "d" * 40


def _fields() -> list[dict[str, object]]:
    return [
        {"field_code": "title", "field_name": "Title", "field_type": "varchar"},
        {
            "field_code": KEY_A,
            "field_name": "Lead score",
            "field_type": "double",
            "is_custom_field": True,
        },
        {
            "field_code": KEY_B,
            "field_name": "Lead-Score",
            "field_type": "double",
            "is_custom_field": True,
        },
        {
            "field_code": KEY_C,
            "field_name": "Industry",
            "field_type": "enum",
            "is_custom_field": True,
            "options": [{"id": 1, "label": "Software"}, {"id": 2, "label": "Éducation"}],
        },
        {
            "field_code": KEY_D,
            "field_name": "Value",
            "field_type": "set",
            "is_custom_field": True,
            "options": [{"id": 7, "label": "Web"}, {"id": 8, "label": "Event"}],
        },
    ]


def test_snake_names_are_readable() -> None:
    assert cf.snake_name("Lead-Score (%)") == "lead_score"
    assert cf.snake_name("Éducation level") == "education_level"
    assert cf.snake_name("2nd phone") == "f_2nd_phone"
    assert cf.snake_name("日本語") == ""


def test_collisions_are_resolved_deterministically() -> None:
    columns = cf.plan_columns(_fields(), taken={"id", "title", "value", "custom_fields"})
    names = [c.column for c in columns]
    assert names == ["lead_score", f"lead_score_{KEY_B[:8]}", "industry", f"value_{KEY_D[:8]}"]
    assert cf.plan_columns(_fields(), taken={"id", "title", "value"}) == columns


def test_types_fit_the_field_types() -> None:
    schema: dict[str, object] = {"properties": {}}
    columns = cf.plan_columns(_fields(), taken={"value"})
    cf.add_to_schema(schema, columns, with_labels=True)
    props = schema["properties"]
    assert isinstance(props, dict)
    assert props["lead_score"]["type"] == ["number", "null"]
    assert props["industry"]["type"] == ["integer", "null"]
    assert props["industry_label"]["type"] == ["string", "null"]
    assert props[f"value_{KEY_D[:8]}"]["items"] == {"type": "integer"}
    assert cf.json_schema_for("monetary")["type"] == ["object", "null"]
    assert cf.json_schema_for("date")["format"] == "date"


def test_apply_copies_values_and_labels() -> None:
    columns = cf.plan_columns(_fields(), taken={"value"})
    record = {"id": 1, "custom_fields": {KEY_A: 12.5, KEY_C: 2, KEY_D: [8, 7]}}
    cf.apply(record, columns, with_labels=True)
    assert record["lead_score"] == 12.5
    assert record[f"lead_score_{KEY_B[:8]}"] is None
    assert record["industry"] == 2
    assert record["industry_label"] == "Éducation"
    assert record[f"value_{KEY_D[:8]}_labels"] == ["Event", "Web"]
    assert record["custom_fields"][KEY_A] == 12.5  # the raw hash stays
