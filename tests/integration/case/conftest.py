"""The case service running against this test's database and namespace, and tokens."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.case.main import create_app
from shared.auth import AuthConfig, mint_token
from shared.settings import Settings

Token = Callable[..., dict[str, str]]


@pytest.fixture
def settings(service_settings: Callable[..., Settings]) -> Settings:
    return service_settings("case")


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application
        await stop_background_tasks(application)


async def stop_background_tasks(application: FastAPI) -> None:
    """Cancel the relay until it is done, before the lifespan's own shutdown awaits it.

    Works around a shutdown hang seen here: a single ``cancel()`` of the relay task is
    sometimes swallowed (``asyncio.wait_for`` on Python 3.11 can lose a cancellation that
    races with its timeout), and ``stop_runtime`` then awaits the task forever.
    """
    for task in application.state.runtime.tasks:
        while not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=0.5)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


@pytest.fixture
def auth(settings: Settings) -> Token:
    """``auth("caseworker", office="khujand-nrm")`` → an Authorization header."""
    config = AuthConfig.from_settings(settings)

    def make(role: str = "caseworker", sub: str | None = None, **claims: Any) -> dict[str, str]:
        if role == "caseworker":
            claims.setdefault("office", "khujand-nrm")
            claims.setdefault("region", "sughd")
        if role == "supervisor":
            claims.setdefault("region", "sughd")
        if role == "provider":
            claims.setdefault("provider_id", "prov-1")
        token = mint_token(config, sub or f"{role}-1", role, **claims)
        return {"Authorization": f"Bearer {token}"}

    return make
