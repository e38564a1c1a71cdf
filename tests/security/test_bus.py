"""The bus is not a trusted place: who may connect, publish, create; what is applied.

Against the suite's real NATS server, which runs in operator (JWT) mode exactly as
``safepath up`` starts it, with credentials issued per test namespace.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import stat

import asyncpg
import httpx
import nats
import pytest
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from shared.events.referral import ReferralAccepted
from shared.jetstream import stream_config
from shared.signatures import EventSigner, EventVerifier, new_signing_key
from tests.conftest import connect_as, credentials
from tests.integration.case.stories import open_case
from tests.integration.case.test_record import _request_referral
from tests.integration.notify.stories import envelope, eventually, routed
from tests.keys import SIGNING_KEYS, VERIFY_KEYS, signed
from tests.servers import Servers


class Errors:
    """Permission violations arrive asynchronously, on the error callback."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    async def record(self, e: Exception) -> None:
        self.seen.append(str(e).lower())

    async def wait_for(self, fragment: str, within: float = 3.0) -> None:
        for _ in range(int(within / 0.02)):
            if any(fragment.lower() in m for m in self.seen):
                return
            await asyncio.sleep(0.02)
        raise AssertionError(f"no error mentioning {fragment!r}; saw {self.seen}")


async def as_service(servers: Servers, service: str, namespace: str, errors: Errors) -> NATS:
    return await connect_as(
        servers, service, namespace, error_cb=errors.record, allow_reconnect=False
    )


async def test_an_anonymous_client_is_refused(servers: Servers) -> None:
    with pytest.raises(nats.errors.Error, match="Authorization Violation"):
        await nats.connect(servers.nats_url, allow_reconnect=False, max_reconnect_attempts=0)


async def test_a_password_is_no_way_in(servers: Servers) -> None:
    with pytest.raises(nats.errors.Error, match="Authorization Violation"):
        await nats.connect(
            servers.nats_url,
            user="provider-femida-shelter-dushanbe",
            password="anything",
            allow_reconnect=False,
            max_reconnect_attempts=0,
        )


async def test_credentials_signed_by_another_account_are_refused(
    servers: Servers, tmp_path: object, namespace: str
) -> None:
    from pathlib import Path

    from shared.natsauth import Credentials

    stranger = Credentials(Path(str(tmp_path)) / "stranger").issue("setup", namespace)
    with pytest.raises(nats.errors.Error, match="Authorization Violation"):
        await nats.connect(
            servers.nats_url,
            user_credentials=str(stranger),
            allow_reconnect=False,
            max_reconnect_attempts=0,
        )


async def test_a_service_publishes_only_its_own_subjects(
    servers: Servers, namespace: str, streams: None
) -> None:
    errors = Errors()
    nc = await as_service(servers, "case", namespace, errors)
    js = nc.jetstream(timeout=1.0)
    ack = await js.publish(f"{namespace}.case.s.Noted", b"{}")  # its own: fine
    assert ack.stream == f"{namespace}_CASE".upper()
    for subject in (
        f"{namespace}.referral.r.ReferralAccepted",
        f"{namespace}.notify.n.NotificationDelivered",
        f"{namespace}.provider.femida-shelter-dushanbe.notifications",
        f"{namespace}.audit.referral.checkpoint",
        f"{namespace}.deadletter.notify-cases",
    ):
        await nc.publish(subject, b"{}")
        await nc.flush()
        await errors.wait_for(f'permissions violation for publish to "{subject}"')
    await nc.close()


async def test_a_service_cannot_create_change_purge_or_delete_streams(
    servers: Servers, namespace: str, streams: None, js: JetStreamContext
) -> None:
    errors = Errors()
    nc = await as_service(servers, "referral", namespace, errors)
    sjs = nc.jetstream(timeout=1.0)
    own = f"{namespace}_REFERRAL".upper()
    attempts = (
        ("DELETE", sjs.delete_stream(own)),
        ("PURGE", sjs.purge_stream(own)),
        ("UPDATE", sjs.update_stream(stream_config(own, [f"{namespace}.>"]))),
        ("CREATE", sjs.add_stream(stream_config(f"{namespace}_EVIL".upper(), ["evil.>"]))),
    )
    for verb, attempt in attempts:
        with pytest.raises(nats.errors.TimeoutError):
            await attempt
        await errors.wait_for(f"$js.api.stream.{verb.lower()}")
    # Nor read another service's consumers or make one on a stream it does not consume.
    with pytest.raises(nats.errors.TimeoutError):
        await sjs.pull_subscribe(f"{namespace}.notify.>", durable="sneaky", stream=own)
    await nc.close()
    assert (await js.stream_info(own)).config.subjects == [f"{namespace}.referral.>"]


