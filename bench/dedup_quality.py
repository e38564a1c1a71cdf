"""Precision and recall of the duplicate search on invented people (``make bench``).

Generates ``--people`` distinct people (Tajik names, both sexes, born 1945-2014) and
registers each once, with ``--namesakes`` of them given a namesake (same names and sex,
born 2-29 years apart: a near miss that must not match); then ``--share`` of them are
registered again by another office in one of the variants of ``bench/people.py``
(another script, another Latin spelling, names swapped, day and month swapped, year only,
an estimated age, a typo, a consonant mistaken). Every registration
is looked up before it is indexed, as at intake, with the service's own key functions
(``services/case/domain/person_keys.py``) over an in-memory index (the Postgres index
holds the same keys and answers the same set lookup). A suggestion is right when both
registrations are of one person.

    python bench/dedup_quality.py [--people 5000] [--share 0.2] [--seed 14] [--quick]
"""

from __future__ import annotations

import argparse
import random
from collections import Counter, defaultdict
from datetime import date

from benchkit import machine, result
from people import VARIANTS, Person, Registration, first, people, variant

from services.case.domain.person_keys import Identity, blind, lookup_keys, score, stored_keys

KEY = bytes(range(32))
TODAY = date(2026, 11, 29)


def identity(r: Registration) -> Identity:
    return Identity(
        given_name=r.given,
        family_name=r.family,
        sex=r.sex,
        date_of_birth=r.born,
        birth_year=r.birth_year,
        year_estimated=r.year_estimated,
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--people", type=int, default=5000)
    ap.add_argument("--share", type=float, default=0.2, help="registered twice")
    ap.add_argument("--namesakes", type=float, default=0.1, help="near misses added")
    ap.add_argument("--seed", type=int, default=14)
    ap.add_argument("--quick", action="store_true", help="1,000 people")
    args = ap.parse_args()
    if args.quick:
        args.people = 1000
    print(machine())
    rng = random.Random(args.seed)
    everyone = people(args.people, rng)
    # Near misses: namesakes (same names and sex) born in another year: different people.
    for p in rng.sample(everyone, int(args.people * args.namesakes)):
        shift = rng.choice((-1, 1)) * rng.randrange(2, 30)
        born = p.born.replace(year=p.born.year + shift, day=min(p.born.day, 28))
        everyone.append(Person(len(everyone), p.given, p.family, p.sex, born))
    registrations = [first(p) for p in everyone]
    twice = rng.sample(everyone[: args.people], int(args.people * args.share))
    registrations += [
        variant(p, VARIANTS[i % len(VARIANTS)], rng, TODAY) for i, p in enumerate(twice)
    ]
    rng.shuffle(registrations)  # the variant may be registered before the first
    kind_of = {r.pid: r.variant for r in registrations if r.variant != "first"}

    index: dict[tuple[str, bytes], list[int]] = defaultdict(list)
    true_pos: Counter[str] = Counter()
    injected: Counter[str] = Counter()
    false_pos = 0
    seen_people: set[int] = set()
    for n, reg in enumerate(registrations):
        who = identity(reg)
        found: dict[int, float] = {}
        for probe in lookup_keys(who):
            for other in index.get((probe.kind, blind(KEY, probe)), ()):
                found[other] = max(found.get(other, 0.0), score(probe))
        if reg.pid in seen_people:  # the second of a pair: the first is the one to find
            injected[kind_of[reg.pid]] += 1
        for other in found:
            if registrations[other].pid == reg.pid:
                true_pos[kind_of[reg.pid]] += 1
            else:
                false_pos += 1
        seen_people.add(reg.pid)
        for k in stored_keys(who):
            index[(k.kind, blind(KEY, k))].append(n)

    tp, total = sum(true_pos.values()), sum(injected.values())
    precision = tp / (tp + false_pos) if tp + false_pos else float("nan")
    recall = tp / total if total else float("nan")
    print(
        f"{len(everyone):,} people ({len(everyone) - args.people:,} of them namesakes born in"
        f" another year), {total:,} registered twice, {len(registrations):,} registrations"
    )
    print("| variant of the second registration | injected | found | recall |")
    print("|---|---:|---:|---:|")
    for kind in sorted(injected):
        r = true_pos[kind] / injected[kind]
        print(f"| {kind} | {injected[kind]} | {true_pos[kind]} | {r:.1%} |")
        result("dedup_quality", "recall", r, "ratio", variant=kind, people=args.people)
    print(f"| **all** | {total} | {tp} | {recall:.1%} |")
    print(f"false suggestions (two different people): {false_pos}; precision {precision:.1%}")
    result("dedup_quality", "precision", precision, "ratio", people=args.people)
    result("dedup_quality", "recall", recall, "ratio", variant="all", people=args.people)
    result("dedup_quality", "false_suggestions", false_pos, "pairs", people=args.people)


if __name__ == "__main__":
    main()
