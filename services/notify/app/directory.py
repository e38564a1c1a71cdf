"""Who the recipients are: the directory view, caseworkers per case, routing facts.

The view is learnt from the directory events on the referral stream only
(``ProviderRegistered``, ``ProviderUpdated``, ``ProviderSuspended``,
``ProviderReinstated``, ``CoordinatorAssigned``): the referral service publishes its
directory before it routes anything, and the ``notify-referrals`` consumer reads that
stream in order, so every routing attempt arrives after the directory it was made on.
Notify never reads the referral service's files. ``contacts_for`` reads what one
referral event needs into an in-memory ``DirectoryLookup`` for the pure
``who_hears_what``.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

import asyncpg

from services.notify.domain.recipients import Contact
from services.notify.domain.referral_facts import ReferralFacts
from shared.events.base import Event
from shared.events.referral import (
    CoordinatorAssigned,
    Provider,
    ProviderRegistered,
    ProviderReinstated,
    ProviderSuspended,
    ProviderUpdated,
)
from shared.migrations import quote_ident

# Facts of a routing attempt worth keeping (notify's own ``referral_facts`` rows): the
# allow-list of ``payload.shareable_facts`` plus the ids needed to address recipients.
# Free text (``reasons``) is never kept. Rows written before this shape kept ``need``.
KEPT_FACTS = (
    "needs",
    "urgency",
    "categories",
    "region",
    "district",
    "sex",
    "age_band",
    "language",
    "disability",
    "provider_id",
)
_TOKEN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


def recipient_token(account_subject: str) -> str:
    """A caseworker's account subject as a subject token: itself when it fits, else a hash
    (an e-mail address or a name must not become part of a NATS subject)."""
    if _TOKEN.match(account_subject):
        return account_subject
    return "cw-" + hashlib.sha256(account_subject.encode()).hexdigest()[:32]


@dataclass
class Contacts:
    """A ``DirectoryLookup`` over rows read for one event."""

    providers: dict[str, Contact] = field(default_factory=dict)
    coordinators: dict[str, Contact] = field(default_factory=dict)
    caseworkers: dict[str, Contact] = field(default_factory=dict)

    def provider(self, provider_id: str) -> Contact | None:
        return self.providers.get(provider_id)

    def coordinator(self, category: str) -> Contact | None:
        return self.coordinators.get(category)

    def caseworker(self, case_id: str) -> Contact | None:
        return self.caseworkers.get(case_id)


class DirectoryViews:
    def __init__(self, schema: str, default_language: str = "en") -> None:
        q = quote_ident(schema)
        self.q = q
        self.default_language = default_language
        self._sql_caseworker = f"""SELECT c.caseworker, l.language
            FROM {q}.case_caseworker c LEFT JOIN {q}.recipient_language l
              ON l.recipient_kind = 'caseworker' AND l.recipient_id = c.caseworker
            WHERE c.case_id = $1"""
        self._sql_coordinators = f"""SELECT c.category, c.coordinator_id, l.language
            FROM {q}.coordinator_contact c LEFT JOIN {q}.recipient_language l
              ON l.recipient_kind = 'coordinator' AND l.recipient_id = c.coordinator_id
            WHERE c.category = ANY($1::text[])"""

    # -- writing ---------------------------------------------------------------------------

    async def apply_directory_event(self, conn: asyncpg.Connection, event: Event) -> None:
        if isinstance(event, ProviderRegistered | ProviderUpdated):
            await self._put_provider(conn, event.provider, "event")
        elif isinstance(event, CoordinatorAssigned):
            c = event.coordinator
            await self._put_coordinator(conn, c.category, c.id, "event")
        elif isinstance(event, ProviderSuspended | ProviderReinstated):
            await conn.execute(
                f"UPDATE {self.q}.provider_contact SET suspended = $2, source = 'event',"
                " updated_at = now() WHERE provider_id = $1",
                event.provider_id,
                isinstance(event, ProviderSuspended),
            )

    async def _put_provider(self, conn: asyncpg.Connection, p: Provider, source: str) -> None:
        await conn.execute(
            f"""INSERT INTO {self.q}.provider_contact (provider_id, languages, source)
                VALUES ($1, $2, $3)
                ON CONFLICT (provider_id) DO UPDATE
                SET languages = excluded.languages, source = excluded.source, updated_at = now()
                WHERE $3 = 'event' OR {self.q}.provider_contact.source = 'file'""",
            p.id,
            list(p.languages),
            source,
        )

    async def _put_coordinator(
        self, conn: asyncpg.Connection, category: str, coordinator_id: str, source: str
    ) -> None:
        await conn.execute(
            f"""INSERT INTO {self.q}.coordinator_contact (category, coordinator_id, source)
                VALUES ($1, $2, $3)
                ON CONFLICT (category) DO UPDATE
                SET coordinator_id = excluded.coordinator_id, source = excluded.source,
                    updated_at = now()
                WHERE $3 = 'event' OR {self.q}.coordinator_contact.source = 'file'""",
            category,
            coordinator_id,
            source,
        )

    async def set_caseworker(self, conn: asyncpg.Connection, case_id: str, who: str) -> None:
        await conn.execute(
            f"""INSERT INTO {self.q}.case_caseworker (case_id, caseworker) VALUES ($1, $2)
                ON CONFLICT (case_id) DO UPDATE SET caseworker = excluded.caseworker,
                updated_at = now()""",
            case_id,
            recipient_token(who),
        )

    async def keep_facts(self, conn: asyncpg.Connection, facts: ReferralFacts) -> None:
        """Keep a routing attempt's facts for the answers that do not repeat them."""
        values = asdict(facts)
        kept = {k: values[k] for k in KEPT_FACTS}
        await conn.execute(
            f"""INSERT INTO {self.q}.referral_facts (referral_id, case_id, facts)
                VALUES ($1, $2, $3::jsonb)
                ON CONFLICT (referral_id) DO UPDATE SET facts = excluded.facts,
                updated_at = now()""",
            facts.referral_id,
            facts.case_id,
            json.dumps(kept),
        )

    # -- reading ---------------------------------------------------------------------------

    async def provider_known(self, conn: asyncpg.Connection, provider_id: str) -> bool:
        return bool(
            await conn.fetchval(
                f"SELECT 1 FROM {self.q}.provider_contact WHERE provider_id = $1", provider_id
            )
        )

    async def facts_of(self, conn: asyncpg.Connection, referral_id: str) -> ReferralFacts | None:
        """The facts of the referral's last routing attempt; None when none was seen."""
        row = await conn.fetchrow(
            f"SELECT case_id, facts::text AS facts FROM {self.q}.referral_facts"
            " WHERE referral_id = $1",
            referral_id,
        )
        if row is None:
            return None
        kept: dict[str, Any] = json.loads(row["facts"])
        needs = kept.get("needs") or ([kept["need"]] if kept.get("need") else [])
        return ReferralFacts(
            referral_id=referral_id,
            case_id=row["case_id"],
            needs=tuple(needs),
            urgency=kept["urgency"],
            categories=tuple(kept["categories"]),
            region=kept["region"],
            district=kept.get("district"),
            sex=kept["sex"],
            age_band=kept["age_band"],
            language=kept["language"],
            disability=bool(kept["disability"]),
            provider_id=kept.get("provider_id"),
        )

    async def caseworker_of(self, conn: asyncpg.Connection, case_id: str) -> Contact | None:
        """The case's caseworker as notify knows it (None: not heard of yet)."""
        row = await conn.fetchrow(self._sql_caseworker, case_id)
        if row is None:
            return None
        return Contact(id=row["caseworker"], language=row["language"] or self.default_language)

    async def language_of(self, conn: asyncpg.Connection, kind: str, recipient_id: str) -> str:
        """The recipient's own language setting, else the default."""
        chosen = await conn.fetchval(
            f"SELECT language FROM {self.q}.recipient_language"
            " WHERE recipient_kind = $1 AND recipient_id = $2",
            kind,
            recipient_id,
        )
        return str(chosen) if chosen else self.default_language

    async def set_language(
        self, conn: asyncpg.Connection, kind: str, recipient_id: str, language: str
    ) -> None:
        await conn.execute(
            f"""INSERT INTO {self.q}.recipient_language (recipient_kind, recipient_id, language)
                VALUES ($1, $2, $3) ON CONFLICT (recipient_kind, recipient_id)
                DO UPDATE SET language = excluded.language, updated_at = now()""",
            kind,
            recipient_id,
            language,
        )

    async def contacts_for(
        self, conn: asyncpg.Connection, facts: ReferralFacts, provider_ids: tuple[str, ...] = ()
    ) -> Contacts:
        """The contacts one event needs: the facts' provider, ``provider_ids`` (a deletion
        step names several), the categories' coordinators and the case's caseworker."""
        contacts = Contacts()
        wanted = [facts.provider_id] if facts.provider_id else []
        for provider_id in [*wanted, *provider_ids]:
            row = await conn.fetchrow(
                f"""SELECT p.languages, w.provider_id IS NOT NULL AS has_webhook
                    FROM (SELECT $1::text AS id) AS wanted
                    LEFT JOIN {self.q}.provider_contact p ON p.provider_id = wanted.id
                    LEFT JOIN {self.q}.webhook w ON w.provider_id = wanted.id""",
                provider_id,
            )
            languages = list(row["languages"] or [])
            contacts.providers[provider_id] = Contact(
                id=provider_id,
                language=languages[0] if languages else self.default_language,
                has_webhook=bool(row["has_webhook"]),
            )
        # Each with its own language setting joined in (one statement, not one per person).
        for r in await conn.fetch(self._sql_coordinators, list(facts.categories)):
            contacts.coordinators[r["category"]] = Contact(
                id=r["coordinator_id"], language=r["language"] or self.default_language
            )
        caseworker = await self.caseworker_of(conn, facts.case_id)
        if caseworker is not None:
            contacts.caseworkers[facts.case_id] = caseworker
        return contacts
