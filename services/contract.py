"""The event contract as documents, generated from the code: ``safepath contract``.

- ``docs/schemas/<type>.json``: the JSON Schema of every event type and version (from the
  pydantic models in ``shared/events``), of the CloudEvents envelope
  (``cloudevent.json``) and of the notifications recipients receive. Each event's
  ``dataschema`` names its file (``shared.envelope.dataschema_for``).
- ``docs/asyncapi/<service>.json``: an AsyncAPI 3.0 document per service, from its real
  wiring: the service's ``bootstrap`` runs with a stand-in for ``start_runtime`` that
  builds the broker exactly as a running process does (``shared.bus``), lets the
  service's ``wire`` subscribe its consumers (typed handlers, so each payload is the
  consumer's event models) and connects nothing.
- ``docs/events.md``: the catalogue (producer, consumers, subject, fields clear or
  sealed, versions and upcasters), from the registry and those documents.

``tests/unit/test_contract.py`` fails when the committed documents and the code differ.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from fastapi import FastAPI
from faststream.specification import AsyncAPI
from pydantic import BaseModel

from shared import bus
from shared.app import StartRuntime
from shared.envelope import SCHEMA_PATH, Envelope
from shared.events import Sealed, registry
from shared.eventstore import EventStore
from shared.runtime import SERVICE_NAMES, Runtime
from shared.settings import PROJECT_ROOT, Settings
from shared.signatures import EventVerifier

SCHEMAS_DIR = Path("docs/schemas")
ASYNCAPI_DIR = Path("docs/asyncapi")
CATALOGUE = Path("docs/events.md")
ENVELOPE_FILE = "cloudevent.json"
JSON_SCHEMA = "https://json-schema.org/draft/2020-12/schema"
DOC_NATS_URL = "nats://127.0.0.1:4244"  # `make run`'s embedded server

# What each service's stream id (the CloudEvents subject, and the subject's third token) is.
STREAM_IDS = {
    "case": "the case id",
    "referral": "the referral id (one stream per need), or `directory`",
    "notify": "the notification id",
}


# -- JSON Schemas ----------------------------------------------------------------------------


def _schema(model: type[BaseModel], title: str, description: str | None) -> dict[str, Any]:
    body = model.model_json_schema()
    doc: dict[str, Any] = {"$schema": JSON_SCHEMA, "title": title}
    if description:
        doc["description"] = description
    doc.update({k: v for k, v in body.items() if k not in ("title", "description")})
    return doc


def _doc(model: type[BaseModel]) -> str | None:
    text = model.__doc__
    return " ".join(text.split()) if text else None


def schema_documents() -> dict[str, dict[str, Any]]:
    """File name under ``docs/schemas`` → JSON Schema."""
    from services.notify.domain.notification import Notification
    from services.notify.domain.payload import NOTIFICATION_TYPES

    docs: dict[str, dict[str, Any]] = {}
    for model in registry.models():
        docs[f"{model.type_name()}.json"] = _schema(model, model.type_name(), _doc(model))
    docs[ENVELOPE_FILE] = _schema(
        Envelope,
        "Safepath CloudEvent",
        "The CloudEvents 1.0 envelope every Safepath event travels in (structured-mode"
        " JSON); `data` follows the schema its `dataschema` names.",
    )
    for kind, type_name in sorted(NOTIFICATION_TYPES.items()):
        docs[f"{type_name}.json"] = _schema(
            Notification, type_name, f"The notification a {kind} receives. {_doc(Notification)}"
        )
    return docs


# -- AsyncAPI --------------------------------------------------------------------------------


class _Described(Exception):
    """Stops a service's lifespan right after ``wire``: the runtime it declared."""

    def __init__(self, runtime: Runtime) -> None:
        super().__init__("described")
        self.runtime = runtime


