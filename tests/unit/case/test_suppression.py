"""Small-cell suppression: no figure below k is shown, and no hidden figure can be
recovered from the shown ones by the table's row and column sums.

The recovery check is independent of the algorithm's cycle argument: exact linear algebra
over the rationals. A hidden figure x is recoverable from the published sums exactly when
the unit vector of x lies in the row space of the sum equations restricted to the hidden
unknowns (rank does not grow when it is added).
"""

from __future__ import annotations

from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from services.case.domain.suppression import suppress, with_margins

K = 5


def _rank(matrix: list[list[Fraction]]) -> int:
    m = [row[:] for row in matrix]
    rank, cols = 0, len(m[0]) if m else 0
    for c in range(cols):
        pivot = next((r for r in range(rank, len(m)) if m[r][c] != 0), None)
        if pivot is None:
            continue
        m[rank], m[pivot] = m[pivot], m[rank]
        for r in range(len(m)):
            if r != rank and m[r][c] != 0:
                f = m[r][c] / m[rank][c]
                m[r] = [a - f * b for a, b in zip(m[r], m[rank], strict=True)]
        rank += 1
    return rank


def _equations(grid: list[list[int]], one_dimensional: bool) -> list[list[tuple[int, int]]]:
    """Each published sum as the cells it relates: the last one of each is the total."""
    rows, cols = len(grid), len(grid[0])
    if one_dimensional:
        return [[(i, 0) for i in range(rows)]]
    eqs = [[(i, j) for j in range(cols)] for i in range(rows)]
    eqs += [[(i, j) for i in range(rows)] for j in range(cols)]
    return eqs


def recoverable(grid: list[list[int]], hidden: set[tuple[int, int]], one_dim: bool) -> set:
    unknowns = sorted(hidden)
    index = {cell: n for n, cell in enumerate(unknowns)}
    matrix: list[list[Fraction]] = []
    for eq in _equations(grid, one_dim):
        row = [Fraction(0)] * len(unknowns)
        for n, cell in enumerate(eq):
            if cell in index:
                row[index[cell]] += -1 if n == len(eq) - 1 else 1
        if any(row):
            matrix.append(row)
    if not matrix:
        return set()
    base = _rank(matrix)
    out = set()
    for cell, n in index.items():
        unit = [Fraction(int(i == n)) for i in range(len(unknowns))]
        if _rank([*matrix, unit]) == base:
            out.add(cell)
    return out


counts_2d = st.integers(1, 6).flatmap(
    lambda m: st.integers(1, 6).flatmap(
        lambda n: st.lists(
            st.lists(st.one_of(st.integers(0, 6), st.integers(0, 60)), min_size=n, max_size=n),
            min_size=m,
            max_size=m,
        )
    )
)
counts_1d = st.lists(st.lists(st.integers(0, 40), min_size=1, max_size=1), min_size=1, max_size=12)


@settings(max_examples=300, deadline=None)
@given(counts_2d)
def test_no_hidden_figure_of_a_two_way_table_follows_from_the_shown_ones(counts) -> None:
    grid = with_margins(counts, one_dimensional=False)
    hidden = suppress(grid, K)
    for i, row in enumerate(grid):
        for j, v in enumerate(row):
            if 0 < v < K:
                assert hidden.get((i, j)) == "primary"
    assert recoverable(grid, set(hidden), one_dim=False) == set()


@settings(max_examples=200, deadline=None)
@given(counts_1d)
def test_no_hidden_figure_of_a_one_way_table_follows_from_the_total(counts) -> None:
    grid = with_margins(counts, one_dimensional=True)
    hidden = suppress(grid, K)
    assert all(hidden.get((i, 0)) == "primary" for i, r in enumerate(grid) if 0 < r[0] < K)
    assert recoverable(grid, set(hidden), one_dim=True) == set()


def test_a_lone_small_cell_would_be_recovered_from_its_row_total_without_the_complement() -> None:
    """The oracle bites: with primary suppression only, the hidden cell is recovered."""
    grid = with_margins([[3, 20], [30, 40]], one_dimensional=False)
    assert recoverable(grid, {(0, 0)}, one_dim=False) == {(0, 0)}
    hidden = suppress(grid, K)
    assert hidden[(0, 0)] == "primary"
    assert {c for c, why in hidden.items() if why == "complementary"}  # partners were hidden
    assert recoverable(grid, set(hidden), one_dim=False) == set()


def test_the_cheapest_partners_are_chosen() -> None:
    grid = with_margins([[2, 9, 50], [7, 8, 60], [40, 41, 42]], one_dimensional=False)
    hidden = suppress(grid, K)
    assert set(hidden) == {(0, 0), (0, 1), (1, 0), (1, 1)}


def test_zero_is_shown_and_a_table_without_small_cells_hides_nothing() -> None:
    grid = with_margins([[0, 9], [7, 0]], one_dimensional=False)
    assert suppress(grid, K) == {}
    assert suppress(with_margins([[0], [12]], one_dimensional=True), K) == {}


def test_a_one_way_table_hides_a_partner_for_a_lone_small_cell() -> None:
    grid = with_margins([[2], [30], [12]], one_dimensional=True)
    assert suppress(grid, K) == {(0, 0): "primary", (2, 0): "complementary"}


def test_k_is_the_threshold() -> None:
    grid = with_margins([[9], [30]], one_dimensional=True)
    assert suppress(grid, 5) == {}
    assert set(suppress(grid, 10)) == {(0, 0), (1, 0)}
