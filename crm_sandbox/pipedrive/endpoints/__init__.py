"""What answers each route, one object per concern; all of them use the same ``Account``.

Every handler has the signature ``(request, entity, path_params) -> Response`` and may raise
``validate.Problem`` to answer with an error. ``routes.ROUTES`` says which handler answers what.
"""

from __future__ import annotations

from crm_sandbox.pipedrive.account import Account
from crm_sandbox.pipedrive.endpoints.catalog import CatalogEndpoints
from crm_sandbox.pipedrive.endpoints.deal_children import DealChildren
from crm_sandbox.pipedrive.endpoints.deal_history import DealHistory
from crm_sandbox.pipedrive.endpoints.entity_lists import EntityLists
from crm_sandbox.pipedrive.endpoints.entity_records import EntityRecords
from crm_sandbox.pipedrive.endpoints.field_lists import FieldLists
from crm_sandbox.pipedrive.endpoints.files import FileEndpoints
from crm_sandbox.pipedrive.endpoints.followers import FollowerEndpoints
from crm_sandbox.pipedrive.endpoints.leads import LeadEndpoints
from crm_sandbox.pipedrive.endpoints.notes import NoteEndpoints
from crm_sandbox.pipedrive.endpoints.oauth import OAuthEndpoints
from crm_sandbox.pipedrive.endpoints.users import UserEndpoints
from crm_sandbox.pipedrive.oauth import OAuthServer


class Endpoints:
    def __init__(self, account: Account, oauth: OAuthServer) -> None:
        self.lists = EntityLists(account)
        self.records = EntityRecords(account)
        self.followers = FollowerEndpoints(account)
        self.fields = FieldLists(account)
        self.deal_children = DealChildren(account)
        self.deal_history = DealHistory(account)
        self.notes = NoteEndpoints(account)
        self.users = UserEndpoints(account)
        self.leads = LeadEndpoints(account)
        self.catalog = CatalogEndpoints(account)
        self.files = FileEndpoints(account)
        self.oauth = OAuthEndpoints(oauth)


__all__ = ["Endpoints"]
