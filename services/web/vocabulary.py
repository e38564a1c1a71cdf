"""The words of Safepath's vocabulary (regions, needs, statuses...) in the reader's
language. Keys are the API's values; a value with no label here is shown as it is."""

from __future__ import annotations

from services.web.errors import Gettext

Labels = dict[str, dict[str, str]]


def labels(_: Gettext) -> Labels:
    return {
        "region": {
            "dushanbe": _("Dushanbe"),
            "sughd": _("Sughd"),
            "khatlon": _("Khatlon"),
            "gbao": _("Gorno-Badakhshan (GBAO)"),
            "drs": _("Districts of Republican Subordination"),
        },
        "category": {
            "trafficking": _("Trafficking"),
            "mine_eo": _("Mines and explosive ordnance"),
            "refugee_asylum": _("Refugee or asylum"),
        },
        "need": {
            "shelter": _("Shelter"),
            "medical_emergency": _("Emergency medical care"),
            "medical": _("Medical care"),
            "rehabilitation": _("Rehabilitation"),
            "prosthetics_orthotics": _("Prosthetics and orthotics"),
            "assistive_technology": _("Assistive technology"),
            "psychosocial": _("Psychosocial support"),
            "peer_support": _("Peer support"),
            "legal_aid": _("Legal aid"),
            "asylum_legal": _("Asylum legal help"),
            "safe_return": _("Safe return"),
            "reintegration": _("Reintegration"),
            "vocational_training": _("Vocational training"),
            "livelihood": _("Livelihood"),
            "education": _("Education"),
            "family_tracing": _("Family tracing"),
            "material_assistance": _("Material assistance"),
        },
        "urgency": {
            "routine": _("Routine"),
            "urgent": _("Urgent"),
            "emergency": _("Emergency"),
        },
        "sex": {
            "female": _("Female"),
            "male": _("Male"),
            "other": _("Other"),
            "unknown": _("Unknown"),
        },
        "language": {
            "tg": _("Tajik"),
            "ru": _("Russian"),
            "en": _("English"),
            "other": _("Other"),
        },
        "purpose": {
            "referral": _("Referral to services"),
            "case_coordination": _("Case coordination"),
            "follow_up": _("Follow-up"),
            "statistics": _("Statistics"),
        },
        "data_category": {
            "needs": _("Needs"),
            "demographics": _("Age band, sex, region, language"),
            "contact": _("Contact details"),
            "identity": _("Name and documents"),
            "medical": _("Medical information"),
            "narrative": _("Her or his story"),
        },
        "given_by": {
            "survivor": _("The person themself"),
            "parent_or_guardian": _("Parent or guardian"),
            "legal_representative": _("Legal representative"),
        },
        "status": {
            "open": _("Open"),
            "closed": _("Closed"),
            "requested": _("Requested"),
            "routed": _("Routed"),
            "awaiting_answer": _("Awaiting an answer"),
            "accepted": _("Accepted"),
            "in_service": _("In service"),
            "completed": _("Completed"),
            "unroutable": _("No provider found"),
            "withdrawn": _("Withdrawn"),
            "declined": _("Declined"),
            "active": _("Active"),
            "expired": _("Expired"),
        },
        "decline_reason": {
            "no_capacity": _("No free places"),
            "not_eligible": _("Not eligible"),
            "outside_service_area": _("Outside our service area"),
            "service_unavailable": _("Service unavailable"),
            "safety_concern": _("Safety concern"),
            "conflict_of_interest": _("Conflict of interest"),
            "other": _("Other"),
        },
        "rule": {
            "category": _("serves this category"),
            "service": _("offers this service"),
            "area": _("works in this area"),
            "sex": _("accepts this sex"),
            "age": _("accepts this age"),
            "child_appropriate": _("suitable for children"),
            "capacity": _("has free places"),
            "consent": _("covered by the consent"),
            "suspended": _("not suspended"),
            "already_tried": _("not tried before"),
        },
        "proximity": {
            "district": _("in the same district"),
            "region": _("in the same region"),
            "nationwide": _("elsewhere in the country"),
        },
        "role": {
            "caseworker": _("Caseworker"),
            "supervisor": _("Supervisor"),
            "provider": _("Provider"),
            "auditor": _("Auditor"),
            "admin": _("Administrator"),
            "coordinator": _("Coordinator"),
        },
        "age_band": {"unknown": _("Unknown")},
        "assignment_reason": {
            "provider_agreed_exception": _("The provider agreed to an exception"),
            "travel_arranged": _("Travel is arranged"),
            "directory_out_of_date": _("The directory is out of date"),
            "no_other_option": _("There is no other option"),
            "other": _("Other"),
        },
        "citizenship": {
            "citizen": _("Citizen of Tajikistan"),
            "foreign_national": _("Foreign national"),
            "stateless": _("Stateless"),
            "asylum_seeker": _("Asylum seeker"),
            "refugee": _("Refugee"),
            "unknown": _("Unknown"),
        },
    }