async def test_a_service_cannot_read_another_identitys_replies(
    servers: Servers, namespace: str, streams: None
) -> None:
    errors = Errors()
    nc = await as_service(servers, "notify", namespace, errors)
    for subject in ("_INBOX.>", "_INBOX.case.>", f"{namespace}.case.>", ">"):
        await nc.subscribe(subject)
        await errors.wait_for(f'permissions violation for subscription to "{subject}"')
    await nc.close()


def test_credentials_and_trust_files_are_owner_only(servers: Servers, namespace: str) -> None:
    path = credentials(servers, "case", namespace)
    for f in [path, *(servers.credentials.directory / "trust").iterdir()]:
        mode = stat.S_IMODE(os.stat(f).st_mode)
        assert mode == 0o600, (f, oct(mode))
    assert stat.S_IMODE(os.stat(servers.credentials.directory / "trust").st_mode) == 0o700


# -- forged events --------------------------------------------------------------------------------


def _resigned(doc: dict[str, object], seed: str) -> bytes:
    return json.dumps(EventSigner(seed).sign(doc), separators=(",", ":")).encode()


async def test_forged_events_are_dead_lettered_and_never_shown(
    client: httpx.AsyncClient,
    auth,  # type: ignore[no-untyped-def]
    js: JetStreamContext,
    namespace: str,
    pool: asyncpg.Pool,
) -> None:
    """What the outside probe did: publish a ``ReferralAccepted`` the referral service
    never wrote. Here the forger even holds a credential that may publish on the
    referral stream (a leaked one: the setup identity), so only signatures stand."""
    h = auth("caseworker", office="khujand")
    case_id = await open_case(client, h)
    request_id = await _request_referral(client, h, case_id)
    rid = "11111111-2222-4333-8444-555555555555"
    ev = routed(rid, case_id=case_id, request_id=request_id, region="sughd", district="khujand")
    subject = f"{namespace}.referral.{rid}"
    await js.publish(f"{subject}.ReferralRouted", signed(envelope(ev, rid)))

    async def status() -> str:
        body = (await client.get(f"/cases/{case_id}", headers=h)).json()
        return str(body["referrals"][0]["status"])

    await eventually(status, lambda s: s == "routed")

    accepted = envelope(
        ReferralAccepted(referral_id=rid, case_id=case_id, provider_id=ev.provider_id),
        rid,
        version=2,
    ).model_copy(update={"actor": "provider:FORGER"})
    doc = accepted.to_dict()
    wrong_key = new_signing_key()
    forgeries = {
        "unsigned": json.dumps(doc).encode(),
        "signed by an unknown key": _resigned(doc, wrong_key),
        "signed by the case service, claiming to be referral": _resigned(doc, SIGNING_KEYS["case"]),
        "genuine signature, then altered": json.dumps(
            {**json.loads(signed(accepted)), "actor": "provider:SOMEONE-ELSE"}
        ).encode(),
        "signed as case, on the referral subject": signed(
            {**doc, "source": "safepath/case"}, "case"
        ),
    }
    dl = f"{namespace}_deadletter".upper()
    before = (await js.stream_info(dl)).state.messages
    for i, raw in enumerate(forgeries.values()):
        await js.publish(f"{subject}.ReferralAccepted", raw, headers={"Nats-Msg-Id": f"f{i}"})
    # A genuine, signed event after the forgeries: once it is applied, they were seen.
    await js.publish(
        f"{namespace}.referral.other.ReferralRouted",
        signed(envelope(routed(case_id=case_id, request_id=request_id), "other")),
    )

    async def parked() -> int:
        return (await js.stream_info(dl)).state.messages - before

    # Only the case service consumes here: each forgery is parked once, by it.
    await eventually(parked, lambda n: n >= len(forgeries))
    reasons = []
    info = await js.stream_info(dl)
    for seq in range(info.state.last_seq - len(forgeries) + 1, info.state.last_seq + 1):
        msg = await js.get_msg(dl, seq)
        reasons.append(msg.headers["Safepath-Dead-Letter-Reason"] if msg.headers else "")
    assert all(r.startswith("not authentic") for r in reasons), reasons

    body = (await client.get(f"/cases/{case_id}", headers=h)).json()
    assert {r["status"] for r in body["referrals"]} <= {"routed", "requested"}
    history = (await client.get(f"/cases/{case_id}/history", headers=auth("auditor"))).json()
    assert "ReferralAccepted" not in json.dumps(history)
    assert "FORGER" not in json.dumps(history)
    rows = await pool.fetch(
        'SELECT event_type FROM "case".case_timeline WHERE event_type LIKE $1', "%Accepted%"
    )
    assert rows == []


