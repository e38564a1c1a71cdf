"""Notification delivery: notifications/s over NATS and over webhooks, and latency from a
``ReferralRouted`` on the bus to the provider's receipt.

Run with ``.venv/bin/python bench/notify.py [--count 500] [--quick]`` (quick: 100 per
channel). A benchmark, not a test.

Starts Postgres (durable defaults) and NATS from the wheels (JWT authentication, streams
declared by the setup identity, as ``safepath up`` does), runs the notify service in-process
with its own credentials and event key (its JetStream consumers and relay, as in
production), and publishes ``count`` ``ReferralRouted`` events onto the referral stream,
signed with the referral service's key, as the referral service's relay would (the publish
ack stands for "committed and relayed"; the bench connects as the setup identity). Two runs:

* ``nats``: the provider has no webhook; receipt = the message arriving on the provider's
  subject ``<ns>.provider.<id>.notifications`` (a core subscription, as a live provider).
* ``webhook``: the provider registered a webhook on a local HTTP receiver (loopback,
  answers 200 at once); receipt = the POST arriving. The NATS copy goes out too.

Latency is per notification: receipt time minus the publish time of the event that caused
it. Throughput is notifications received / (last receipt - first publish). SQL statements,
explicit COMMITs and transactions (autocommit statements included) per notification are
read from ``pg_stat_statements`` (preloaded in the
embedded Postgres before notify starts) and ``pg_stat_database``, from just before a run's
first publish until its deliveries are recorded (the notify stream's delivery consumers
have nothing pending), divided by the count; the bench's own reads are left out.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import asyncpg
import httpx
import nats
from benchkit import create_pg_stat_statements, preload_pg_stat_statements, result

from services.migrations import migrate_all
from services.notify.config import NotifySettings
from services.notify.main import create_app
from services.referral.data import DEFAULT_DIRECTORY
from services.referral.domain.directory import parse_directory
from services.referral.domain.directory_view import DirectoryView, import_directory
from shared.auth import AuthConfig, mint_token
from shared.bus import connect
from shared.devservers import EmbeddedNats, EmbeddedPostgres
from shared.envelope import Envelope
from shared.installation import Installation
from shared.settings import Settings
from shared.signatures import EventSigner

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for the tests' event builders
from tests.integration.notify.stories import envelope, routed

NATS_PROVIDER = "femida-shelter-dushanbe"
WEBHOOK_PROVIDER = "women-and-society-shelter-buston"


class Receiver:
    """A minimal HTTP/1.1 server recording when each webhook-id arrived."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.server: asyncio.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/hooks"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
                headers = {
                    k.strip().lower(): v.strip()
                    for k, _, v in (x.partition(":") for x in head.split("\r\n")[1:] if x)
                }
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                rid = json.loads(body)["data"]["referral_id"]
                self.arrived.setdefault(rid, time.perf_counter())
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def signed(env: Envelope, signer: EventSigner) -> bytes:
    """The envelope as its service's relay publishes it: signed, compact JSON."""
    doc = signer.sign(env.to_dict())
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()


STATEMENTS = """SELECT coalesce(sum(s.calls), 0)::bigint FROM pg_stat_statements s
    JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = current_database()"""
COMMITS = STATEMENTS + " AND upper(s.query) LIKE 'COMMIT%'"
TRANSACTIONS = """SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"""


async def sql_counts(admin: asyncpg.Connection) -> tuple[int, int, int]:
    """Statements run, explicit COMMITs, and transactions committed (autocommit statements
    included) in the database so far; the three reads themselves are subtracted by the
    caller (three statements, three transactions)."""
    statements = await admin.fetchval(STATEMENTS)
    commits = await admin.fetchval(COMMITS)
    transactions = await admin.fetchval(TRANSACTIONS)
    return int(statements), int(commits), int(transactions)


BY_QUERY = """SELECT s.calls, left(regexp_replace(s.query, '\\s+', ' ', 'g'), 100) AS query
    FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
    WHERE d.datname = current_database() ORDER BY s.calls DESC LIMIT 25"""


