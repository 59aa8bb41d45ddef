"""crm_api.field_names: the one label -> column rule of both providers' custom fields.

A column rename breaks every warehouse query that names it, so the names the two old rules
gave the sandbox's labels are pinned here; a new sandbox label must be added to the pin.
"""

from __future__ import annotations

import pytest

from crm_api import onpipeline, pipedrive_fields
from crm_api.field_names import column_name
from crm_sandbox.onpipeline.data import CUSTOM_FIELDS as ONPIPELINE_LABELS
from crm_sandbox.pipedrive.fields import _CUSTOM as PIPEDRIVE_FIELDS

# What the old Onpipeline rule (camelCase split, accents dropped) named the sandbox's labels.
ONPIPELINE_COLUMNS = {
    "Role": "role",
    "Frequent Buyer": "frequent_buyer",
    "LinkedIn": "linked_in",
    "Area": "area",
    "VAT number": "vat_number",
    "Segment": "segment",
    "Billing ID": "billing_id",
    "Temperature": "temperature",
    "Campaign": "campaign",
    "Contract ref": "contract_ref",
}
# What the old Pipedrive rule (accents folded, no camelCase split) named the sandbox's labels.
PIPEDRIVE_COLUMNS = {
    "Lead score": "lead_score",
    "Lead-Score": "lead_score",
    "Contract notes": "contract_notes",
    "Referral code": "referral_code",
    "Budget": "budget",
    "Industry": "industry",
    "Channels": "channels",
    "Renewal date": "renewal_date",
    "Account manager": "account_manager",
    "Partner org": "partner_org",
    "Champion": "champion",
    "Hotline": "hotline",
    "Site address": "site_address",
    "Call window": "call_window",
    "Contract period": "contract_period",
    "Nickname": "nickname",
    "Bio": "bio",
    "Score": "score",
    "Lifetime value": "lifetime_value",
    "Preferred language": "preferred_language",
    "Interests": "interests",
    "Referred by": "referred_by",
    "First contact": "first_contact",
    "Segment": "segment",
    "Tags": "tags",
    "HQ address": "hq_address",
    "Annual budget": "annual_budget",
    "Founded": "founded",
    "Headcount": "headcount",
    "Parent org": "parent_org",
    "Family": "family",
    "Weight kg": "weight_kg",
    "Colour": "colour",
    "Availability": "availability",
}


def test_every_sandbox_label_keeps_its_column_name() -> None:
    onpipeline_labels = {label for labels in ONPIPELINE_LABELS.values() for label in labels}
    pipedrive_labels = {name for fields in PIPEDRIVE_FIELDS.values() for name, _, _ in fields}
    assert onpipeline_labels == set(ONPIPELINE_COLUMNS)
    assert pipedrive_labels == set(PIPEDRIVE_COLUMNS)
    for label, column in {**ONPIPELINE_COLUMNS, **PIPEDRIVE_COLUMNS}.items():
        assert column_name(label) == column, label


@pytest.mark.parametrize(
    ("label", "column"),
    [
        ("Frequent Buyer?", "frequent_buyer"),
        ("Lead-Score (%)", "lead_score"),
        ("Éducation level", "education_level"),  # accents folded (Pipedrive's rule)
        ("Città", "citta"),
        ("LinkedIn", "linked_in"),  # an inner capital starts a word (Onpipeline's rule)
        ("Q3Target", "q3_target"),
        ("2nd phone", "f_2nd_phone"),
        ("  Spaced  out  ", "spaced_out"),
        ("日本語", ""),  # nothing left: the provider picks the fallback
        ("%", ""),
    ],
)
def test_the_rule_on_its_edges(label: str, column: str) -> None:
    assert column_name(label) == column


def test_both_providers_use_the_one_rule() -> None:
    assert pipedrive_fields.snake_name is column_name
    (planned,) = pipedrive_fields.plan_columns(
        [{"is_custom_field": True, "field_code": "a" * 40, "field_name": "LinkedIn"}], []
    )
    assert planned.column == "linked_in"
    assert onpipeline.custom_field_columns([{"ID": "7", "Name": "Città"}]) == {"7": "citta"}
    # each provider keeps its own fallback for a label with nothing left
    assert onpipeline.custom_field_columns([{"ID": "8", "Name": "日本語"}]) == {"8": "field"}
    (unnamed,) = pipedrive_fields.plan_columns(
        [{"is_custom_field": True, "field_code": "b" * 40, "field_name": "日本語"}], []
    )
    assert unnamed.column == "custom_bbbbbbbb"