def test_a_verifier_rejects_each_kind_of_forgery_with_a_safe_reason() -> None:
    verifier = EventVerifier.from_text(VERIFY_KEYS, "ns")
    doc = {
        "specversion": "1.0",
        "id": "e1",
        "source": "safepath/referral",
        "type": "org.safepath.referral.ReferralAccepted.v1",
        "subject": "r-1",
        "data": {"name": "Gulnora Rahimova"},
    }
    good = signed(doc)
    verifier.verify(good, subject="ns.referral.r-1.ReferralAccepted", stream="NS_REFERRAL")
    cases = {
        "arrived on another service's subject": ("ns.case.r-1.ReferralAccepted", "NS_REFERRAL"),
        "does not match its subject": ("ns.referral.r-2.ReferralAccepted", "NS_REFERRAL"),
        "arrived on stream": ("ns.referral.r-1.ReferralAccepted", "NS_CASE"),
    }
    for reason, (subject, stream) in cases.items():
        with pytest.raises(ValueError, match=reason) as e:
            verifier.verify(good, subject=subject, stream=stream)
        assert "Gulnora" not in str(e.value)
    bad = json.loads(good)
    bad["signature"] = base64.b64encode(b"x" * 64).decode()
    with pytest.raises(ValueError, match="does not verify"):
        verifier.verify(
            json.dumps(bad).encode(), subject="ns.referral.r-1.ReferralAccepted", stream=None
        )


async def test_audit_verify_checks_the_signatures_the_timeline_recorded(
    client: httpx.AsyncClient,
    auth,  # type: ignore[no-untyped-def]
    js: JetStreamContext,
    namespace: str,
    pool: asyncpg.Pool,
) -> None:
    from shared.audit import verify_service

    h = auth("caseworker", office="khujand")
    case_id = await open_case(client, h)
    request_id = await _request_referral(client, h, case_id)
    rid = "21111111-2222-4333-8444-555555555555"
    ev = routed(rid, case_id=case_id, request_id=request_id, region="sughd", district="khujand")
    await js.publish(f"{namespace}.referral.{rid}.ReferralRouted", signed(envelope(ev, rid)))

    async def recorded() -> int:
        return int(
            await pool.fetchval(
                'SELECT count(*) FROM "case".case_timeline WHERE envelope IS NOT NULL'
            )
        )

    await eventually(recorded, lambda n: n == 1)
    verifier = EventVerifier.from_text(VERIFY_KEYS, namespace)

    async def audit() -> tuple[int | None, list[str]]:
        report = await verify_service(
            pool, "case", public_key="", checkpoints=[], stream_id=case_id, verifier=verifier
        )
        return report.signed_events_verified, [p for p in report.problems if "timeline" in p]

    assert await audit() == (1, [])
    # Someone with database access rewrites what the referral service said ...
    await pool.execute(
        """UPDATE "case".case_timeline SET data = jsonb_set(data, '{provider_id}', '"x"')
           WHERE envelope IS NOT NULL"""
    )
    verified, problems = await audit()
    assert verified == 0 and len(problems) == 1
    assert problems[0].endswith("the row differs from the signed event")
    # ... and, to match, the recorded event too: its signature no longer verifies.
    await pool.execute(
        """UPDATE "case".case_timeline
           SET envelope = jsonb_set(envelope::jsonb, '{data,provider_id}', '"x"')::text
           WHERE envelope IS NOT NULL"""
    )
    verified, problems = await audit()
    assert verified == 0 and len(problems) == 1 and "does not verify" in problems[0]
