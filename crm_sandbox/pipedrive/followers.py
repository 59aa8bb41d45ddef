"""Followers of deals, persons, organizations and products, and their changelog (research §4).

Seeded followers are derived from the item's hash on first use (45% of items have 1-4
followers; a fifth of those also have a follower who was added and later removed), so a
million deals cost nothing until someone asks. Once touched, an item's state is stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from crm_sandbox.pipedrive.data import END, World, mix
from crm_sandbox.pipedrive.store import Table


@dataclass
class Followers:
    current: dict[int, int] = field(default_factory=dict)  # user_id -> add epoch, in add order
    changelog: list[tuple[str, int, int, int]] = field(default_factory=list)
    # (action, actor_user_id, follower_user_id, epoch), oldest first


def followers_of(t: Table, rid: int) -> Followers:
    state: dict[int, Followers] = t.aux.setdefault("followers", {})
    found = state.get(rid)
    if found is None:
        found = _seeded(t, rid)
        state[rid] = found
    return found


def peek(t: Table, rid: int) -> Followers:
    """The state without storing it (reads of untouched items stay free)."""
    state: dict[int, Followers] = t.aux.setdefault("followers", {})
    return state.get(rid) or _seeded(t, rid)


def _seeded(t: Table, rid: int) -> Followers:
    out = Followers()
    w: World = t.aux["world"]
    if rid > t.aux.get("generated", 0):  # created through the API: no seeded followers
        return out
    h = mix(t.salt ^ (rid * 0x51ED27))
    if h % 100 >= 45 or w.n_users == 0:
        return out
    added = t.cols["add_time"][rid - 1]
    owner = t.cols["owner_id"][rid - 1] if "owner_id" in t.cols else 1
    actor = owner or 1
    step = 3600 * (1 + (h >> 50) % 48)
    when = min(added + 60, END)
    count = 1 + (h >> 8) % 4
    for j in range(count):
        user = 1 + (h >> (12 + 6 * j)) % w.n_users
        if user in out.current:
            continue
        out.current[user] = when
        out.changelog.append(("added", actor, user, when))
        when += step
    if (h >> 40) % 5 == 0:
        gone = 1 + (h >> 44) % w.n_users
        if gone not in out.current:
            out.changelog.append(("added", actor, gone, when))
            out.changelog.append(("removed", actor, gone, when + step))
    return out
