"""Where the current OAuth refresh token lives between runs.

Pipedrive rotates refresh tokens: each refresh may return a new one and invalidate the old, so
every process of one OAuth app must read the newest token and refresh under one lock. The
client (``crm_api.pipedrive.OAuthAuth``) uses a store only through ``load``, ``save`` and
``locked``; ``open_token_store`` picks the store from what the user named in
``oauth_token_file``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol


class TokenStoreError(Exception):
    """The store the user named cannot be read or written: one line saying what to fix."""


class TokenStore(Protocol):
    def load(self) -> str | None: ...

    def save(self, refresh_token: str) -> None: ...

    def locked(self) -> contextlib.AbstractContextManager[None]: ...


class FileTokenStore:
    """The user-named file that keeps the current OAuth refresh token between runs.

    JSON ``{"refresh_token": "...", "updated_at": "..."}``, written atomically with mode 0600.
    A sibling ``.lock`` file serialises refreshes across processes (tap and target sharing
    one app), so a rotation by one is seen by the other.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).expanduser()

    def __repr__(self) -> str:
        return f"FileTokenStore({str(self.path)!r})"

    def load(self) -> str | None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise TokenStoreError(
                f"oauth_token_file {self.path} is not a readable JSON token file "
                f"({type(exc).__name__}); fix or delete it and run crm-oauth again"
            ) from None
        token = data.get("refresh_token") if isinstance(data, dict) else None
        return token if isinstance(token, str) and token else None

    def save(self, refresh_token: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        payload = json.dumps(
            {
                "refresh_token": refresh_token,
                "updated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
        )
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(payload)
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.path.with_name(self.path.name + ".lock")
        with open(lock_path, "a", encoding="utf-8") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


def open_token_store(location: str | os.PathLike[str]) -> TokenStore:
    """The store named by ``oauth_token_file``: a file path (the default on one machine)."""
    return FileTokenStore(location)
