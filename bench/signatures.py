"""What signing and verifying events costs, per event (``make bench``; not a test).

Side by side in one run, on realistic envelopes (a ``ReferralRouted`` as the referral
service publishes it, and a ``CaseOpened`` with its sealed identity):

  * plain: the relay's work before signatures (envelope to JSON);
  * sign: the relay's work now (envelope to dict, canonical JSON, Ed25519 sign, JSON);
  * verify: a consumer's extra work now (parse, canonical JSON, Ed25519 verify, and the
    subject and stream checks).

    python bench/signatures.py [--events 20000] [--quick]   (quick: 2,000 events)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
import uuid
from datetime import UTC, datetime

from benchkit import result

from shared.envelope import Envelope, dataschema_for
from shared.signatures import EventSigner, EventVerifier, format_verify_keys, new_signing_key

NS = "bench"


def referral_routed(i: int) -> Envelope:
    rid = str(uuid.uuid4())
    data = {
        "referral_id": rid,
        "case_id": str(uuid.uuid4()),
        "request_id": str(uuid.uuid4()),
        "need": "shelter",
        "urgency": "urgent",
        "provider_id": "women-and-society-shelter-buston",
        "attempt": 1,
        "region": "sughd",
        "district": "khujand",
        "reasons": ["serves sughd", "speaks tg", "capacity 3 of 12", "nearest of 4"] * 2,
        "answer_by": "2026-11-29T18:00:00.000000Z",
    }
    return _envelope("referral", "ReferralRouted", rid, data, i)


def case_opened(i: int) -> Envelope:
    cid = str(uuid.uuid4())
    sealed = {"kid": "k" * 22, "nonce": "n" * 16, "ct": "c" * 800}
    data = {
        "case_id": cid,
        "category": "trafficking",
        "region": "sughd",
        "office": "khujand",
        "identity": sealed,
        "sex": "female",
        "age_band": "18-24",
        "languages": ["tg", "ru"],
    }
    return _envelope("case", "CaseOpened", cid, data, i)


def _envelope(service: str, name: str, stream: str, data: dict[str, object], i: int) -> Envelope:
    t = f"org.safepath.{service}.{name}.v1"
    return Envelope(
        id=str(uuid.uuid4()),
        source=f"safepath/{service}",
        type=t,
        subject=stream,
        time=datetime.now(UTC),
        dataschema=dataschema_for(t),
        streamversion=i % 7 + 1,
        correlationid=str(uuid.uuid4()),
        actor="caseworker:bench",
        data=data,
    )


def per_event_us(fn: object, items: list[object]) -> float:
    start = time.perf_counter()
    for item in items:
        fn(item)  # type: ignore[operator]
    return (time.perf_counter() - start) / len(items) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--quick", action="store_true", help="2,000 events per kind")
    args = parser.parse_args()
    if args.quick:
        args.events = 2_000
    seeds = {s: new_signing_key() for s in ("case", "referral", "notify")}
    verifier = EventVerifier.from_text(format_verify_keys(seeds), NS)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores,")
    print(f"  Python {platform.python_version()}; {args.events} events per kind\n")
    print(f"{'event':<16}{'bytes':>7}{'plain µs':>11}{'sign µs':>10}{'verify µs':>11}")
    for make in (referral_routed, case_opened):
        envs = [make(i) for i in range(args.events)]
        service = envs[0].service
        signer = EventSigner(seeds[service])

        def plain(env: Envelope) -> bytes:
            return env.to_json()

        def sign(env: Envelope, signer: EventSigner = signer) -> bytes:
            doc = signer.sign(env.to_dict())
            return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()

        signed = [(sign(e), f"{NS}.{service}.{e.subject}.{e.event_name}") for e in envs]
        stream = f"{NS}_{service}".upper()

        def verify(item: tuple[bytes, str], stream: str = stream) -> None:
            verifier.verify(item[0], subject=item[1], stream=stream)

        for _ in range(2):  # warm up, then measure: report the second round
            p = per_event_us(plain, envs)  # type: ignore[arg-type]
            s = per_event_us(sign, envs)  # type: ignore[arg-type]
            v = per_event_us(verify, signed)  # type: ignore[arg-type]
        name = envs[0].event_name
        size = len(signed[0][0])
        print(f"{name:<16}{size:>7}{p:>11.1f}{s:>10.1f}{v:>11.1f}")
        result("signatures", "bytes", size, "bytes", event=name)
        result("signatures", "plain_us", p, "µs/event", event=name)
        result("signatures", "sign_us", s, "µs/event", event=name)
        result("signatures", "verify_us", v, "µs/event", event=name)
        result("signatures", "sign_over_plain", s / p, "x", event=name)
    print("\nsign − plain is the relay's added CPU per event; verify is each consumer's.")


if __name__ == "__main__":
    main()
