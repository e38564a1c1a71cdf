"""The provider kinds the statistics count come from the directory events the case service
received, verified: a forged directory event is dead-lettered by the consumer's signature
check and lands neither in ``received_directory_event`` (what a replay rebuilds
``stat_provider`` from) nor in ``stat_provider`` (docs/statistics.md, "Provider kinds").

Against the suite's real NATS server (operator mode) and PostgreSQL; the forger holds a
credential that may publish on the referral stream, so only signatures stand.
"""

from __future__ import annotations

import json

import asyncpg
import httpx
from nats.js import JetStreamContext

from shared.events.referral import ProviderRegistered, ProviderUpdated
from shared.signatures import EventSigner, new_signing_key
from tests.integration.notify.stories import envelope, eventually
from tests.keys import SIGNING_KEYS, signed
from tests.unit.referral.builders import provider


async def test_a_forged_directory_event_never_becomes_a_provider_kind(
    client: httpx.AsyncClient,  # the case service, its consumers running
    js: JetStreamContext,
    namespace: str,
    pool: asyncpg.Pool,
) -> None:
    subject = f"{namespace}.referral.directory"
    genuine = envelope(ProviderRegistered(provider=provider("shelter-a", org_type="ngo")),
                       "directory")  # fmt: skip
    await js.publish(f"{subject}.ProviderRegistered", signed(genuine))

    async def kept() -> list[tuple[str, int, str, bool]]:
        rows = await pool.fetch(
            """SELECT provider_id, version, org_type, envelope IS NOT NULL AS signed
               FROM "case".received_directory_event ORDER BY version, provider_id"""
        )
        return [tuple(r) for r in rows]

    await eventually(kept, lambda rows: rows == [("shelter-a", 1, "ngo", True)])

    # The next version of the directory, forged: a kind changed, a provider made up.
    changed = envelope(
        ProviderUpdated(provider=provider("shelter-a", org_type="government")), "directory",
        version=2,
    ).to_dict()  # fmt: skip
    made_up = envelope(
        ProviderRegistered(provider=provider("forged-provider", org_type="un_agency")),
        "directory", version=2,
    ).to_dict()  # fmt: skip
    wrong_key = new_signing_key()
    forgeries = [
        (f"{subject}.ProviderUpdated", json.dumps(changed).encode()),  # unsigned
        (f"{subject}.ProviderRegistered", json.dumps(made_up).encode()),
        (f"{subject}.ProviderUpdated", json.dumps(EventSigner(wrong_key).sign(changed)).encode()),
        # signed by the case service, claiming to be the referral service's
        (f"{subject}.ProviderRegistered",
         json.dumps(EventSigner(SIGNING_KEYS["case"]).sign(made_up)).encode()),
        # a genuine signature, then the kind altered
        (f"{subject}.ProviderRegistered", json.dumps(
            {**json.loads(signed(made_up)), "data": {"provider": {
                **made_up["data"]["provider"], "org_type": "government"}}}).encode()),
    ]  # fmt: skip
    dl = f"{namespace}_deadletter".upper()
    before = (await js.stream_info(dl)).state.messages
    for i, (subj, raw) in enumerate(forgeries):
        await js.publish(subj, raw, headers={"Nats-Msg-Id": f"forged-{i}"})

    async def parked() -> int:
        return (await js.stream_info(dl)).state.messages - before

    await eventually(parked, lambda n: n >= len(forgeries))
    info = await js.stream_info(dl)
    for seq in range(info.state.last_seq - len(forgeries) + 1, info.state.last_seq + 1):
        msg = await js.get_msg(dl, seq)
        assert msg.headers and msg.headers["Safepath-Dead-Letter-Reason"].startswith(
            "not authentic"
        )
    # The genuine version 2 after the forgeries: once it is kept, they were seen.
    real_update = envelope(
        ProviderUpdated(provider=provider("shelter-a", org_type="international")), "directory",
        version=2,
    )  # fmt: skip
    await js.publish(f"{subject}.ProviderUpdated", signed(real_update))
    await eventually(
        kept,
        lambda rows: (
            rows == [("shelter-a", 1, "ngo", True), ("shelter-a", 2, "international", True)]
        ),
    )
    envelopes = await pool.fetch('SELECT envelope FROM "case".received_directory_event')
    assert all("forged-provider" not in r["envelope"] and "government" not in r["envelope"]
               for r in envelopes)  # fmt: skip
    kinds = await pool.fetch('SELECT provider_id, org_type FROM "case".stat_provider')
    assert [tuple(r) for r in kinds] == [("shelter-a", "international")]


async def test_audit_verify_checks_the_directory_events_the_statistics_kept(
    client: httpx.AsyncClient,  # the case service, its consumers running
    js: JetStreamContext,
    namespace: str,
    pool: asyncpg.Pool,
) -> None:
    """What a replay rebuilds the provider kinds from can be checked again later, as the
    timeline's foreign events are (``safepath audit verify``)."""
    from shared.audit import verify_service
    from shared.signatures import EventVerifier
    from tests.keys import VERIFY_KEYS

    # Carried over by migration 0017 (no envelope): counted apart, not a problem; the first
    # gains its signed event when the referral stream is delivered again.
    await pool.execute(
        'INSERT INTO "case".received_directory_event (provider_id, version, org_type)'
        " VALUES ('older', 1, 'government'), ('shelter-b', 1, 'ngo')"
    )
    ev = envelope(ProviderRegistered(provider=provider("shelter-b", org_type="ngo")), "directory")
    await js.publish(f"{namespace}.referral.directory.ProviderRegistered", signed(ev))

    async def kept() -> list[tuple[str, bool]]:
        rows = await pool.fetch(
            'SELECT provider_id, envelope IS NOT NULL FROM "case".received_directory_event'
            " ORDER BY 1"
        )
        return [tuple(r) for r in rows]

    await eventually(kept, lambda rows: rows == [("older", False), ("shelter-b", True)])
    verifier = EventVerifier.from_text(VERIFY_KEYS, namespace)

    async def audit() -> tuple[int | None, int | None, list[str]]:
        report = await verify_service(pool, "case", public_key="", checkpoints=[],
                                      verifier=verifier)  # fmt: skip
        problems = [p for p in report.problems if p.startswith("directory event")]
        return report.directory_events_verified, report.directory_events_unsigned, problems

    assert await audit() == (1, 1, [])
    # Someone with database access changes the kind a replay would count ...
    await pool.execute(
        """UPDATE "case".received_directory_event SET org_type = 'government'
           WHERE provider_id = 'shelter-b'"""
    )
    verified, _, problems = await audit()
    assert verified == 0 and problems == [
        "directory event shelter-b v1: the row differs from the signed event"
    ]
    # ... and the recorded event to match: its signature no longer verifies.
    await pool.execute(
        """UPDATE "case".received_directory_event
           SET envelope = jsonb_set(envelope::jsonb, '{data,provider,org_type}',
                                    '"government"')::text
           WHERE provider_id = 'shelter-b'"""
    )
    verified, _, problems = await audit()
    assert verified == 0 and len(problems) == 1 and "does not verify" in problems[0]