async def settled(nc: nats.NATS, namespace: str) -> None:
    """Until notify's delivery consumers have nothing pending (the rounds are recorded)."""
    js = nc.jetstream()
    stream = f"{namespace}_notify".upper()
    for _ in range(600):
        busy = 0
        for name in ("NotificationQueued", "NotificationRedeliveryRequested"):
            info = await js.consumer_info(stream, f"notify-deliver-{name}")
            busy += (info.num_pending or 0) + (info.num_ack_pending or 0)
        if not busy:
            return
        await asyncio.sleep(0.05)


async def run(
    kind: str,
    count: int,
    nc: nats.NATS,
    namespace: str,
    arrived: dict[str, float],
    signer: EventSigner,
) -> tuple[float, list[float]]:
    js = nc.jetstream()
    provider = NATS_PROVIDER if kind == "nats" else WEBHOOK_PROVIDER
    district = {"nats": ("dushanbe", "dushanbe"), "webhook": ("sughd", "buston")}[kind]
    sent: dict[str, float] = {}
    events = [
        routed(provider_id=provider, region=district[0], district=district[1]) for _ in range(count)
    ]

    async def send(ev: object) -> None:
        env = envelope(ev, ev.referral_id)  # type: ignore[attr-defined]
        t0 = time.perf_counter()
        await js.publish(
            f"{namespace}.referral.{env.subject}.{env.event_name}",
            signed(env, signer),
            headers={"Nats-Msg-Id": env.id},
        )
        sent[env.subject] = t0

    for i in range(0, count, 50):
        await asyncio.gather(*(send(e) for e in events[i : i + 50]))
    for _ in range(2400):  # up to 120 s
        if len([r for r in sent if r in arrived]) >= count:
            break
        await asyncio.sleep(0.05)
    got = [arrived[r] - sent[r] for r in sent if r in arrived]
    span = max(arrived[r] for r in sent if r in arrived) - min(sent.values())
    return len(got) / span, got


async def publish_directory(nc: nats.NATS, namespace: str, signer: EventSigner) -> None:
    """The default directory as the referral service publishes it when it starts: notify's
    only source of providers (a webhook registration needs the provider)."""
    js = nc.jetstream()
    directory = parse_directory(DEFAULT_DIRECTORY.read_text(encoding="utf-8"))
    for version, event in enumerate(import_directory(DirectoryView(), directory), start=1):
        env = envelope(event, "directory", version=version)
        await js.publish(
            f"{namespace}.referral.{env.subject}.{env.event_name}",
            signed(env, signer),
            headers={"Nats-Msg-Id": env.id},
        )
    stream = f"{namespace}_referral".upper()
    for _ in range(600):  # until notify-referrals has applied them, up to 30 s
        info = await js.consumer_info(stream, "notify-referrals")
        if not (info.num_pending or 0) + (info.num_ack_pending or 0):
            return
        await asyncio.sleep(0.05)
    raise RuntimeError("notify did not apply the directory")


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] * 1000