class _Absent:
    """Stands for the pool and the NATS clients: describing the wiring uses none."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(f"describing the wiring used a connection ({name})")


async def _describing_start(
    service: str,
    settings: Settings,
    *,
    migrations: Sequence[Path] = (),
    wire: Callable[[Runtime], None] | None = None,
) -> Runtime:
    """``start_runtime`` up to the wiring: the same broker and declarations, no I/O."""
    broker = bus.service_broker(settings, service)
    bus.declare_publications(broker, settings, service)
    absent = cast(Any, _Absent())
    rt = Runtime(
        service=service,
        settings=settings,
        pool=absent,
        nc=absent,
        js=absent,
        store=EventStore(absent, service),
        relay=absent,
        broker=broker,
        verifier=EventVerifier({}, settings.namespace),
    )
    if wire is not None:
        wire(rt)
    raise _Described(rt)


def _apps() -> dict[str, Callable[[Settings, StartRuntime], FastAPI]]:
    from services.case.bootstrap import bootstrap as case
    from services.notify.bootstrap import bootstrap as notify
    from services.notify.config import NotifySettings
    from services.referral.bootstrap import bootstrap as referral
    from services.referral.config import ReferralSettings

    return {
        "case": lambda s, start: case(s, start=start),
        "referral": lambda s, start: referral(s, ReferralSettings(), start=start),
        "notify": lambda s, start: notify(s, NotifySettings(), start=start),
    }


@contextlib.contextmanager
def _defaults_only() -> Iterator[None]:
    """No ``SAFEPATH_*`` variable of the caller's shell may change the documents."""
    saved = {k: v for k, v in os.environ.items() if k.startswith("SAFEPATH_")}
    for k in saved:
        del os.environ[k]
    try:
        yield
    finally:
        os.environ.update(saved)


async def _describe(service: str, app_of: Callable[[Settings, StartRuntime], FastAPI]) -> Any:
    settings = Settings(environment="development", nats_url=DOC_NATS_URL)
    app = app_of(settings, _describing_start)
    try:
        async with app.router.lifespan_context(app):
            raise AssertionError("the stand-in start did not stop the lifespan")
    except _Described as described:
        rt = described.runtime
    for task in rt.tasks:
        task.cancel()
    await asyncio.gather(*rt.tasks, return_exceptions=True)
    spec = AsyncAPI(
        rt.broker,
        title=app.title,
        version=app.version,
        description=(
            f"{app.description}\n\nEvery message is a CloudEvent signed by the service that"
            " wrote it (Ed25519, the `signature` extension); consumers verify the signature"
            " before anything else and send what fails to"
            " `safepath.deadletter.<consumer>`. Subjects are shown for the default"
            " namespace `safepath` (`SAFEPATH_NAMESPACE`)."
        ),
        schema_version="3.0.0",
    )
    doc: dict[str, Any] = spec.to_specification().to_jsonable()
    # FastStream keeps publishers in a set: sort the named maps so the file is stable.
    for section in (doc, doc.get("components", {})):
        for key in ("channels", "operations", "messages", "schemas"):
            if isinstance(section.get(key), dict):
                section[key] = dict(sorted(section[key].items()))
    return doc


def asyncapi_documents() -> dict[str, dict[str, Any]]:
    """Service → its AsyncAPI document."""

    async def all_of() -> dict[str, dict[str, Any]]:
        apps = _apps()
        return {s: await _describe(s, apps[s]) for s in SERVICE_NAMES}

    with _defaults_only():
        return asyncio.run(all_of())


# -- the catalogue ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Subscription:
    """One durable consumer as its service's AsyncAPI document declares it."""

    service: str
    durable: str
    address: str
    events: tuple[str, ...]  # event names of its payload's ``data``


def subscriptions(asyncapi: dict[str, dict[str, Any]]) -> list[Subscription]:
    found = []
    for service, doc in asyncapi.items():
        schemas = doc["components"]["schemas"]
        for op in doc["operations"].values():
            if op["action"] != "receive":
                continue
            channel_name = _unref(op["channel"]["$ref"])
            channel = doc["channels"][channel_name]
            message = doc["components"]["messages"][
                _unref(next(iter(channel["messages"].values()))["$ref"])
            ]
            data = schemas[_unref(message["payload"]["$ref"])]["properties"]["data"]
            refs = data.get("anyOf") or [data]
            names = tuple(sorted(_unref(r["$ref"]) for r in refs))
            found.append(Subscription(service, channel_name, channel["address"], names))
    return sorted(found, key=lambda s: (s.service, s.durable))


