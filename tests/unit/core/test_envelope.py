"""The envelope is CloudEvents 1.0: the SDK's own parser accepts what Safepath writes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from cloudevents.core.formats.json import JSONFormat
from cloudevents.v1.http import from_json as v1_from_json
from pydantic import ValidationError

from shared.envelope import Actor, Envelope
from shared.eventstore import StoredEvent
from shared.ids import uuid7


def _stored() -> StoredEvent:
    return StoredEvent(
        global_position=7,
        tx_id=900,
        event_id=uuid7(),
        stream_id="c-1",
        stream_version=3,
        event_type="org.safepath.case.CaseNoteAdded.v1",
        occurred_at=datetime(2026, 11, 22, 10, 0, 0, 123456, tzinfo=UTC),
        data={"note_id": "n1"},
        metadata={"actor": "caseworker:aziz", "correlationid": "corr-1", "causationid": "cause-1"},
        prev_hash=None,
        hash=b"x",
    )


def test_uuid7_is_version_7_and_time_ordered() -> None:
    a = uuid7(1_700_000_000_000)
    b = uuid7(1_700_000_000_001)
    assert a.version == 7 and a.variant == uuid.RFC_4122
    assert a < b


def test_cloudevents_sdk_parses_a_safepath_event() -> None:
    raw = _stored().to_envelope("case").to_json()
    event = JSONFormat().read(None, raw)  # strict v1.0 validation, extensions included
    assert event.get_specversion() == "1.0"
    assert event.get_type() == "org.safepath.case.CaseNoteAdded.v1"
    assert event.get_source() == "safepath/case"
    assert event.get_subject() == "c-1"
    assert event.get_extension("streamversion") == 3
    assert event.get_extension("correlationid") == "corr-1"
    assert event.get_extension("causationid") == "cause-1"
    assert event.get_extension("actor") == "caseworker:aziz"
    assert event.get_data() == {"note_id": "n1"}
    legacy = v1_from_json(raw)
    assert legacy["id"] == str(_stored().event_id) or legacy["type"].endswith("v1")


def test_envelope_round_trips_and_rejects_bad_input() -> None:
    env = _stored().to_envelope("case")
    assert Envelope.from_json(env.to_json()) == env
    with pytest.raises(ValueError):
        Envelope.from_json(b"not json")
    with pytest.raises(ValidationError):
        Envelope.from_json(b'{"specversion": "1.0", "id": "x"}')


def test_actor_encodes_role_and_subject() -> None:
    a = Actor(sub="aziz@khujand", role="caseworker")
    assert Actor.decode(a.encode()) == a
