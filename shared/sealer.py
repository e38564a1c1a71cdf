"""The sealer: adds every event to a Merkle tree and publishes signed checkpoints.

Leaves are ``leaf_hash(event_id bytes || event chain hash)`` in the global order the
relay uses. A checkpoint (service, tree size, root, last position, time) is signed with
Ed25519 by a key configured outside the database, stored, and published to
``<namespace>.audit.<service>.checkpoint`` on a stream that refuses deletion, so a DBA
who rewrites events (and even recomputes their hashes) cannot make old checkpoints
agree with the rewritten history.
"""

from __future__ import annotations

import asyncio
import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from shared.digest import canonical_json
from shared.envelope import format_time
from shared.eventstore import Checkpoint, EventStore, StoredEvent
from shared.logging import get_logger
from shared.merkle import leaf_hash, node_hash
from shared.migrations import quote_ident

log = get_logger("safepath.sealer")


def event_leaf(event_id: UUID, chain_hash: bytes) -> bytes:
    return leaf_hash(event_id.bytes + chain_hash)


@dataclass
class Frontier:
    """Perfect subtrees (size, root) covering the leaves so far, largest first."""

    nodes: list[tuple[int, bytes]]

    @property
    def size(self) -> int:
        return sum(n for n, _ in self.nodes)

    def add(self, leaf: bytes) -> None:
        self.nodes.append((1, leaf))
        while len(self.nodes) > 1 and self.nodes[-1][0] == self.nodes[-2][0]:
            (n, right), (_, left) = self.nodes.pop(), self.nodes.pop()
            self.nodes.append((2 * n, node_hash(left, right)))

    def root(self) -> bytes:
        from shared.merkle import EMPTY_ROOT

        if not self.nodes:
            return EMPTY_ROOT
        acc = self.nodes[-1][1]
        for _, h in reversed(self.nodes[:-1]):
            acc = node_hash(h, acc)
        return acc

    def to_json(self) -> list[list[Any]]:
        return [[n, h.hex()] for n, h in self.nodes]

    @classmethod
    def from_json(cls, raw: list[list[Any]]) -> Frontier:
        return cls([(int(n), bytes.fromhex(h)) for n, h in raw])


