"""Routing benchmark: pure decisions/s, and request-to-routed latency through the service.

Run with ``.venv/bin/python bench/routing.py [--seconds 5] [--rate 20] [--quick]`` (quick:
2 s each). A benchmark, not a test (pytest does not collect it); it asserts nothing about
speed.

(a) ``route`` over a generated directory of 1,000 providers (random categories, services,
    areas, eligibility, capacity), for a mix of people and needs: decisions per second.
(b) end to end, with Postgres and NATS started from the wheels (JWT authentication, streams
    declared by the setup identity, as ``safepath up`` does) and the referral app in this
    process with its own credentials and event key: ``ReferralRequested`` signed with the
    case service's key and published on the case stream as the setup identity (what the
    case relay does right after the commit) at a steady rate, until its ``ReferralRouted`` is
    committed (seen in ``referral_view`` by a 2 ms poller) and until it is on the referral
    stream (the relay's publish). p50/p99 in milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import random
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import nats
from benchkit import result

from services.migrations import migrate_all
from services.referral.app.directory_file import load_directory
from services.referral.config import ReferralSettings
from services.referral.data import DEFAULT_DIRECTORY
from services.referral.domain.directory_view import DirectoryView, view_of
from services.referral.domain.routing import RoutingFacts, route
from shared.bus import connect
from shared.devservers import EmbeddedNats, EmbeddedPostgres
from shared.envelope import Envelope, dataschema_for
from shared.events.case import ConsentScope, ReferralRequested
from shared.events.referral import Provider
from shared.events.vocabulary import CATEGORIES, DISTRICTS, SERVICE_TYPES
from shared.ids import uuid7
from shared.installation import Installation
from shared.settings import Settings
from shared.signatures import EventSigner

CONSENT = ConsentScope(
    consent_id="c-1",
    service_types=list(SERVICE_TYPES),
    provider_ids=[],
    data_categories=["needs"],
    expires_at=None,
)
BANDS = ("0-4", "5-11", "12-17", "18-24", "25-39", "40-59", "60+")


def generated_directory(n: int, rng: random.Random) -> DirectoryView:
    base = view_of(load_directory(DEFAULT_DIRECTORY))
    providers: dict[str, Provider] = {}
    for i in range(n):
        region = rng.choice(list(DISTRICTS))
        area = rng.choice(
            [
                {"nationwide": True},
                {"regions": [region]},
                {"districts": [rng.choice(DISTRICTS[region])], "regions": [region]},
            ]
        )
        child = rng.random() < 0.4
        providers[f"p{i:04d}"] = Provider.model_validate(
            {
                "id": f"p{i:04d}",
                "name": {"en": f"Provider {i}"},
                "org_type": "ngo",
                "area": area,
                "categories": rng.sample(list(CATEGORIES), rng.randint(1, 2)),
                "services": rng.sample(list(SERVICE_TYPES), rng.randint(1, 4)),
                "eligibility": {
                    "child_appropriate": child,
                    "sexes": rng.choice([None, ["female"]]),
                },
                "languages": rng.sample(["tg", "ru", "en"], rng.randint(1, 2)),
                "capacity": rng.choice([None, 5, 20]),
                "contact": {"subject": f"p{i:04d}"},
            }
        )
    in_use = {pid: rng.randint(0, 20) for pid in providers if rng.random() < 0.3}
    return DirectoryView(providers=providers, coordinators=base.coordinators, in_use=in_use)


def bench_pure(seconds: float) -> tuple[int, float]:
    rng = random.Random(7)
    view = generated_directory(1000, rng)
    cases = []
    for _ in range(200):
        region = rng.choice(list(DISTRICTS))
        facts = RoutingFacts(
            categories=(rng.choice(list(CATEGORIES)),),
            region=region,
            district=rng.choice(DISTRICTS[region]),
            sex=rng.choice(["female", "male"]),
            age_band=rng.choice(BANDS),
            language=rng.choice(["tg", "ru", "other"]),
            disability=False,
        )
        cases.append((rng.choice(list(SERVICE_TYPES)), facts))
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        need, facts = cases[done % len(cases)]
        route(need, facts, view, frozenset(), CONSENT)
        done += 1
    return done, done / (time.perf_counter() - start)


def request_event() -> ReferralRequested:
    return ReferralRequested(
        referral_id=str(uuid7()),
        needs=["shelter"],
        urgency="urgent",
        categories=["trafficking"],
        region="sughd",
        district="khujand",
        sex="female",
        age_band="25-39",
        language="tg",
        disability=False,
        consent=CONSENT,
        emergency_without_consent=False,
        emergency_reason=None,
        note=None,
        office="khujand-nrm",
        caseworker="cw-1",
    )


def envelope_of(case_id: str, event: ReferralRequested) -> Envelope:
    t = event.type_name()
    return Envelope(
        id=str(uuid7()),
        source="safepath/case",
        type=t,
        subject=case_id,
        time=datetime.now(UTC),
        dataschema=dataschema_for(t),
        streamversion=1,
        correlationid=str(uuid7()),
        actor="caseworker:cw-1",
        data=event.model_dump(mode="json"),
    )


def signed(env: Envelope, signer: EventSigner) -> bytes:
    """The envelope as its service's relay publishes it: signed, compact JSON."""
    doc = signer.sign(env.to_dict())
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()


