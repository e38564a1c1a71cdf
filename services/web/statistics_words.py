"""The statistics API's measures, dimensions and units in the reader's language.

The API names them by stable English identifiers (``cases_opened``, ``age_band``) and
describes each measure in English; the page shows these words instead. A measure or
dimension the API adds later and this file does not know is shown as the API gives it."""

from __future__ import annotations

from services.web.errors import Gettext


def statistics_words(_: Gettext) -> dict[str, dict[str, str]]:
    return {
        "measure": {
            "cases_opened": _("Cases opened"),
            "cases_active": _("Cases open"),
            "cases_closed": _("Cases closed"),
            "referrals": _("Referrals"),
            "escalations": _("Escalations"),
            "services_started": _("Services started"),
            "services_completed": _("Services completed"),
            "time_to_first_answer": _("Time to a provider's first answer"),
            "time_to_service_start": _("Time to the start of a service"),
            "identifications": _("Identification decisions"),
            "reflection_periods": _("Recovery and reflection periods"),
            "assignments_by_hand": _("Referrals assigned by hand"),
            "service_outcomes": _("Service outcomes"),
            "needs_unmet": _("Needs left unmet"),
            "assistive_devices": _("Assistive devices"),
            "casualties": _("Mine and explosive ordnance casualties"),
        },
        "description": {
            "cases_opened": _("Cases opened in the period."),
            "cases_active": _(
                "Cases open at the end of the period (or at the chosen moment, when earlier)."
            ),
            "cases_closed": _("Cases closed in the period."),
            "referrals": _(
                "Referrals (one per need) requested in the period, by their outcome as of"
                " the end of the reading."
            ),
            "escalations": _(
                "Referrals escalated in the period (a provider did not answer in time)."
            ),
            "services_started": _("Services started in the period, per need."),
            "services_completed": _("Services completed (delivered) in the period, per need."),
            "time_to_first_answer": _(
                "Hours from a referral's first routing to the first provider's answer (accept"
                " or decline), for answers in the period: median and 90th percentile."
            ),
            "time_to_service_start": _(
                "Hours from the referral request to the start of the service, for services"
                " started in the period: median and 90th percentile."
            ),
            "identifications": _(
                "Identification decisions recorded in the period, by decision (presumed,"
                " identified, not identified)."
            ),
            "reflection_periods": _(
                "Recovery and reflection periods started, extended and ended in the period,"
                " by stage."
            ),
            "assignments_by_hand": _(
                "Referrals a coordinator assigned by hand in the period (outside the automatic"
                " rules), by the kind of the provider chosen."
            ),
            "service_outcomes": _(
                "Service outcomes the providers recorded in the period (delivered, partly"
                " delivered, not delivered), per need: an outcome completes the referral."
            ),
            "needs_unmet": _(
                "Needs a coordinator closed as unmet in the period (no provider exists), by"
                " the decision's reason."
            ),
            "assistive_devices": _(
                "Assistive devices fitted, repaired or replaced in the period, by device and"
                " by what was done."
            ),
            "casualties": _(
                "Mine and explosive ordnance casualties (cases whose profile records the"
                " incident), by when their case was opened."
            ),
        },
        "dimension": {
            "category": _("Category"),
            "sex": _("Sex"),
            "age_band": _("Age band"),
            "child": _("Child or adult"),
            "disability": _("Disability"),
            "disability_kind": _("Kind of disability"),
            "region": _("Region"),
            "district": _("District"),
            "identification": _("Identification"),
            "nationality_group": _("Nationality"),
            "victim": _("Victim (direct or indirect)"),
            "casualty": _("Casualty (killed or injured)"),
            "device_type": _("Kind of device"),
            "incident_year": _("Year of the incident"),
            "incident_district": _("District of the incident"),
            "month": _("Month"),
            "quarter": _("Quarter"),
            "year": _("Year"),
            "need": _("Need"),
            "provider_type": _("Kind of provider"),
            "outcome": _("Outcome"),
            "decision": _("Decision"),
            "stage": _("Stage"),
            "device": _("Assistive device"),
            "device_action": _("Fitted, repaired or replaced"),
            "service_outcome": _("Outcome of the service"),
            "trafficking_scope": _("Domestic or cross-border"),
            "recruitment_channel": _("Recruitment channel"),
            "procedure_stage": _("Stage of the asylum procedure"),
            "exploitation_form": _("Form of exploitation"),
        },
        "unit": {
            "cases": _("cases"),
            "referrals": _("referrals"),
            "escalations": _("escalations"),
            "hours": _("hours"),
            "decisions": _("decisions"),
            "events": _("events"),
            "devices": _("devices"),
        },
    }
