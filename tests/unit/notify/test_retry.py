"""Which failures are retried: transient ones; a refusal that asking again will not change, not."""

from __future__ import annotations

import pytest

from services.notify.domain.retry import should_retry
from shared.events.notify import ErrorKind


@pytest.mark.parametrize(
    ("outcome", "retried"),
    [
        ("timeout", True),
        ("connection_refused", True),
        ("connection_error", True),
        ("tls_error", True),
        ("no_responders", True),
        ("invalid_endpoint", False),
        (500, True),
        (502, True),
        (503, True),
        (504, True),
        (408, True),
        (429, True),
        (400, False),
        (401, False),
        (403, False),
        (404, False),
        (410, False),
        (413, False),
        (422, False),
        (301, False),
        (200, False),
        (204, False),
    ],
)
def test_retry_classification(outcome: int | ErrorKind, retried: bool) -> None:
    assert should_retry(outcome) is retried