async def main(count: int, workers: int, show_statements: bool = False) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="safepath-bench-notify-"))
    namespace = "bench"
    install = Installation(tmp / "data", namespace)
    pg = EmbeddedPostgres(tmp / "pg")
    ns_server = EmbeddedNats(tmp / "nats", config=install.server_config())
    try:
        dsn, nats_url = pg.start(), ns_server.start()
        await preload_pg_stat_statements(dsn)
        pg.stop()
        dsn = pg.start()
        await create_pg_stat_statements(dsn)
        admin = await asyncpg.connect(dsn)
        await migrate_all(dsn)
        install.issue_all()
        await install.declare_streams(nats_url)
        # The notify service's own bus identity: credentials, signing key, verify keys.
        bus = install.service_env("notify")
        settings = Settings(
            database_url=dsn,
            nats_url=nats_url,
            namespace=namespace,
            environment="test",
            log_level="WARNING",
            nats_credentials=Path(bus["SAFEPATH_NATS_CREDENTIALS"]),
            event_signing_key=bus["SAFEPATH_EVENT_SIGNING_KEY"],
            event_verify_keys=bus["SAFEPATH_EVENT_VERIFY_KEYS"],
        )
        signer = EventSigner(install.event_keys()["referral"])
        # The receiver listens on 127.0.0.1: allow-listed, as a development receiver.
        notify = NotifySettings(
            backoff_seconds=[1.0], delivery_workers=workers, webhook_allow_hosts="127.0.0.1"
        )
        app = create_app(settings, notify)
        receiver = Receiver()
        url = await receiver.start()
        nc = await connect(install.setup_settings(nats_url), "setup")
        nats_arrived: dict[str, float] = {}

        async def on_msg(msg: nats.aio.msg.Msg) -> None:
            rid = json.loads(msg.data)["data"]["referral_id"]
            nats_arrived.setdefault(rid, time.perf_counter())

        await nc.subscribe(f"{namespace}.provider.{NATS_PROVIDER}.notifications", cb=on_msg)
        rows = []
        async with app.router.lifespan_context(app):
            await publish_directory(nc, namespace, signer)
            token = mint_token(AuthConfig.from_settings(settings), "bench", "admin")
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://bench"
            ) as client:
                r = await client.put(
                    f"/providers/{WEBHOOK_PROVIDER}/webhook",
                    json={"url": url},
                    headers={"Authorization": f"Bearer {token}"},
                )
                r.raise_for_status()
            await run("nats", 20, nc, namespace, nats_arrived, signer)  # warm-up
            await settled(nc, namespace)
            for kind, arrived in (("nats", nats_arrived), ("webhook", receiver.arrived)):
                if show_statements:
                    await admin.execute("SELECT pg_stat_statements_reset()")
                s0, c0, t0 = await sql_counts(admin)
                rate, lat = await run(kind, count, nc, namespace, arrived, signer)
                await settled(nc, namespace)
                s1, c1, t1 = await sql_counts(admin)
                sql = ((s1 - s0 - 3) / count, (c1 - c0) / count, (t1 - t0 - 3) / count)
                if show_statements:
                    print(f"statements per notification, {kind} run:")
                    for r in await admin.fetch(BY_QUERY):
                        print(f"  {r['calls'] / count:6.2f}  {r['query']}")
                rows.append(
                    (kind, len(lat), rate, pct(lat, 50), pct(lat, 99), max(lat) * 1000, *sql)
                )
        await admin.close()
        await nc.close()
        print(f"Notifications: {count} ReferralRouted per channel, {workers} delivery workers")
        print(
            f"{'channel':<9} {'delivered':>9} {'notif/s':>9} "
            f"{'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'stmts/n':>8} {'COMMIT/n':>8} {'tx/n':>6}"
        )
        for kind, n, rate, p50, p99, mx, st, cm, tx in rows:
            print(
                f"{kind:<9} {n:>9} {rate:>9.0f} {p50:>8.1f} {p99:>8.1f} {mx:>8.1f}"
                f" {st:>8.1f} {cm:>8.2f} {tx:>6.2f}"
            )
        for kind, n, rate, p50, p99, mx, st, cm, tx in rows:
            result("notify", "sql_statements_per_notification", st, "statements", channel=kind)
            result("notify", "commits_per_notification", cm, "commits", channel=kind)
            result("notify", "transactions_per_notification", tx, "transactions", channel=kind)
            result("notify", "delivered", n, "notifications", channel=kind, count=count)
            result("notify", "notifications_per_s", rate, "notif/s", channel=kind, count=count)
            result("notify", "p50_ms", p50, "ms", channel=kind, count=count)
            result("notify", "p99_ms", p99, "ms", channel=kind, count=count)
            result("notify", "max_ms", mx, "ms", channel=kind, count=count)
        print(f"mean of p50s: {statistics.mean(r[3] for r in rows):.1f} ms")
        print(
            f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
            f"{platform.system()} {platform.release()}; Python {platform.python_version()}"
        )
    finally:
        ns_server.stop()
        pg.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--quick", action="store_true", help="100 notifications per channel")
    parser.add_argument(
        "--statements", action="store_true", help="print each SQL statement's calls per run"
    )
    args = parser.parse_args()
    if args.quick:
        args.count = 100
    asyncio.run(main(args.count, args.workers, args.statements))
