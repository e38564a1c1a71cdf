"""Example payloads for the OpenAPI document (invented people, never real data)."""

from __future__ import annotations

from typing import Any

EXAMPLES: dict[str, Any] = {
    "case_id": "0197a3c2-5b1e-7c3d-9a0b-1c2d3e4f5a6b",
    "profile": {
        "given_name": "Example",
        "family_name": "Person",
        "date_of_birth": "2001-03-04",
        "contact_arrangement": "via the shelter's landline, weekdays",
        "sex": "female",
        "disability": False,
        "nationality": "TJ",
        "citizenship_status": "citizen",
        "language": "tg",
        "region": "sughd",
        "district": "khujand",
        "categories": ["trafficking"],
    },
    "needs": {"needs": ["shelter", "medical", "legal_aid"]},
    "identification": {
        "status": "presumed",
        "basis": "indicators_present",
        "deciding_agency": "ngo",
    },
    "consent": {
        "purpose": "referral",
        "service_types": ["shelter", "medical", "legal_aid"],
        "data_categories": ["needs", "demographics"],
        "given_by": "survivor",
    },
    "referral": {"needs": ["shelter"], "urgency": "urgent"},
    "note": {"text": "Met at the office; follow-up call agreed."},
    "transfer": {"to_office": "dushanbe-nrm"},
}
EXAMPLES["open"] = {
    "region": "sughd",
    "categories": ["trafficking"],
    "profile": EXAMPLES["profile"],
}
