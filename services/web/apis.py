"""The three services' public HTTP APIs, called with the signed-in person's own token.

The web app never holds a token of its own: whatever a page shows or does, the API
decided with the person's role and scope (backend-for-frontend, not a second gate that
could be wider than the first)."""

from __future__ import annotations

from typing import Any

import httpx

from services.web.errors import ApiProblem

SERVICES = ("case", "referral", "notify")


class Apis:
    """``await apis.call(token, "case", "GET", "/cases")`` → the JSON answer, or
    ``ApiProblem`` with the service's problem+json (503 when it cannot be reached)."""

    def __init__(self, base_urls: dict[str, str], client: httpx.AsyncClient) -> None:
        self.base_urls = base_urls
        self.client = client

    async def call(
        self,
        token: str,
        service: str,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | list[tuple[str, Any]] | None = None,
        json: Any = None,
        idempotency_key: str | None = None,
    ) -> Any:
        """``idempotency_key``: the form's own key, so a form sent twice (a double click,
        a reload after a lost answer) changes things once (the APIs' Idempotency-Key)."""
        url = self.base_urls[service] + path
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        # A read is tried twice (a connection the service closed meanwhile); a write once:
        # it may have been applied, and the person sees the error and the page again.
        attempts = 2 if method == "GET" else 1
        for attempt in range(attempts):
            try:
                r = await self.client.request(
                    method, url, params=params, json=json, headers=headers
                )
                break
            except httpx.TransportError:
                if attempt + 1 == attempts:
                    raise ApiProblem(503, {"title": "Service Unavailable", "status": 503}) from None
        if r.status_code >= 400:
            try:
                body = r.json()
            except ValueError:
                body = {}
            raise ApiProblem(r.status_code, body if isinstance(body, dict) else {})
        return r.json() if r.content else None

    async def picture(
        self, token: str, service: str, path: str, params: list[tuple[str, Any]]
    ) -> bytes:
        """An image the API draws (e.g. an SVG chart), as bytes; ``ApiProblem`` otherwise."""
        try:
            r = await self.client.get(
                self.base_urls[service] + path,
                params=params,
                headers={"Authorization": f"Bearer {token}"},
            )
        except httpx.TransportError:
            raise ApiProblem(503, {"title": "Service Unavailable", "status": 503}) from None
        if r.status_code >= 400:
            raise ApiProblem(r.status_code, {})
        return r.content
