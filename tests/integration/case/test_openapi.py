"""The OpenAPI document is complete and the service honours it: a schemathesis run with
bounded examples finds no 5xx and no response that breaks the document."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.specs.openapi.formats import unregister_string_format

from tests.integration.case.conftest import Token
from tests.integration.case.stories import open_case

EXAMPLES_PER_OPERATION = 20
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# Valid RFC 3339 that no longer fits years 1-9999 once converted to UTC: 422, never a 500.
EXTREME_TIMES = (
    "9999-12-31T23:59:59-12:00",
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59.999999-23:59",
    "0001-01-01T00:00:00+23:59",
    "9999-12-31T23:59:59.999999Z",
    "0001-01-01T00:00:00Z",
)


@pytest.fixture
def extreme_times() -> Iterator[None]:
    """Every ``date-time`` (``as_of``, ``from``, ``to``, ``expires_at``) is as often one
    of ``EXTREME_TIMES`` as an ordinary time."""
    ordinary = st.datetimes(timezones=st.just(UTC)).map(datetime.isoformat)
    schemathesis.openapi.format("date-time", st.sampled_from(EXTREME_TIMES) | ordinary)
    yield
    unregister_string_format("date-time")


async def test_the_document_describes_security_headers_and_problems(app: FastAPI) -> None:
    doc = app.openapi()
    assert doc["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    post = doc["paths"]["/cases"]["post"]
    assert set(post["responses"]["201"]["headers"]) == {"Location", "ETag"}
    assert post["security"] == [{"bearerAuth": []}]
    get = doc["paths"]["/cases/{case_id}"]["get"]
    assert "ETag" in get["responses"]["200"]["headers"]
    for path, item in doc["paths"].items():
        if not path.startswith("/cases"):
            continue
        for method, op in item.items():
            assert {"401", "403", "422"} <= set(op["responses"]), (method, path)
            assert op["responses"]["422"]["content"] == {
                "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
            }
            if method != "get" or "{case_id}" in path:
                assert "404" in op["responses"] or path == "/cases", (method, path)
            body = op.get("requestBody", {}).get("content", {}).get("application/json")
            if body:
                ref = body["schema"].get("$ref") or body["schema"]["anyOf"][0]["$ref"]
                name = ref.rsplit("/", 1)[1]
                schema = doc["components"]["schemas"][name]
                assert schema.get("additionalProperties") is False, name


def generated_cases(doc: dict[str, Any]) -> list[Any]:
    """Up to ``EXAMPLES_PER_OPERATION`` valid-by-schema requests per operation."""
    schema = schemathesis.openapi.from_dict(doc)
    cases: list[Any] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if not operation.path.startswith("/cases"):
            continue

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            database=None,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def collect(case: Any) -> None:
            cases.append(case)

        collect()
    return cases


async def test_schemathesis_finds_no_5xx_and_no_response_off_the_schema(
    app: FastAPI, client: httpx.AsyncClient, auth: Token, extreme_times: None
) -> None:
    started = time.monotonic()
    admin = auth("admin")
    real_cases = [await open_case(client, auth()) for _ in range(2)]
    cases = generated_cases(app.openapi())
    assert len(cases) > 50
    rng = random.Random(7)
    statuses: dict[int, int] = {}
    for case in cases:
        if "case_id" in (case.path_parameters or {}) and rng.random() < 0.5:
            case.path_parameters["case_id"] = rng.choice(real_cases)  # reach past the 404
        kwargs = case.as_transport_kwargs(base_url="http://test", headers=admin)
        response = await client.request(
            kwargs["method"],
            kwargs["url"],
            headers=kwargs.get("headers"),
            params=kwargs.get("params"),
            json=kwargs.get("json"),
            content=kwargs.get("data"),
        )
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        case.validate_response(response, checks=CHECKS)
    assert not any(code >= 500 for code in statuses)
    assert any(200 <= code < 300 for code in statuses), statuses  # some writes got through
    assert time.monotonic() - started < 90
