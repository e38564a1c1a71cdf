"""Invented people and their registrations, for the duplicate benchmarks (not real data).

A person is a Tajik name in Cyrillic, a sex and a birth date. A registration is what an
office typed: the name in Cyrillic or in one of three Latin spellings, sometimes with the
names the other way round, the day and month swapped, only a birth year, an estimated
age, a letter of the family name dropped or doubled, or one of its consonants mistaken.
``duplicate_of`` is the ground truth the precision/recall is measured against.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta

FEMALE = (
    "Зарина Мадина Нигора Гулнора Дилноза Шахноза Малика Фарзона Нилуфар Мехрона Саида"
    " Ситора Парвина Зулфия Мунира Гулчеҳра Хуршеда Ҷамила Тахмина Фотима Ойша Манижа"
    " Наргис Сабрина Шабнам Мохира Дилором Гулшан Рухшона Фируза Замира Ширин Лайло Мавҷуда"
    " Қумри Ҳафиза Севара Нозия Бибисора Моҳру"
).split()
MALE = (
    "Фаррух Ҷамшед Хуршед Умед Рустам Фирдавс Баҳодур Далер Шерзод Комрон Илҳом Парвиз"
    " Сино Бахтиёр Азиз Акмал Алишер Мансур Суҳроб Нодир Қобил Рашид Ҳасан Карим Муҳаммад"
    " Зафар Ғайрат Файзулло Исмоил Абдулло Носир Собир Одил Анвар Толиб Ҷаҳонгир Меҳроҷ"
    " Шодмон Ёқуб Юсуф"
).split()
FAMILY_ROOTS = (
    "Раҳимов Каримов Қодиров Назаров Саидов Ҳасанов Шарипов Давлатов Раҷабов Собиров"
    " Юсупов Ғафуров Аминов Мирзоев Холов Исмоилов Одинаев Сафаров Бобоев Тошматов"
    " Ҷӯраев Зоиров Латипов Мадаминов Нурматов Олимов Пулодов Раҳмонов Сатторов Турсунов"
    " Умаров Файзиев Хоҷаев Ҳакимов Чориев Шоев Эргашев Ёров Қурбонов Ғуломов Абдуллоев"
    " Бердиев Валиев Гадоев Ибодов Комилов Маҳмудов Наимов Обидов Рустамов"
).split()

_COMMON = {
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "з": "z", "и": "i",
    "ӣ": "i", "й": "y", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p",
    "р": "r", "с": "s", "т": "t", "у": "u", "ӯ": "u", "ф": "f", "ш": "sh", "э": "e",
    "ю": "yu", "я": "ya", "ё": "yo", "ч": "ch", "ж": "zh", "ц": "ts", "ы": "y",
}  # fmt: skip
# Three ways offices write the Tajik letters in Latin.
SCHEMES = {
    "russian": {**_COMMON, "х": "kh", "ҳ": "kh", "ҷ": "dzh", "қ": "k", "ғ": "g"},
    "tajik": {**_COMMON, "х": "x", "ҳ": "h", "ҷ": "j", "қ": "q", "ғ": "gh"},
    "english": {**_COMMON, "х": "kh", "ҳ": "h", "ҷ": "j", "қ": "q", "ғ": "gh", "ё": "io"},
}


def latin(name: str, scheme: str, rng: random.Random) -> str:
    table = SCHEMES[scheme]
    out = "".join(table.get(c.lower(), c.lower()) for c in name)
    if scheme == "english" and out.endswith("a") and rng.random() < 0.5:
        out += "h"  # Zarinah
    return out.capitalize()


@dataclass(frozen=True)
class Person:
    pid: int
    given: str
    family: str
    sex: str
    born: date


@dataclass(frozen=True)
class Registration:
    pid: int  # the person (ground truth)
    given: str
    family: str
    sex: str
    born: date | None
    birth_year: int | None
    year_estimated: bool
    variant: str  # how this registration differs from the first one


def people(n: int, rng: random.Random) -> list[Person]:
    out = []
    for pid in range(n):
        sex = rng.choice(("female", "male"))
        given = rng.choice(FEMALE if sex == "female" else MALE)
        family = rng.choice(FAMILY_ROOTS) + ("а" if sex == "female" else "")
        born = date(1945, 1, 1) + timedelta(days=rng.randrange(365 * 70))
        out.append(Person(pid, given, family, sex, born))
    return out


def first(p: Person) -> Registration:
    return Registration(p.pid, p.given, p.family, p.sex, p.born, None, False, "first")


VARIANTS = (
    "cyrillic_again",
    "latin_russian",
    "latin_tajik",
    "latin_english",
    "names_swapped",
    "day_month_swapped",
    "year_only",
    "estimated_age",
    "typo",
    "consonant_changed",
)
# A consonant misheard or mistyped for a neighbouring one (not a spelling of one sound).
_MISTAKEN = {
    "b": "p", "p": "b", "d": "t", "t": "d", "m": "n", "n": "m", "r": "l", "l": "r",
    "s": "z", "z": "s", "v": "f", "f": "v", "g": "k", "k": "g",
}  # fmt: skip


def variant(p: Person, kind: str, rng: random.Random, today: date) -> Registration:
    """A second registration of ``p`` by another office."""
    scheme = rng.choice(tuple(SCHEMES))
    given, family = latin(p.given, scheme, rng), latin(p.family, scheme, rng)
    born: date | None = p.born
    year, estimated = None, False
    match kind:
        case "cyrillic_again":
            given, family = p.given, p.family
        case "latin_russian" | "latin_tajik" | "latin_english":
            scheme = kind.removeprefix("latin_")
            given, family = latin(p.given, scheme, rng), latin(p.family, scheme, rng)
        case "names_swapped":
            given, family = family, given
        case "day_month_swapped":
            if p.born.day <= 12 and p.born.day != p.born.month:
                born = date(p.born.year, p.born.day, p.born.month)
        case "year_only":
            born, year = None, p.born.year
        case "estimated_age":
            age = today.year - p.born.year + rng.choice((-1, 0, 1))
            born, year, estimated = None, today.year - age, True
        case "typo":  # one letter of the family name dropped or doubled
            i = rng.randrange(1, len(family) - 1)
            family = (
                family[:i] + family[i + 1 :]
                if rng.random() < 0.5
                else family[:i] + family[i] + family[i:]
            )
        case "consonant_changed":  # one consonant of the family name mistaken
            spots = [i for i in range(1, len(family)) if family[i] in _MISTAKEN]
            i = rng.choice(spots)
            family = family[:i] + _MISTAKEN[family[i]] + family[i + 1 :]
    return Registration(p.pid, given, family, p.sex, born, year, estimated, kind)