async def bench_end_to_end(
    pg_url: str, nats_url: str, install: Installation, seconds: float, rate: float
) -> dict[str, list[float]]:
    from services.referral.main import create_app

    admin = await asyncpg.connect(pg_url)
    await admin.execute('CREATE DATABASE "bench_routing"')
    await admin.close()
    dsn = pg_url.rsplit("/", 1)[0] + "/bench_routing"
    await migrate_all(dsn)
    ns = install.namespace
    # The referral service's own bus identity: credentials, signing key, verify keys.
    bus = install.service_env("referral")
    app = create_app(
        Settings(
            database_url=dsn,
            nats_url=nats_url,
            namespace=ns,
            environment="test",
            log_level="WARNING",
            nats_credentials=Path(bus["SAFEPATH_NATS_CREDENTIALS"]),
            event_signing_key=bus["SAFEPATH_EVENT_SIGNING_KEY"],
            event_verify_keys=bus["SAFEPATH_EVENT_VERIFY_KEYS"],
        ),
        ReferralSettings(),
    )
    signer = EventSigner(install.event_keys()["case"])  # published as the case relay would
    sent: dict[str, float] = {}
    committed: dict[str, float] = {}
    published: dict[str, float] = {}
    async with app.router.lifespan_context(app):
        for name in ("faststream", "faststream.access", "faststream.access.nats"):
            logging.getLogger(name).disabled = True
        nc = await connect(install.setup_settings(nats_url), "setup")
        js = nc.jetstream()

        async def on_routed(msg: nats.aio.msg.Msg) -> None:
            published.setdefault(msg.subject.split(".")[2], time.perf_counter())

        await nc.subscribe(f"{ns}.referral.*.ReferralRouted", cb=on_routed)
        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
        stop = asyncio.Event()

        async def poll() -> None:
            while not stop.is_set():
                rows = await pool.fetch("SELECT referral_id FROM referral.referral_view")
                now = time.perf_counter()
                for r in rows:
                    committed.setdefault(r["referral_id"], now)
                await asyncio.sleep(0.002)

        poller = asyncio.create_task(poll())
        from services.referral.domain.commands import referral_id_for

        start, n = time.perf_counter(), 0
        while time.perf_counter() - start < seconds:
            event, case_id = request_event(), str(uuid.uuid4())
            env = envelope_of(case_id, event)
            await js.publish(
                f"{ns}.case.{case_id}.ReferralRequested",
                signed(env, signer),
                headers={"Nats-Msg-Id": env.id},
            )
            sent[referral_id_for(event.referral_id, "shelter")] = time.perf_counter()
            n += 1
            await asyncio.sleep(max(0.0, start + n / rate - time.perf_counter()))
        # Wait (at most 30 s) for the last ones; the loop checks two counts and a deadline.
        for _ in range(600):
            if len(committed) >= len(sent) and len(published) >= len(sent):
                break
            await asyncio.sleep(0.05)
        stop.set()
        await poller
        await pool.close()
        await nc.close()
        # Python 3.11's wait_for can swallow the relay's cancellation (see the tests'
        # stop_background_tasks): cancel until done so the lifespan's shutdown cannot hang.
        for task in app.state.runtime.tasks:
            while not task.done():
                task.cancel()
                await asyncio.wait([task], timeout=0.05)
    return {
        "committed": [(committed[k] - t) * 1000 for k, t in sent.items() if k in committed],
        "on the referral stream": [
            (published[k] - t) * 1000 for k, t in sent.items() if k in published
        ],
        "sent": [float(len(sent))],
    }


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def machine() -> str:
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    system = f"{platform.system()} {platform.release()}"
    return f"{cpu}, {os.cpu_count()} cores; {system}; Python {platform.python_version()}"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rate", type=float, default=20.0, help="requests per second for (b)")
    parser.add_argument("--quick", action="store_true", help="2 s for (a) and for (b)")
    args = parser.parse_args()
    if args.quick:
        args.seconds = 2.0
    logging.getLogger("faststream").setLevel(logging.WARNING)
    print(machine())
    decisions, per_second = bench_pure(args.seconds)
    print("\n| (a) pure `route`, 1,000 providers | decisions | decisions/s |")
    print("| --- | ---: | ---: |")
    print(f"| mixed people and needs | {decisions:,} | {per_second:,.0f} |")
    result("routing", "decisions_per_s", per_second, "decisions/s", providers=1000)
    with tempfile.TemporaryDirectory() as tmp:
        install = Installation(Path(tmp) / "data", "bench" + uuid.uuid4().hex[:6])
        pg = EmbeddedPostgres(Path(tmp) / "pg")
        ns = EmbeddedNats(Path(tmp) / "nats", config=install.server_config())
        pg_url, nats_url = pg.start(), ns.start()
        try:
            install.issue_all()
            await install.declare_streams(nats_url)
            latency = await bench_end_to_end(pg_url, nats_url, install, args.seconds, args.rate)
        finally:
            ns.stop()
            pg.stop()
    print(
        f"\n| (b) ReferralRequested → ReferralRouted at {args.rate:g}/s"
        " | n | p50 ms | p99 ms | max ms |"
    )
    print("| --- | ---: | ---: | ---: | ---: |")
    for label in ("committed", "on the referral stream"):
        v = latency[label]
        print(
            f"| {label} | {len(v)} of {int(latency['sent'][0])} | {statistics.median(v):.1f} | "
            f"{pct(v, 99):.1f} | {max(v):.1f} |"
        )
        name, rate = label.replace(" ", "_"), f"{args.rate:g}"
        result("routing", f"{name}.n", len(v), "requests", rate=rate)
        for p in (50, 99):
            result("routing", f"{name}.p{p}_ms", pct(v, p), "ms", rate=rate)
        result("routing", f"{name}.max_ms", max(v), "ms", rate=rate)


if __name__ == "__main__":
    asyncio.run(main())
