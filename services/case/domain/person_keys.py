"""Identity keys of a person, for finding duplicates without reading other cases.

Pure: names are folded (case, diacritics, Tajik/Russian Cyrillic transliterated to Latin),
reduced to a sound key for spelling variants (Зарина / Zarina / Zarinah all give
``zrn``), combined with sex and the birth date or year, and each combination is put
through a keyed HMAC by the caller's key. Only these blind keys are stored: without the
index key they reveal nothing, not even that two cases share a name.

Which keys are stored and which are looked up (``stored_keys`` / ``lookup_keys``) decides
what counts as a possible duplicate; ``docs/case-domain.md`` gives the measured
precision and recall.
"""

from __future__ import annotations

import hmac
import re
import unicodedata
from dataclasses import dataclass
from datetime import date

# Tajik and Russian Cyrillic to Latin (one scheme; the sound key absorbs the others).
_CYRILLIC = {
    "а": "a", "б": "b", "в": "v", "г": "g", "ғ": "gh", "д": "d", "е": "e", "ё": "yo",
    "ж": "zh", "з": "z", "и": "i", "ӣ": "i", "й": "y", "к": "k", "қ": "q", "л": "l",
    "м": "m", "н": "n", "о": "o", "п": "p", "р": "r", "с": "s", "т": "t", "у": "u",
    "ӯ": "u", "ф": "f", "х": "kh", "ҳ": "h", "ц": "ts", "ч": "ch", "ҷ": "j", "ш": "sh",
    "щ": "shch", "ъ": "", "ы": "y", "ь": "", "э": "e", "ю": "yu", "я": "ya", "і": "i",
}  # fmt: skip
# Latin spellings of one sound, longest first (Russian-style, Tajik-style, English-style).
_SOUNDS = (
    ("shch", "s"), ("dzh", "j"), ("sch", "s"), ("sh", "s"), ("ch", "c"), ("zh", "j"),
    ("dj", "j"), ("kh", "h"), ("gh", "g"), ("ts", "s"), ("ph", "f"), ("ck", "k"),
    ("q", "k"), ("x", "h"), ("w", "v"), ("y", "i"),
)  # fmt: skip
_VOWELS_AND_H = re.compile(r"[aeiouh]")
_REPEATS = re.compile(r"(.)\1+")


_TO_LATIN = str.maketrans(_CYRILLIC)
_NOT_LATIN = re.compile(r"[^a-z]+")


def fold(name: str) -> str:
    """Lower case, Latin letters only: ``Зарина`` → ``zarina``, ``Zaríná`` → ``zarina``.

    Cyrillic letters are transliterated before the decomposition (``й`` is ``y``, not
    ``и`` and a breve); what decomposes to anything but a-z (marks, digits, other
    scripts) is dropped."""
    return _NOT_LATIN.sub("", unicodedata.normalize("NFKD", name.lower().translate(_TO_LATIN)))


def sound(name: str) -> str:
    """A key shared by spelling variants: the first letter and the consonants after it.

    ``Zarina``, ``Zarinah``, ``Зарина`` → ``zrn``; ``Qodirova``, ``Kodirova``,
    ``Кодырова`` → ``kdrv``; ``Khurshed``, ``Хуршед``, ``Xurshed`` → ``hrsd``.
    """
    return _sound_of(fold(name))


def _sound_of(s: str) -> str:
    for spelling, one in _SOUNDS:
        s = s.replace(spelling, one)
    if not s:
        return ""
    return _REPEATS.sub(r"\1", s[0] + _VOWELS_AND_H.sub("", s[1:]))


@dataclass(frozen=True, repr=False)  # plaintext: no repr to land in a log or a traceback
class Identity:
    """What identifies a person for matching (plaintext: never stored, never logged)."""

    given_name: str | None
    family_name: str | None
    sex: str
    date_of_birth: date | None = None
    birth_year: int | None = None  # from the date of birth, else from an estimated age
    year_estimated: bool = False

    def year(self) -> int | None:
        return self.date_of_birth.year if self.date_of_birth else self.birth_year


# Kinds of key and what a match on each is worth (the highest match counts).
SCORES = {
    "name_dob": 1.0,  # same folded names, same birth date
    "sound_dob": 0.9,  # names sound alike, same birth date
    "name_year": 0.8,  # same names and birth year, one of the two has no full date
    "sound_year": 0.7,  # names sound alike, same year, one has no full date
    "fuzzy_dob": 0.6,  # family names one sound apart (a typo), given names alike, same date
}
SWAPPED = 0.95  # given and family name entered the other way round
DAY_MONTH_SWAPPED = 0.9  # 03/04 entered as 04/03
NEAR_YEAR = 0.8  # an estimated age: the year is ±1


@dataclass(frozen=True, repr=False)  # its value spells the names out
class Probe:
    kind: str
    value: str
    weight: float


@dataclass(frozen=True, repr=False)  # plaintext names: no repr to land in a log
class _Spelled:
    """A person's two names, folded and as sound keys: worked out once per identity (a
    write looks up and stores some forty keys, each spelled from these four)."""

    given: str
    family: str
    given_sound: str
    family_sound: str

    def swapped(self) -> _Spelled:
        return _Spelled(self.family, self.given, self.family_sound, self.given_sound)


