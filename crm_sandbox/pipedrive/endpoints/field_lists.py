"""Field definitions: v2 ``/api/v2/<entity>Fields[/{field_code}]``, v1 ``/v1/<entity>Fields``."""

from __future__ import annotations

from crm_sandbox.core import Request, Response
from crm_sandbox.pipedrive import data, timefmt
from crm_sandbox.pipedrive.account import Account
from crm_sandbox.pipedrive.endpoints.paging import offset_cursor_page, v1_list_page
from crm_sandbox.pipedrive.fields import ENTITY_OF_FIELDS_PATH, EntityFields, v1_items, v2_items
from crm_sandbox.pipedrive.params import ok
from crm_sandbox.pipedrive.validate import failure

FIELDS_STAMP = data.START - 86400 * 30  # when the field definitions were last changed


class FieldLists:
    """``entity`` is the path's name (e.g. "dealFields")."""

    def __init__(self, account: Account) -> None:
        self.account = account

    def v2_list(self, req: Request, entity: str, params: dict[str, str]) -> Response:
        return offset_cursor_page(req, v2_items(self._fields(entity)))

    def v2_one(self, req: Request, entity: str, params: dict[str, str]) -> Response:
        for item in v2_items(self._fields(entity)):
            if item["field_code"] == params["field_code"]:
                return ok(item)
        raise failure(404, "Field not found")

    def v1_list(self, req: Request, entity: str, params: dict[str, str]) -> Response:
        return v1_list_page(req, v1_items(self._fields(entity), timefmt.v1(FIELDS_STAMP)))

    def _fields(self, path: str) -> EntityFields:
        return self.account.world.fields[ENTITY_OF_FIELDS_PATH[path]]
