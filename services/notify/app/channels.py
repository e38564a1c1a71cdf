"""The two ways a notification leaves: a JetStream subject, and a signed webhook POST.

Each ``send`` returns what happened (status code, transport error kind, latency) and
never raises for a delivery failure: the delivery record decides what it means.
"""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from nats.errors import Error as NatsError
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from services.notify.app.egress import DestinationRefused
from services.notify.app.subjects import (
    NAMESPACE,
    notifications_stream_name,
    provider_durable,
    provider_subject,
    recipient_subject,
)
from services.notify.domain.signing import sign
from shared.events.notify import ErrorKind
from shared.logging import get_logger

log = get_logger("safepath.notify")

CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"


@dataclass(frozen=True)
class Sent:
    latency_ms: float
    status_code: int | None = None
    error_kind: ErrorKind | None = None


def body_of(notification: dict[str, Any]) -> bytes:
    """The bytes sent on every channel and every attempt (what signatures cover)."""
    return json.dumps(notification, separators=(",", ":"), ensure_ascii=False).encode()


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


def provider_consumer_config(provider_id: str, namespace: str = NAMESPACE) -> ConsumerConfig:
    """The provider's durable pull consumer: only its subject, everything not yet acked."""
    durable = provider_durable(provider_id)
    return ConsumerConfig(
        name=durable,
        durable_name=durable,
        filter_subject=provider_subject(provider_id, namespace),
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=60.0,
        max_ack_pending=1000,
    )


async def ensure_provider_consumer(
    js: JetStreamContext, provider_id: str, namespace: str = NAMESPACE
) -> None:
    """Create (or update) the provider's durable consumer; run as the service user."""
    await js.add_consumer(
        notifications_stream_name(namespace), provider_consumer_config(provider_id, namespace)
    )


class NatsChannel:
    def __init__(self, js: JetStreamContext, namespace: str, timeout: float) -> None:
        self.js = js
        self.namespace = namespace
        self.timeout = timeout
        self.stream = notifications_stream_name(namespace)
        self._ensured: set[str] = set()

    async def ensure_consumer(self, provider_id: str) -> None:
        """The provider's durable consumer, so it catches up on what it missed offline."""
        if provider_id in self._ensured:
            return
        try:
            await ensure_provider_consumer(self.js, provider_id, self.namespace)
            self._ensured.add(provider_id)
        except ValueError:
            pass  # not a directory slug: it cannot have a NATS user either
        except NatsError as e:
            log.warning("provider_consumer_not_created", error=type(e).__name__)

    async def send(self, kind: str, recipient_id: str, notification_id: str, body: bytes) -> Sent:
        subject = recipient_subject(kind, recipient_id, self.namespace)
        if kind == "provider":
            await self.ensure_consumer(recipient_id)
        started = time.perf_counter()
        try:
            await self.js.publish(
                subject,
                body,
                stream=self.stream,
                timeout=self.timeout,
                headers={"Nats-Msg-Id": notification_id, "Content-Type": CONTENT_TYPE},
            )
        except NoRespondersError:
            return Sent(_ms(started), error_kind="no_responders")
        except (NatsTimeout, TimeoutError):
            return Sent(_ms(started), error_kind="timeout")
        except NatsError:
            return Sent(_ms(started), error_kind="connection_error")
        return Sent(_ms(started))


class WebhookChannel:
    def __init__(self, client: httpx.AsyncClient, timeout: float) -> None:
        self.client = client
        self.timeout = timeout

    async def send(
        self, url: str, secrets: Sequence[str], notification_id: str, body: bytes, now: datetime
    ) -> Sent:
        headers = {**sign(list(secrets), notification_id, now, body), "content-type": CONTENT_TYPE}
        started = time.perf_counter()
        try:
            response = await self.client.post(
                url, content=body, headers=headers, timeout=self.timeout, follow_redirects=False
            )
        except DestinationRefused:
            # One outcome for every refused host, and no latency: nothing tells an open
            # internal port from a closed one (see services/notify/app/egress.py).
            log.warning("webhook_destination_refused", notification_id=notification_id)
            return Sent(0.0, error_kind="invalid_endpoint")
        except (TimeoutError, httpx.TimeoutException):
            return Sent(_ms(started), error_kind="timeout")
        except (httpx.UnsupportedProtocol, httpx.InvalidURL):
            return Sent(_ms(started), error_kind="invalid_endpoint")
        except httpx.TransportError as e:
            return Sent(_ms(started), error_kind=_transport_error(e))
        return Sent(_ms(started), status_code=response.status_code)


def _transport_error(e: BaseException) -> ErrorKind:
    seen: BaseException | None = e
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return "tls_error"
        if isinstance(seen, ConnectionRefusedError):
            return "connection_refused"
        seen = seen.__cause__ or seen.__context__
    return "connection_refused" if isinstance(e, httpx.ConnectError) else "connection_error"
