"""The committed event contract (docs/schemas, docs/asyncapi, docs/events.md) is what the
code produces; regenerate it with `make contract` (``safepath contract``)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from services import contract
from shared.digest import content_digest
from shared.envelope import SCHEMA_BASE_VARIABLE, dataschema_for
from shared.events import registry
from shared.eventstore import StoredEvent
from shared.ids import uuid7
from shared.settings import PROJECT_ROOT


@pytest.fixture(scope="module")
def generated() -> dict[Path, str]:
    return contract.documents()


@pytest.fixture(scope="module")
def asyncapi(generated: dict[Path, str]) -> dict[str, dict[str, Any]]:
    return {
        s: json.loads(generated[Path(f"docs/asyncapi/{s}.json")]) for s in contract.SERVICE_NAMES
    }


def test_the_committed_documents_are_what_the_code_generates(generated: dict[Path, str]) -> None:
    problems = contract.stale(PROJECT_ROOT, wanted=generated)
    assert problems == [], "run `make contract`:\n" + "\n".join(problems)


def test_a_changed_missing_or_orphaned_document_is_reported(
    generated: dict[Path, str], tmp_path: Path
) -> None:
    for path, text in generated.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text, encoding="utf-8")
    assert contract.stale(tmp_path, wanted=generated) == []

    schema = tmp_path / "docs/schemas/org.safepath.case.CaseOpened.v1.json"
    schema.write_text(schema.read_text().replace('"region"', '"area"'), encoding="utf-8")
    (tmp_path / "docs/asyncapi/notify.json").unlink()
    shutil.copy(schema, tmp_path / "docs/schemas/org.safepath.case.CaseRenamed.v1.json")
    older = tmp_path / "docs/schemas/org.safepath.case.CaseOpened.v0.json"  # upcast on read
    older.write_text("{}", encoding="utf-8")

    assert contract.stale(tmp_path, wanted=generated) == [
        "docs/asyncapi/notify.json: missing",
        "docs/schemas/org.safepath.case.CaseOpened.v1.json: differs from the code",
        "docs/schemas/org.safepath.case.CaseRenamed.v1.json: no model has this type",
    ]


def test_every_event_type_has_its_schema_where_its_dataschema_points(
    generated: dict[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(SCHEMA_BASE_VARIABLE, raising=False)
    for model in registry.models():
        path = Path(dataschema_for(model.type_name()))
        assert path in generated, path
        schema = json.loads(generated[path])
        assert schema["title"] == model.type_name()
        assert set(schema["properties"]) == set(model.model_fields)
    assert Path("docs/schemas/cloudevent.json") in generated


def test_dataschema_is_derived_at_publication_and_outside_the_hash(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from datetime import UTC, datetime

    stored = StoredEvent(
        global_position=1,
        tx_id=1,
        event_id=uuid7(),
        stream_id="c-1",
        stream_version=1,
        event_type="org.safepath.case.CaseNoteAdded.v1",
        occurred_at=datetime(2026, 11, 22, tzinfo=UTC),
        data={"note_id": "n1"},
        metadata={"actor": "caseworker:aziz", "correlationid": "c"},
        prev_hash=None,
        hash=b"x",
    )
    digest = content_digest(
        stored.event_id, "c-1", 1, stored.event_type, stored.occurred_at, stored.data,
        stored.metadata,
    )  # fmt: skip
    monkeypatch.delenv(SCHEMA_BASE_VARIABLE, raising=False)
    here = stored.to_envelope("case").dataschema
    monkeypatch.setenv(SCHEMA_BASE_VARIABLE, "https://docs.example.net/safepath/schemas/")
    published = stored.to_envelope("case").dataschema
    assert here == "docs/schemas/org.safepath.case.CaseNoteAdded.v1.json"
    assert (
        published
        == "https://docs.example.net/safepath/schemas/org.safepath.case.CaseNoteAdded.v1.json"
    )
    # What the chain hashes is the stored content: the base is not part of it.
    assert "dataschema" not in json.dumps(stored.metadata)
    assert digest == content_digest(
        stored.event_id, "c-1", 1, stored.event_type, stored.occurred_at, stored.data,
        stored.metadata,
    )  # fmt: skip
    monkeypatch.setenv(SCHEMA_BASE_VARIABLE, "schemas")  # not absolute: refused
    with pytest.raises(ValueError, match=SCHEMA_BASE_VARIABLE):
        stored.to_envelope("case")


def test_every_consumer_in_the_asyncapi_documents_has_its_typed_payload(
    asyncapi: dict[str, dict[str, Any]],
) -> None:
    subs = contract.subscriptions(asyncapi)
    assert {s.durable for s in subs} == {
        "case-notify-events",
        "case-referral-events",
        "notify-cases",
        "notify-deliver-NotificationQueued",
        "notify-deliver-NotificationRedeliveryRequested",
        "notify-referrals",
        "referral-case-events",
    }
    names = {m.name() for m in registry.models()}
    for s in subs:
        assert s.events and set(s.events) <= names, s
    by_name = {s.durable: s for s in subs}
    assert "ReferralRouted" in by_name["notify-referrals"].events
    assert "ProviderRegistered" in by_name["notify-referrals"].events  # its only directory
    assert "ServiceStarted" not in by_name["notify-referrals"].events


def test_each_service_document_lists_what_its_relay_publishes(
    asyncapi: dict[str, dict[str, Any]],
) -> None:
    for service, doc in asyncapi.items():
        sends = {name for name, op in doc["operations"].items() if op["action"] == "send"}
        kinds = ("provider", "coordinator", "caseworker", "supervisor")
        recipients = {f"{k}-notifications" for k in kinds}
        assert sends == {f"{service}-events"} | (recipients if service == "notify" else set())
        channel = doc["channels"][f"{service}-events"]
        assert channel["address"] == f"safepath.{service}.*.*"
        payload = doc["components"]["schemas"][f"{service.capitalize()}Event"]
        refs = {r["$ref"].rsplit("/", 1)[-1] for r in payload["properties"]["data"]["anyOf"]}
        assert refs == {m.name() for m in registry.models(service)}


def test_notify_documents_what_each_recipient_reads(asyncapi: dict[str, dict[str, Any]]) -> None:
    doc = asyncapi["notify"]
    channel = doc["channels"]["provider-notifications"]
    assert channel["address"] == "safepath.provider.*.notifications"
    assert "NotificationData" in doc["components"]["schemas"]
