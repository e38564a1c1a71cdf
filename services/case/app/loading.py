"""Loading a case to decide on it: only what the fold needs, parsed straight from JSON text.

A command needs the case's state and version, not the stored envelopes: so this reads the
version, type and data of each event (no metadata, hashes or ids) and validates the data
with the event model's ``model_validate_json`` (one pass over the text, no intermediate
dict). Events written by an older schema version go through the registry's upcasters as
``EventStore.load`` does, so the state is the one ``fold`` gives over ``read_stream``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

import asyncpg

from services.case.domain import Case, fold
from shared.events.base import Event
from shared.events.registry import Registry
from shared.eventstore import EventStore
from shared.migrations import quote_ident


@dataclass(frozen=True)
class LoadedCase:
    state: Case | None  # None: no such case
    version: int  # 0 when there is no case


async def load_case(
    store: EventStore, case_id: str, *, conn: asyncpg.Connection | None = None
) -> LoadedCase:
    """The case as its stream stands now and the stream's version."""
    rows = await (conn or store.pool).fetch(
        f"SELECT stream_version, event_type, data::text"
        f" FROM {quote_ident(store.schema)}.event WHERE stream_id = $1"
        " ORDER BY stream_version",
        case_id,
    )
    state = fold(_events(store.registry, rows))
    return LoadedCase(state, rows[-1][0] if rows else 0)


def _events(registry: Registry, rows: list[asyncpg.Record]) -> Iterator[Event]:
    for _, event_type, data in rows:
        model = _current_model(registry, event_type)
        if model is not None:
            yield model.model_validate_json(data)
        else:
            yield registry.load(event_type, json.loads(data))


@lru_cache(maxsize=256)
def _current_model(registry: Registry, event_type: str) -> type[Event] | None:
    """The model that validates ``event_type``'s data as stored; None when it needs upcasting
    (or is newer than this code: ``Registry.load`` says so)."""
    model = registry.model_for(event_type)
    return model if registry.parse_type(event_type)[2] == model.version else None
