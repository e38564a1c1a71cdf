"""Errors answer in RFC 9457 problem+json, name the bad fields, and never echo input."""

from __future__ import annotations

from datetime import date

from fastapi import FastAPI, HTTPException
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field
from structlog.testing import capture_logs

from shared.problems import (
    PROBLEM_MEDIA_TYPE,
    PROBLEM_RESPONSES,
    conflict,
    field_errors,
    install_problem_handlers,
    not_found,
    precondition_failed,
)

NAME = "Gulnora Rahimova"


class Profile(BaseModel):
    given_name: str = Field(max_length=40)
    date_of_birth: date
    language: str = Field(pattern="^(tg|ru|en|other)$")


class ProfileBody(BaseModel):
    profile: Profile


def _app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.put("/cases/{case_id}/profile", responses=PROBLEM_RESPONSES)
    async def put_profile(case_id: str, body: ProfileBody) -> dict[str, str]:
        return {"case_id": case_id}

    @app.post("/cases/{case_id}/notes")  # no responses=: FastAPI's default 422 is replaced
    async def add_note(case_id: str, body: ProfileBody) -> dict[str, str]:
        return {"case_id": case_id}

    @app.get("/cases/{case_id}")
    async def get_case(case_id: str) -> dict[str, str]:
        if case_id == "stale":
            raise conflict(current_version=7)
        if case_id == "if-match":
            raise precondition_failed(current_version=3)
        if case_id == "teapot":
            raise HTTPException(status_code=418, detail="I'm a teapot")
        raise not_found()

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError(f"duplicate key value violates unique constraint: {NAME}")

    return app


client = TestClient(_app())


def test_invalid_fields_get_422_problem_with_dotted_paths() -> None:
    body = {"profile": {"given_name": NAME * 5, "date_of_birth": "31/02/1990", "language": "xx"}}

    response = client.put("/cases/c1/profile", json=body)

    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    problem = response.json()
    assert problem["status"] == 422
    paths = {e["path"] for e in problem["errors"]}
    assert paths == {
        "body.profile.given_name",
        "body.profile.date_of_birth",
        "body.profile.language",
    }
    assert all(set(e) == {"path", "message", "type"} for e in problem["errors"])


def test_validation_errors_never_echo_the_submitted_values() -> None:
    body = {"profile": {"given_name": NAME * 5, "date_of_birth": "born 1990 in Kulob"}}

    response = client.put("/cases/c1/profile", json=body)

    assert response.status_code == 422
    assert "Gulnora" not in response.text
    assert "Kulob" not in response.text
    assert all("input" not in e and "ctx" not in e for e in response.json()["errors"])


def test_a_missing_field_is_named() -> None:
    response = client.put("/cases/c1/profile", json={"profile": {"given_name": "A"}})

    paths = {e["path"] for e in response.json()["errors"]}
    assert "body.profile.date_of_birth" in paths


def test_malformed_json_is_a_422_problem() -> None:
    response = client.put(
        "/cases/c1/profile",
        content=b'{"profile": {"given_name": "Gulnora',
        headers={"content-type": "application/json"},
    )

    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert "Gulnora" not in response.text


def test_field_errors_scrub_an_input_quoted_in_a_message() -> None:
    errors = [
        {
            "loc": ("body", "kind"),
            "msg": "Input tag 'Rahimova' does not match any of the expected tags",
            "type": "union_tag_invalid",
            "input": "Rahimova",
        }
    ]

    assert field_errors(errors) == [
        {
            "path": "body.kind",
            "message": "Input tag '<redacted>' does not match any of the expected tags",
            "type": "union_tag_invalid",
        }
    ]


def test_unknown_case_is_a_404_problem() -> None:
    response = client.get("/cases/nope")

    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert response.json()["type"].endswith("not-found")


def test_a_version_conflict_says_the_current_version() -> None:
    response = client.get("/cases/stale")

    assert response.status_code == 409
    assert response.json()["current_version"] == 7


def test_a_failed_precondition_says_the_current_version() -> None:
    response = client.get("/cases/if-match")

    assert response.status_code == 412
    assert response.json()["current_version"] == 3


def test_http_exceptions_and_unknown_routes_become_problems() -> None:
    teapot = client.get("/cases/teapot")
    nowhere = client.get("/no/such/route")

    assert teapot.status_code == 418
    assert teapot.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert teapot.json()["detail"] == "I'm a teapot"
    assert nowhere.status_code == 404
    assert nowhere.headers["content-type"] == PROBLEM_MEDIA_TYPE


def test_an_unexpected_error_is_a_generic_500_logged_by_type_only() -> None:
    with capture_logs() as logs:
        response = client.get("/boom")

    assert response.status_code == 500
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert response.json()["title"] == "Internal Server Error"
    assert "Gulnora" not in response.text and "duplicate" not in response.text
    assert [entry["exc_type"] for entry in logs] == ["builtins.RuntimeError"]
    assert logs[0]["route"] == "/boom"
    assert "Gulnora" not in repr(logs)


def test_openapi_documents_problems_as_problem_json() -> None:
    doc = client.get("/openapi.json").json()

    put = doc["paths"]["/cases/{case_id}/profile"]["put"]["responses"]
    for status in ("401", "403", "404", "409", "412", "422"):
        assert put[status]["content"] == {
            PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}
        }
    notes_422 = doc["paths"]["/cases/{case_id}/notes"]["post"]["responses"]["422"]
    assert list(notes_422["content"]) == [PROBLEM_MEDIA_TYPE]
    schemas = doc["components"]["schemas"]
    assert {"Problem", "ProblemFieldError"} <= set(schemas)
    assert "HTTPValidationError" not in schemas
    assert schemas["Problem"]["properties"]["errors"]["anyOf"][0]["items"] == {
        "$ref": "#/components/schemas/ProblemFieldError"
    }
