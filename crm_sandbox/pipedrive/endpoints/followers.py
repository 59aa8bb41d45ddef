"""v2 followers of deals, persons, organizations and products: list, changelog, add, remove."""

from __future__ import annotations

from crm_sandbox.core import Request, Response
from crm_sandbox.pipedrive import timefmt
from crm_sandbox.pipedrive import validate as v
from crm_sandbox.pipedrive.account import Account, body_json
from crm_sandbox.pipedrive.endpoints.paging import offset_cursor_page
from crm_sandbox.pipedrive.followers import followers_of, peek
from crm_sandbox.pipedrive.params import ok
from crm_sandbox.pipedrive.store import Table
from crm_sandbox.pipedrive.validate import failure, invalid

ACTOR = 1  # every token of the sandbox belongs to user 1, the company admin


class FollowerEndpoints:
    def __init__(self, account: Account) -> None:
        self.account = account

    def current(self, req: Request, entity: str, params: dict[str, str]) -> Response:
        with self.account.store.lock:
            t, rid = self._followed(entity, params)
            state = peek(t, rid)
            rows = [{"user_id": u, "add_time": timefmt.iso(at)} for u, at in state.current.items()]
        return offset_cursor_page(req, rows)

    def changelog(self, req: Request, entity: str, params: dict[str, str]) -> Response:
        with self.account.store.lock:
            t, rid = self._followed(entity, params)
            state = peek(t, rid)
            rows = [
                {
                    "action": a,
                    "actor_user_id": actor,
                    "follower_user_id": user,
                    "time": timefmt.iso(at),
                }
                for a, actor, user, at in state.changelog
            ]
        return offset_cursor_page(req, rows)

    def add(self, req: Request, entity: str, params: dict[str, str]) -> Response:
        account = self.account
        body = body_json(req)
        if not isinstance(body, dict) or set(body) != {"user_id"}:
            raise invalid("user_id: is required (and the only allowed key)")
        user = v.ref_to("users")("user_id", body["user_id"], account.exists)
        with account.store.lock:
            t, rid = self._followed(entity, params)
            state = followers_of(t, rid)
            if user in state.current:
                raise failure(400, f"User {user} is already a follower")
            now = account.now()
            state.current[user] = now
            state.changelog.append(("added", ACTOR, user, now))
            account.written()
        return ok({"user_id": user, "add_time": timefmt.iso(now)}, status=201)

    def remove(self, req: Request, entity: str, params: dict[str, str]) -> Response:
        account = self.account
        user = int(params["follower_id"])
        with account.store.lock:
            t, rid = self._followed(entity, params)
            state = followers_of(t, rid)
            if user not in state.current:
                raise failure(404, f"User {user} is not a follower")
            del state.current[user]
            state.changelog.append(("removed", ACTOR, user, account.now()))
            account.written()
        return ok({"user_id": user})

    def _followed(self, entity: str, params: dict[str, str]) -> tuple[Table, int]:
        rid = int(params["id"])
        self.account.record_or_404(entity, rid, allow_deleted=False)
        return self.account.table(entity), rid