def _spelled(identity: Identity) -> _Spelled | None:
    given, family = fold(identity.given_name or ""), fold(identity.family_name or "")
    if not given or not family:
        return None  # one name alone (or none) is too common to match on
    return _Spelled(given, family, _sound_of(given), _sound_of(family))


# A family name one letter off: the sound key as entered (``=``), and with the letter at
# position i left out (``i``). A case stores both forms; a lookup probes for the three
# ways two keys can be one letter apart (see ``_near_probes``).
EXACT = "="


def _near_stored(s: str) -> list[tuple[str, str]]:
    if len(s) < 2:  # a one-letter key left out becomes empty: it would match every name
        return [(s, EXACT)] if s else []
    return [(s, EXACT), *((s[:i] + s[i + 1 :], str(i)) for i in range(len(s)))]


def _near_probes(t: str) -> list[tuple[str, str]]:
    """What finds a stored key ``s`` one letter from ``t``: one letter changed (the same
    position left out of both), one letter more in ``t`` (``t`` less it is ``s``) or one
    letter less (``s`` less a letter at i is ``t``). Two letters apart never meet, so
    ``Qodirova`` (kdrv) and ``Karimova`` (krmv) stay apart though both less one are krv."""
    if not t:
        return []
    probes = set(_near_stored(t))
    probes |= {(t[:i] + t[i + 1 :], EXACT) for i in range(len(t)) if len(t) > 1}
    probes |= {(t, str(i)) for i in range(len(t) + 1)}
    return sorted(probes)


def _fuzzy(names: _Spelled, sex: str, dob: date, *, lookup: bool) -> list[str]:
    s = names.family_sound
    near = _near_probes(s) if lookup else _near_stored(s)
    tail = (sex, dob.isoformat())
    return ["\x1f".join(("fuzzy_dob", names.given_sound, k, at, *tail)) for k, at in near]


def _values(kind: str, names: _Spelled, sex: str, when: str) -> str:
    if kind.startswith("name"):
        return "\x1f".join((kind, names.given, names.family, sex, when))
    return "\x1f".join((kind, names.given_sound, names.family_sound, sex, when))


def stored_keys(identity: Identity) -> list[Probe]:
    """The keys a case is indexed under. ``*_year`` keys carry ``any`` (every case with a
    year) or ``nodob`` (cases without a full date), so a full date that differs is never
    a match on the year alone."""
    names = _spelled(identity)
    year = identity.year()
    if names is None or year is None:
        return []
    keys: list[Probe] = []
    sex = identity.sex
    if identity.date_of_birth is not None:
        born = identity.date_of_birth
        dob = born.isoformat()
        keys += [Probe(k, _values(k, names, sex, dob), 1.0) for k in ("name_dob", "sound_dob")]
        keys += [Probe("fuzzy_dob", v, 1.0) for v in _fuzzy(names, sex, born, lookup=False)]
    marks = [(year, "any")] if identity.date_of_birth else [(year, "any"), (year, "nodob")]
    if identity.year_estimated:  # an estimated age: either neighbouring year, marked so
        marks += [(year - 1, "est"), (year + 1, "est")]
    for y, mark in marks:
        for k in ("name_year", "sound_year"):
            keys.append(Probe(k, _values(k, names, sex, f"{y}:{mark}"), 1.0))
    return keys


def lookup_keys(identity: Identity) -> list[Probe]:
    """The keys to look up for a new or changed profile, each with the weight of a match."""
    probes: list[Probe] = []
    as_entered = _spelled(identity)
    year = identity.year()
    if as_entered is None or year is None:
        return probes
    for names, swapped, w in ((as_entered, False, 1.0), (as_entered.swapped(), True, SWAPPED)):
        sex = identity.sex
        dob = identity.date_of_birth
        if dob is not None:
            dates = [(dob, w)]
            if dob.day <= 12 and dob.day != dob.month:
                dates.append((date(dob.year, dob.day, dob.month), w * DAY_MONTH_SWAPPED))
            for d, dw in dates:
                for k in ("name_dob", "sound_dob"):
                    probes.append(Probe(k, _values(k, names, sex, d.isoformat()), dw))
            if not swapped:  # a typo, only on the date and names as entered
                probes += [Probe("fuzzy_dob", v, w) for v in _fuzzy(names, sex, dob, lookup=True)]
            # Against cases that only know a year, or estimated it one year off.
            for k in ("name_year", "sound_year"):
                probes.append(Probe(k, _values(k, names, sex, f"{year}:nodob"), w))
                est = _values(k, names, sex, f"{year}:est")
                probes.append(Probe(k, est, w * NEAR_YEAR))
            continue
        years = [(year, "any", w), (year, "est", w * NEAR_YEAR)]
        if identity.year_estimated:
            years += [(year - 1, "any", w * NEAR_YEAR), (year + 1, "any", w * NEAR_YEAR)]
        for y, mark, yw in years:
            for k in ("name_year", "sound_year"):
                probes.append(Probe(k, _values(k, names, sex, f"{y}:{mark}"), yw))
    return probes


def blind(key: bytes, probe: Probe) -> bytes:
    """The stored form of a probe: HMAC-SHA256 under the index key, first 16 bytes."""
    return hmac.digest(key, probe.value.encode(), "sha256")[:16]


def score(probe: Probe) -> float:
    return round(SCORES[probe.kind] * probe.weight, 3)
