"""Sessions: the only state the web app holds, in this process's memory (the default) or
in a small Postgres table of its own (``session_pg.py``, ``SAFEPATH_WEB_SESSION_STORE``).

A visitor gets a session on the first page (it carries the CSRF token and the language);
signing in replaces it with a new one (a new id: no session fixation) holding the bearer
token the APIs are called with. The token never reaches the browser: the cookie holds a
random id only. A session ends after ``idle`` without a request, when its token expires,
or at sign-out. The store is bounded; the least recently used session goes first.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from shared.auth import Principal


@dataclass
class Session:
    id: str
    csrf: str
    language: str
    last_seen: datetime
    token: str | None = None
    principal: Principal | None = None
    token_expires: datetime | None = None
    # While an OIDC sign-in is under way: state, nonce, PKCE verifier.
    pending: dict[str, str] = field(default_factory=dict)

    @property
    def signed_in(self) -> bool:
        return self.token is not None and self.principal is not None


class SessionStore:
    """In this process's memory: a restart signs everyone out; replicas need sticky
    sessions (docs/web.md). Async like the Postgres store, so either can serve."""

    def __init__(self, idle: timedelta, capacity: int) -> None:
        self.idle = idle
        self.capacity = capacity
        self._sessions: OrderedDict[str, Session] = OrderedDict()

    async def new(self, language: str, now: datetime) -> Session:
        s = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), language, now)
        self._sessions[s.id] = s
        while len(self._sessions) > self.capacity:
            self._sessions.popitem(last=False)
        return s

    async def get(self, session_id: str | None, now: datetime) -> Session | None:
        """The live session with this id (its idle clock restarted), else ``None``."""
        if not session_id:
            return None
        s = self._sessions.get(session_id)
        if s is None:
            return None
        expired = now - s.last_seen > self.idle or (
            s.token_expires is not None and now >= s.token_expires
        )
        if expired:
            del self._sessions[session_id]
            return None
        s.last_seen = now
        self._sessions.move_to_end(session_id)
        return s

    async def sign_in(
        self, old: Session, token: str, principal: Principal, expires: datetime, now: datetime
    ) -> Session:
        await self.end(old.id)
        s = await self.new(old.language, now)
        s.token, s.principal, s.token_expires = token, principal, expires
        return s

    async def end(self, session_id: str) -> None:
        self._sessions.pop(session_id, None)

    async def save(self, session: Session) -> None:
        """Nothing to do: the session object is the stored one."""

    def __len__(self) -> int:
        return len(self._sessions)