def load_signing_key(seed_b64: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(base64.b64decode(seed_b64))


def public_key_b64(key: Ed25519PrivateKey) -> str:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return base64.b64encode(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()


def verify_signature(public_b64: str, body: dict[str, Any], signature: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature

    key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_b64))
    try:
        key.verify(signature, canonical_json(body))
        return True
    except InvalidSignature:
        return False


def audit_subject(namespace: str, service: str) -> str:
    return f"{namespace}.audit.{service}.checkpoint"


class Sealer:
    """Seals one service's events; ``seal_once`` is one step, ``run`` loops."""

    def __init__(
        self,
        store: EventStore,
        js: JetStreamContext | None,
        key: Ed25519PrivateKey,
        *,
        namespace: str,
        interval_seconds: float = 2.0,
        batch: int = 5000,
        audit_stream: str | None = None,
    ) -> None:
        self.store = store
        self.audit_stream = audit_stream
        self.js = js
        self.key = key
        self.namespace = namespace
        self.interval = interval_seconds
        self.batch = batch
        s = quote_ident(store.schema)
        self._republished = False
        self.blocked = False  # the store is behind the audit log (see ``seal_once``)
        self._leaf_table = f"{s}.merkle_leaf"
        self._cp_table = f"{s}.merkle_checkpoint"

    async def _latest(self) -> tuple[Frontier, dict[str, Any] | None, bytes | None]:
        row = await self.store.pool.fetchrow(
            f"SELECT frontier::text AS f, body::text AS b, signature FROM {self._cp_table}"
            " ORDER BY tree_size DESC LIMIT 1"
        )
        if row is None:
            return Frontier([]), None, None
        return Frontier.from_json(json.loads(row["f"])), json.loads(row["b"]), row["signature"]

    async def _published_size(self) -> int:
        """The tree size of this service's last checkpoint on the audit stream (0: none)."""
        if self.js is None or self.audit_stream is None:
            return 0
        try:
            msg = await self.js.get_last_msg(
                self.audit_stream, audit_subject(self.namespace, self.store.service)
            )
        except NotFoundError:
            return 0
        try:
            return int(json.loads(msg.data or b"")["checkpoint"]["tree_size"])
        except (ValueError, KeyError, TypeError):
            return 0  # not a checkpoint this code wrote: ``audit verify`` reports it

    async def seal_once(self) -> dict[str, Any] | None:
        """Add new events as leaves and write a signed checkpoint; None if nothing new."""
        frontier, last_body, last_sig = await self._latest()
        after = (
            Checkpoint(int(last_body["last_tx"]), int(last_body["last_position"]))
            if last_body
            else Checkpoint()
        )
        added: list[StoredEvent] = []
        while True:
            events = await self.store.read_all(after, self.batch)
            if not events:
                break
            added.extend(events)
            after = events[-1].checkpoint
        published = await self._published_size()
        if published > frontier.size + len(added):
            # The store was restored from a backup: the audit log already has checkpoints
            # beyond what it holds. Sealing now would sign a second, different tree of a
            # size already published (a fork); ``safepath recover`` brings the missing
            # events back first.
            if not self.blocked:
                log.error(
                    "sealer_store_behind_audit_log",
                    service=self.store.service,
                    stored_tree_size=frontier.size + len(added),
                    published_tree_size=published,
                    fix=f"safepath recover --service {self.store.service}",
                )
            self.blocked = True
            return None
        if self.blocked:
            log.info("sealer_resumed", service=self.store.service, tree_size=frontier.size)
            self.blocked = False
        if last_body is not None and self.js is not None and not self._republished:
            # A crash between storing and publishing the last checkpoint must not lose it
            # (only once the store is known not to be behind the audit log).
            await self._publish(last_body, last_sig or b"")
            self._republished = True
        if not added:
            return None
        start = frontier.size
        leaves = []
        for e in added:
            leaf = event_leaf(e.event_id, e.hash)
            frontier.add(leaf)
            leaves.append(leaf)
        body = {
            "service": self.store.service,
            "tree_size": frontier.size,
            "root": frontier.root().hex(),
            "last_position": added[-1].global_position,
            "last_tx": str(added[-1].tx_id),
            "sealed_at": format_time(datetime.now(UTC)),
        }
        signature = self.key.sign(canonical_json(body))
        async with self.store.pool.acquire() as conn, conn.transaction():
            # One statement for the whole batch (an executemany runs one per leaf).
            await conn.execute(
                f"INSERT INTO {self._leaf_table} (leaf_index, event_id, leaf_hash)"
                " SELECT * FROM unnest($1::bigint[], $2::uuid[], $3::bytea[])",
                list(range(start, start + len(added))),
                [e.event_id for e in added],
                leaves,
            )
            await conn.execute(
                f"INSERT INTO {self._cp_table} (tree_size, root, frontier, body, signature)"
                " VALUES ($1, $2, $3::jsonb, $4::jsonb, $5)",
                frontier.size,
                frontier.root(),
                json.dumps(frontier.to_json()),
                json.dumps(body),
                signature,
            )
        if self.js is not None:
            await self._publish(body, signature)
        return body

    async def _publish(self, body: dict[str, Any], signature: bytes) -> None:
        assert self.js is not None
        doc = {"checkpoint": body, "signature": base64.b64encode(signature).decode()}
        await self.js.publish(
            audit_subject(self.namespace, self.store.service),
            json.dumps(doc).encode(),
            headers={"Nats-Msg-Id": f"checkpoint-{body['service']}-{body['tree_size']}"},
        )

    async def run(self) -> None:
        delay = self.interval
        while True:
            try:
                await self.seal_once()
                delay = self.interval
            except asyncio.CancelledError:
                raise
            except Exception as e:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise asyncio.CancelledError from e
                log.warning("sealer_failed", error=type(e).__name__)
                delay = min(delay * 2, 30.0)
            await asyncio.sleep(delay)
