"""The answer of a write without an Idempotency-Key is encoded once, by pydantic, and is
the same document a dict through ``JSONResponse`` gives; a principal's key is kept."""

from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import UTC, date, datetime

from fastapi.responses import JSONResponse
from pydantic import BaseModel

from shared.auth import Principal
from shared.http_writes import RenderedJSON, principal_key


class Inner(BaseModel):
    name: str
    at: datetime


class Answer(BaseModel):
    case_id: uuid.UUID
    version: int
    born: date | None
    notes: list[Inner]
    ratio: float
    missing: str | None = None


ANSWER = Answer(
    case_id=uuid.UUID("0192f0c4-7a8e-7b1c-9d2e-3f4a5b6c7d8e"),
    version=3,
    born=date(1990, 2, 1),
    notes=[Inner(name="Дилноза «Ш» 🌿", at=datetime(2026, 11, 30, 7, 1, 2, 345678, UTC))],
    ratio=0.1,
)


def test_the_pre_rendered_answer_is_the_document_json_response_gives() -> None:
    headers = {"ETag": '"3"', "Location": "/cases/x"}
    rendered = RenderedJSON(ANSWER.model_dump_json(), 201, headers=headers)
    reference = JSONResponse(ANSWER.model_dump(mode="json"), 201, headers=headers)

    assert json.loads(rendered.body) == json.loads(reference.body)
    assert rendered.status_code == reference.status_code == 201
    assert rendered.headers["content-type"] == reference.headers["content-type"]
    assert rendered.headers["etag"] == '"3"' and rendered.headers["location"] == "/cases/x"
    assert int(rendered.headers["content-length"]) == len(rendered.body)
    assert "Дилноза «Ш» 🌿".encode() in rendered.body  # UTF-8, as JSONResponse sends it


def test_a_principals_key_is_every_claim_and_kept_per_principal() -> None:
    a = Principal("ngo-portal", "provider", provider_id="buston", region="sughd")
    b = Principal("ngo-portal", "provider", provider_id="femida", region="sughd")

    expected = json.dumps(dataclasses.asdict(a), sort_keys=True, separators=(",", ":"))
    assert principal_key(a) == expected
    assert principal_key(Principal(**dataclasses.asdict(a))) == expected  # equal, not same
    assert principal_key(b) != principal_key(a)
    assert json.loads(principal_key(b))["provider_id"] == "femida"
