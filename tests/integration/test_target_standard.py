"""The Singer SDK's standard target tests, run against crm-sandbox's Pipedrive.

The SDK's sample streams (``test_users``, ``TestCamelcase`` ...) are not CRM entities, so the
config routes every one of them to ``persons`` with a stream map (as a user would) and gives
each record a name; their ids are another system's (``record_ids: source``). Records the
CRM cannot take (no name) are rejected and reported, which the suite tolerates through
``max_rejected_records``. Two custom tests check what reached the sandbox.

The SDK builds the class at import time, so the sandbox starts with this module.
"""

from __future__ import annotations

import atexit
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack

import pytest
from singer_sdk.testing import get_target_test_class
from singer_sdk.testing.suites import SingerTestSuite
from singer_sdk.testing.target_tests import (
    TargetArrayData,
    TargetCamelcaseComplexSchema,
    TargetCamelcaseTest,
    TargetCliPrintsTest,
    TargetEncodedStringData,
    TargetInvalidSchemaTest,
    TargetNoPrimaryKeys,
    TargetOptionalAttributes,
    TargetPrimaryKeyUpdates,
    TargetRecordBeforeSchemaTest,
    TargetRecordMissingOptionalFields,
    TargetSchemaNoProperties,
    TargetSchemaUpdates,
    TargetSpecialCharsInAttributes,
)
from singer_sdk.testing.templates import TargetFileTestTemplate

from crm_sandbox.testing import SandboxHandle, running_sandbox
from target_crm.target import TargetCRM
from tests.integration.test_target_support import pd_all

_stack = ExitStack()
_sandbox = _stack.enter_context(running_sandbox(size=5, seed=11))
atexit.register(_stack.close)

NAME = (
    "'SDK suite ' + __original_stream_name__ + ' ' + "
    "(str(_['id']) if 'id' in _ else (str(_['Id']) if 'Id' in _ else 'no id'))"
)
CONFIG = {
    "provider": "pipedrive",
    "api_url": _sandbox.pipedrive_url,
    "api_token": _sandbox.api_token,
    "record_ids": "source",
    "stream_maps": {"*": {"__alias__": "persons", "name": NAME}},
    "max_rejected_records": 1000,
}


class TargetUsersReachTheCRM(TargetFileTestTemplate):
    """``user_location_data``: every user becomes one person in the sandbox."""

    name = "user_location_data"

    def validate(self) -> None:
        names = Counter(p["name"] for p in pd_all(self.resource, "persons"))
        written = {n: c for n, c in names.items() if n.startswith("SDK suite test_users ")}
        assert written, "no person from the suite's test_users stream reached the sandbox"
        assert set(written.values()) == {1}


class TargetDuplicateRecordsWrittenOnce(TargetFileTestTemplate):
    """``duplicate_records``: a key seen twice is one person, updated, not two."""

    name = "duplicate_records"

    def validate(self) -> None:
        names = Counter(p["name"] for p in pd_all(self.resource, "persons"))
        dupes = {n: c for n, c in names.items() if n.startswith("SDK suite test_duplicate_records")}
        assert dupes
        assert set(dupes.values()) == {1}


target_suite = SingerTestSuite(
    kind="target",
    tests=[
        TargetArrayData,
        TargetCamelcaseComplexSchema,
        TargetCamelcaseTest,
        TargetCliPrintsTest,
        TargetEncodedStringData,
        TargetInvalidSchemaTest,
        TargetNoPrimaryKeys,
        TargetOptionalAttributes,
        TargetPrimaryKeyUpdates,
        TargetRecordBeforeSchemaTest,
        TargetRecordMissingOptionalFields,
        TargetSchemaNoProperties,
        TargetSchemaUpdates,
        TargetSpecialCharsInAttributes,
        TargetUsersReachTheCRM,
        TargetDuplicateRecordsWrittenOnce,
        # Replaced: TargetDuplicateRecords by TargetDuplicateRecordsWrittenOnce (same input, and
        # it checks the sandbox holds one person per key).
        # Left out:
        # - TargetMultipleStateMessages: the SDK itself keeps it out of the suite (a target
        #   relays only the latest STATE after a full drain); our STATE rule is tested in
        #   test_target_pipedrive.py (test_state_is_emitted_only_after_the_records_before_it_
        #   are_written).
        # - TargetRecordMissingKeyProperty: it expects the SDK's MissingKeyPropertiesError, which
        #   ended the whole load (issue 10 defect 6). A missing CRM id key means a new record,
        #   a missing source key a rejected one: tests/reliability/test_target_bad_input.py
        #   (test_a_record_missing_its_source_key_..., test_a_record_without_the_crm_id_...).
        # - TargetRecordMissingRequiredProperty: not in the SDK's default suite either; a record
        #   that breaks its schema is rejected and reported here (test_target_pipedrive.py::
        #   test_rejected_records_land_in_the_file_and_the_exit_status_follows_the_limit).
    ],
)


@pytest.fixture(scope="module", autouse=True)
def _stop_sandbox_after_module() -> Iterator[None]:
    yield
    _stack.close()


class TestTargetCRMStandard(
    get_target_test_class(
        target_class=TargetCRM,
        config=CONFIG,
        custom_suites=[target_suite],
        include_target_tests=False,
    )
):
    @pytest.fixture(scope="class")
    @classmethod
    def resource(cls) -> SandboxHandle:
        return _sandbox
