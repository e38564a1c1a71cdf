"""The case service fixtures (``tests/integration/case``), and the referral service on the
same database and namespace for the tests that need it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from shared.settings import Settings
from tests.integration.case.conftest import app, auth, client, settings
from tests.integration.referral.conftest import client_of, publish, running

__all__ = ["app", "auth", "client", "publish", "referral_client", "settings"]


@pytest.fixture
async def referral_client(
    service_settings: Callable[..., Settings],
) -> AsyncIterator[httpx.AsyncClient]:
    async with running(service_settings("referral")) as referral_app, client_of(referral_app) as c:
        yield c
