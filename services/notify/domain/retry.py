"""Which failed deliveries are worth another try.

Transient trouble is retried: timeouts, refused or broken connections, TLS hiccups,
NATS "no responders", HTTP 5xx, 408 (request timeout) and 429 (too many requests).
Everything else is an answer that will not change by asking again: 4xx (the receiver
refuses this request), 3xx (redirects are not followed), and an endpoint we must not
call at all. A 2xx is a success, so there is nothing to retry.
"""

from __future__ import annotations

from shared.events.notify import ErrorKind

RETRIED_ERRORS: frozenset[ErrorKind] = frozenset(
    {"timeout", "connection_refused", "connection_error", "tls_error", "no_responders"}
)
RETRIED_STATUSES: frozenset[int] = frozenset({408, 429})


def is_success(status_code: int) -> bool:
    return 200 <= status_code < 300


def should_retry(outcome: int | ErrorKind) -> bool:
    """True when ``outcome`` (an HTTP status code or a transport error kind) may pass."""
    if isinstance(outcome, int):
        return outcome >= 500 or outcome in RETRIED_STATUSES
    return outcome in RETRIED_ERRORS
