"""v1 users: the list, ``/users/me`` (the token's user and company) and one user."""

from __future__ import annotations

from crm_sandbox.core import Request, Response
from crm_sandbox.pipedrive.account import Account
from crm_sandbox.pipedrive.params import ok
from crm_sandbox.pipedrive.validate import failure


class UserEndpoints:
    def __init__(self, account: Account) -> None:
        self.account = account

    def all(self, req: Request, entity: str, params: dict[str, str]) -> Response:
        return ok(self.account.world.users)

    def me(self, req: Request, entity: str, params: dict[str, str]) -> Response:
        return ok(
            {
                **self.account.world.users[0],
                "company_id": 1,
                "company_name": "Sandbox GmbH",
                "company_domain": "sandbox",
            }
        )

    def get(self, req: Request, entity: str, params: dict[str, str]) -> Response:
        users = self.account.world.users
        rid = int(params["id"])
        if not 1 <= rid <= len(users):
            raise failure(404, "User not found")
        return ok(users[rid - 1])
