"""A cell's hours less those a correction takes back (``query._cell_hours``): the multiset
difference a ``Counter`` gives, computed on sorted lists by slices."""

from __future__ import annotations

from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from services.case.app.statistics.query import _cell_hours, _less

# Few distinct values, so that copies of one value stand together and are taken back,
# some more often than the cell holds them, some not held at all.
HOURS = st.lists(st.sampled_from([0.0, 0.5, 1.0, 1.5, 2.25, 7.0, 9.5, 48.0]), max_size=40)
TAKEN = st.lists(st.sampled_from([0.25, 0.5, 1.0, 1.5, 2.25, 9.5, 48.0, 60.0]), max_size=20)


def _difference(hours: list[float], taken: list[float]) -> list[float]:
    left = Counter(hours)
    left.subtract(taken)
    return sorted(left.elements())


@given(HOURS, TAKEN)
def test_less_is_the_multiset_difference_sorted(hours: list[float], taken: list[float]) -> None:
    assert _less(sorted(hours), taken) == _difference(hours, taken)


@given(HOURS, TAKEN, HOURS)
def test_cell_hours_takes_back_the_negative_rows(
    hours: list[float], taken: list[float], other: list[float]
) -> None:
    # rows as the database gives them: (row, column, n, hours), a cell's in several rows
    half = len(hours) // 2
    rows = [("ngo", "", half, hours[:half]), ("ngo", "", len(hours) - half, hours[half:]),
            ("ngo", "", -len(taken), taken), ("un_agency", "", len(other), other)]  # fmt: skip
    cells = _cell_hours([r for r in rows if r[2] or r[3]])  # type: ignore[arg-type]
    want = {("ngo", ""): _difference(hours, taken), ("un_agency", ""): sorted(other)}
    assert cells == {cell: h for cell, h in want.items() if h}


def test_a_cell_with_only_hours_taken_back_is_not_there() -> None:
    assert _cell_hours([("ngo", "", -2, [1.0, 2.0])]) == {}  # type: ignore[list-item]
