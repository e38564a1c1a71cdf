"""The notify service's pure core: who hears what, what they receive, how delivery is tracked.

No I/O, no clock, no randomness: the shell passes random bytes in
(``signing.secret_from_bytes``, called by ``app/webhooks.py``).
"""

from services.notify.domain.payload import NotShareable, build_notification
from services.notify.domain.recipients import (
    Contact,
    DirectoryLookup,
    NotificationPlan,
    who_hears_what,
)
from services.notify.domain.rendering import TemplateError, TemplateSet
from services.notify.domain.retry import should_retry
from shared.pseudonym import case_reference

__all__ = [
    "Contact",
    "DirectoryLookup",
    "NotShareable",
    "NotificationPlan",
    "TemplateError",
    "TemplateSet",
    "build_notification",
    "case_reference",
    "should_retry",
    "who_hears_what",
]