def _unref(ref: str) -> str:
    return ref.rsplit("/", 1)[-1].replace("%3E", ">").replace("%20", " ")


def _type_text(prop: dict[str, Any]) -> str:
    """A field's type in a line, from its JSON Schema."""
    if "$ref" in prop:
        return str(prop["$ref"]).rsplit("/", 1)[-1]
    if "anyOf" in prop:
        return " or ".join(_type_text(p) for p in prop["anyOf"])
    if "enum" in prop:
        return "one of " + ", ".join(f"`{v}`" for v in prop["enum"])
    if "const" in prop:
        return f"`{prop['const']}`"
    kind = prop.get("type", "any")
    if kind == "array":
        return f"list of {_type_text(prop.get('items', {}))}"
    if kind == "string" and "format" in prop:
        return f"string ({prop['format']})"
    return str(kind)


def _sealed_paths(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Dotted paths of the ``Sealed`` fields of ``model`` (nested models included)."""
    paths: list[str] = []
    for name, field in model.model_fields.items():
        for kind in _types_in(field.annotation):
            if kind is Sealed:
                paths.append(prefix + name)
            elif issubclass(kind, BaseModel):
                paths.extend(_sealed_paths(kind, f"{prefix}{name}."))
    return sorted(set(paths))


def _types_in(annotation: Any) -> list[type]:
    from typing import get_args

    if isinstance(annotation, type):
        return [annotation]
    out: list[type] = []
    for arg in get_args(annotation):
        out.extend(_types_in(arg))
    return out


def events_markdown(asyncapi: dict[str, dict[str, Any]]) -> str:
    subs = subscriptions(asyncapi)
    upcasters = registry.upcasters()
    lines = [
        "# Event catalogue",
        "",
        "<!-- Generated by `safepath contract` (services/contract.py) from the event registry"
        " and the services' wiring; tests/unit/test_contract.py fails when it is stale. -->",
        "",
        "Every event is a CloudEvents 1.0 structured-mode JSON message"
        f" ([envelope schema]({SCHEMA_PATH.removeprefix('docs/')}/{ENVELOPE_FILE})):"
        " `type` is `org.safepath.<service>.<EventName>.v<N>`, `subject` the stream id,"
        " `dataschema` the event's JSON Schema (`docs/schemas/<type>.json` in this"
        " repository, or under `SAFEPATH_SCHEMA_BASE_URL` where an installation publishes"
        " them). The relay publishes each committed event, signed by its service, on"
        " `<namespace>.<service>.<stream id>.<EventName>` (namespace `safepath` by"
        " default) with JetStream message id = event id. AsyncAPI documents per service:"
        " [case](asyncapi/case.json), [referral](asyncapi/referral.json),"
        " [notify](asyncapi/notify.json).",
        "",
        "**Sealed** fields hold identifying data encrypted under the case's own key"
        " (`Sealed`: AES-256-GCM `kid`, `nonce`, `ct`); erasing the key leaves them"
        " unreadable and the hash chain intact. Every other field is in **clear**.",
        "",
        "Versions: every type is at the version shown; an older version is upcast on"
        " read by the registered upcasters (never rewritten in the store), and its"
        " schema file stays published.",
        "",
        "## Consumers",
        "",
        "| service | durable consumer | subject | events |",
        "| --- | --- | --- | --- |",
    ]
    for s in subs:
        lines.append(f"| {s.service} | `{s.durable}` | `{s.address}` | {', '.join(s.events)} |")
    lines += [
        "",
        "## Notifications to recipients",
        "",
        "What notify sends a provider, coordinator or caseworker on"
        " `<namespace>.<kind>.<recipient id>.notifications` and by signed webhook: a"
        " CloudEvent of the allow-listed referral facts (never a name, contact or case id).",
        "",
    ]
    from services.notify.domain.payload import NOTIFICATION_TYPES

    for kind, type_name in sorted(NOTIFICATION_TYPES.items()):
        lines.append(f"- {kind}: `{type_name}` ([schema](schemas/{type_name}.json))")
    for service in SERVICE_NAMES:
        models = registry.models(service)
        lines += ["", f"## {service} service", ""]
        lines.append(
            f"Producer: the {service} service (`safepath/{service}`). Stream id:"
            f" {STREAM_IDS[service]}."
        )
        for model in models:
            consumers = [s.durable for s in subs if model.name() in s.events]
            lines += ["", f"### {model.name()}", ""]
            if model.__doc__:
                lines += [" ".join(model.__doc__.split()), ""]
            ups = [
                f"v{v} → v{v + 1}" for (sv, n, v) in upcasters if (sv, n) == (service, model.name())
            ]
            lines += [
                f"- type: `{model.type_name()}` (version {model.version};"
                f" upcasters: {', '.join(ups) if ups else 'none'})",
                f"- schema: [{model.type_name()}.json](schemas/{model.type_name()}.json)",
                f"- subject: `safepath.{service}.<stream id>.{model.name()}`",
                f"- consumers: {', '.join(f'`{c}`' for c in consumers) or 'none'}",
                "",
                "| field | type | clear or sealed |",
                "| --- | --- | --- |",
            ]
            sealed = _sealed_paths(model)
            properties = model.model_json_schema()["properties"]
            for name in model.model_fields:
                mine = [p for p in sealed if p == name or p.startswith(name + ".")]
                if name in sealed:
                    how = "**sealed**"
                elif mine:
                    how = "clear, except **sealed** " + ", ".join(f"`{p}`" for p in mine)
                else:
                    how = "clear"
                type_text = _type_text(properties[name]).replace("|", "\\|")
                lines.append(f"| `{name}` | {type_text} | {how} |")
    return "\n".join(lines) + "\n"


# -- writing and checking --------------------------------------------------------------------


def _json(doc: Any) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def documents(only: str | None = None) -> dict[Path, str]:
    """Path (relative to the project root) → content, for ``only`` one kind or all."""
    out: dict[Path, str] = {}
    if only in (None, "schemas"):
        for name, doc in schema_documents().items():
            out[SCHEMAS_DIR / name] = _json(doc)
    if only in (None, "asyncapi", "events"):
        asyncapi = asyncapi_documents()
        if only in (None, "asyncapi"):
            for service, doc in asyncapi.items():
                out[ASYNCAPI_DIR / f"{service}.json"] = _json(doc)
        if only in (None, "events"):
            out[CATALOGUE] = events_markdown(asyncapi)
    return out


def stale(
    root: Path = PROJECT_ROOT, only: str | None = None, wanted: dict[Path, str] | None = None
) -> list[str]:
    """What differs between the code (``wanted``, by default generated now) and the
    documents under ``root`` (empty: in step).

    A committed schema no model produces is stale, unless it is an older version of a
    registered type: old events are upcast on read, and their schema stays published.
    """
    wanted = documents(only) if wanted is None else wanted
    problems = [
        f"{path}: differs from the code" if (root / path).exists() else f"{path}: missing"
        for path, text in sorted(wanted.items())
        if not (root / path).exists() or (root / path).read_text(encoding="utf-8") != text
    ]
    if only in (None, "schemas"):
        for path in sorted((root / SCHEMAS_DIR).glob("*.json")):
            rel = path.relative_to(root)
            if rel not in wanted and not _older_version(path.name):
                problems.append(f"{rel}: no model has this type")
    return problems


def _older_version(file_name: str) -> bool:
    try:
        type_name = file_name.removesuffix(".json")
        version = registry.parse_type(type_name)[2]
        return version < registry.model_for(type_name).version
    except LookupError:
        return False


def write(root: Path = PROJECT_ROOT, only: str | None = None) -> list[Path]:
    """Write the documents; the paths that changed."""
    changed = []
    for path, text in documents(only).items():
        target = root / path
        if target.exists() and target.read_text(encoding="utf-8") == text:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        changed.append(path)
    return changed
