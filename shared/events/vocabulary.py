"""The fixed vocabularies every service agrees on (categories, services, places, languages).

Places come from the national geography in the team's domain primer: regions and the
districts/towns the referral sources name. Values are stable identifiers; display
names live in the directory and templates.
"""

from __future__ import annotations

from typing import Literal, get_args

Category = Literal["trafficking", "mine_eo", "refugee_asylum"]

ServiceType = Literal[
    "shelter",
    "medical_emergency",
    "medical",
    "rehabilitation",
    "prosthetics_orthotics",
    "assistive_technology",
    "psychosocial",
    "peer_support",
    "legal_aid",
    "asylum_legal",
    "safe_return",
    "reintegration",
    "vocational_training",
    "livelihood",
    "education",
    "family_tracing",
    "material_assistance",
]

Urgency = Literal["routine", "urgent", "emergency"]

Sex = Literal["female", "male", "other", "unknown"]

# Age bands are what leaves the case service; exact birth dates never do.
AgeBand = Literal["0-4", "5-11", "12-17", "18-24", "25-39", "40-59", "60+", "unknown"]

# The person's preferred language: Tajik, Russian, English, Uzbek, Kyrgyz, Dari/Farsi, Pashto
# (issue 13; a widening, old events read), or ``other`` with a free label in the sealed details.
Language = Literal["tg", "ru", "en", "uz", "ky", "fa", "ps", "other"]

Region = Literal["dushanbe", "sughd", "khatlon", "gbao", "drs"]

# Districts and towns named by the sources, by region.
DISTRICTS: dict[str, tuple[str, ...]] = {
    "dushanbe": ("dushanbe",),
    "sughd": ("khujand", "buston", "asht"),
    "khatlon": ("bokhtar", "kulob", "dangara", "farkhor", "baljuvon", "temurmalik"),
    "gbao": ("khorog", "shugnon"),
    "drs": ("rudaki", "rasht", "garm"),
}

CATEGORIES: tuple[str, ...] = get_args(Category)
SERVICE_TYPES: tuple[str, ...] = get_args(ServiceType)
URGENCIES: tuple[str, ...] = get_args(Urgency)
REGIONS: tuple[str, ...] = get_args(Region)
AGE_BANDS: tuple[str, ...] = get_args(AgeBand)
LANGUAGES: tuple[str, ...] = get_args(Language)


def region_of(district: str) -> str | None:
    for region, districts in DISTRICTS.items():
        if district in districts:
            return region
    return None


def age_band(age_years: int | None) -> str:
    """The band an age in whole years falls in ("unknown" when not known)."""
    if age_years is None or age_years < 0:
        return "unknown"
    bands = ((4, "0-4"), (11, "5-11"), (17, "12-17"), (24, "18-24"), (39, "25-39"), (59, "40-59"))
    for upper, band in bands:
        if age_years <= upper:
            return band
    return "60+"


def age_band_bounds(band: str) -> tuple[int, int] | None:
    """Inclusive (min, max) years of a band; None when unknown."""
    if band == "unknown":
        return None
    if band == "60+":
        return (60, 130)
    lo, hi = band.split("-")
    return (int(lo), int(hi))


def is_child_band(band: str) -> bool:
    bounds = age_band_bounds(band)
    return bounds is not None and bounds[1] < 18
