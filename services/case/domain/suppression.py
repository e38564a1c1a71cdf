"""Small-cell suppression of a published table, primary and complementary (pure).

A table is published with its margins: an ``(m+1) x (n+1)`` grid whose last row holds the
column totals, whose last column holds the row totals, and whose corner is the grand
total (a one-dimensional table is ``(m+1) x 1``: the cells and their total).

- **Primary**: every figure (cell or margin) from 1 to ``k - 1`` is hidden (zero is shown:
  it says nobody, which cannot single anyone out).
- **Complementary**: more figures are hidden until no hidden one follows from the shown
  ones by the table's sums. Read the grid as a complete bipartite graph, one vertex per
  row and per column (the totals row and column included), each figure an edge; every
  vertex says "my edges sum to zero" once the totals are negated. The hidden figures can
  then move along any cycle of hidden edges without changing a shown sum, and along
  nothing else: a hidden figure is recoverable exactly when its edge is a *bridge* of the
  hidden edges (on no cycle). So while a bridge is left, hide the three figures that close
  the cheapest 4-cycle through it (lowest sum of the figures newly hidden).

What this does not protect against (docs/statistics.md): bounds an attacker derives from
``<k`` and non-negativity, and differences between two tables of overlapping scope.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

Cell = tuple[int, int]  # (row, column) in the grid with margins
Reason = Literal["primary", "complementary"]


def with_margins(counts: Sequence[Sequence[int]], one_dimensional: bool) -> list[list[int]]:
    """``counts`` (``m x n``; ``m x 1`` when one-dimensional) with totals added."""
    if one_dimensional:
        cells = [[row[0]] for row in counts]
        return [*cells, [sum(r[0] for r in cells)]]
    grid = [[*row, sum(row)] for row in counts]
    width = len(grid[0]) if grid else 1
    grid.append([sum(row[j] for row in grid) for j in range(width)])
    return grid


def suppress(grid: Sequence[Sequence[int]], k: int) -> dict[Cell, Reason]:
    """The figures of ``grid`` (with margins, see above) to hide, and why."""
    hidden: dict[Cell, Reason] = {
        (i, j): "primary"
        for i, row in enumerate(grid)
        for j, value in enumerate(row)
        if 0 < value < k
    }
    if len(grid[0]) == 1:
        _complete_column(grid, hidden)
    else:
        _complete_cycles(grid, hidden)
    return hidden


def _complete_column(grid: Sequence[Sequence[int]], hidden: dict[Cell, Reason]) -> None:
    """One sum (cells = total): a lone hidden figure is recoverable; hide the smallest other."""
    if len(hidden) != 1 or len(grid) < 2:
        return
    shown = [(grid[i][0], i) for i in range(len(grid)) if (i, 0) not in hidden]
    _, i = min(shown)
    hidden[(i, 0)] = "complementary"


def _complete_cycles(grid: Sequence[Sequence[int]], hidden: dict[Cell, Reason]) -> None:
    rows, cols = len(grid), len(grid[0])
    while (bridge := _a_bridge(hidden, rows, cols)) is not None:
        r, c = bridge
        best: tuple[int, int, list[Cell]] | None = None
        for r2 in range(rows):
            if r2 == r:
                continue
            for c2 in range(cols):
                if c2 == c:
                    continue
                new = [x for x in ((r2, c), (r2, c2), (r, c2)) if x not in hidden]
                cost = (sum(grid[i][j] for i, j in new), len(new))
                if best is None or cost < best[:2]:
                    best = (*cost, new)
        assert best is not None  # a grid with margins has at least 2 rows and 2 columns
        for cell in best[2]:
            hidden[cell] = "complementary"


def _a_bridge(hidden: dict[Cell, Reason], rows: int, cols: int) -> Cell | None:
    """A hidden figure on no cycle of hidden figures (Tarjan's bridges), in grid order."""
    # Vertices: rows 0..rows-1, columns rows..rows+cols-1.
    adjacent: dict[int, list[int]] = {}
    for i, j in hidden:
        adjacent.setdefault(i, []).append(rows + j)
        adjacent.setdefault(rows + j, []).append(i)
    order: dict[int, int] = {}
    low: dict[int, int] = {}
    bridges: list[Cell] = []

    def visit(v: int, parent: int) -> None:
        order[v] = low[v] = len(order)
        for w in adjacent[v]:
            if w == parent:
                continue  # a simple graph: one edge per (row, column)
            if w not in order:
                visit(w, v)
                low[v] = min(low[v], low[w])
                if low[w] > order[v]:
                    bridges.append((min(v, w), max(v, w) - rows))
            else:
                low[v] = min(low[v], order[w])

    for v in sorted(adjacent):
        if v not in order:
            visit(v, -1)
    return min(bridges) if bridges else None
