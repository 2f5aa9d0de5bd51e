"""Disclosure control of a whole output, after its tables are built and before any statistic,
figure or summary is derived from them.

1. Within the output: every pair of populations is checked like two releases. A table over a
   population that differs by 1 to min_cell_size - 1 people from an earlier-declared population
   of the same output is *withheld* (rather than made equal: the first population is what the
   analyst asked about, and shrinking it to match would move it closer to other releases of
   the full population), and the output's notes and ``withheld`` say why.
2. Against earlier releases of the same people: a population that differs from one by too few
   people refuses the whole run when the output is about it (``essential``), and otherwise has
   its tables withheld.
3. Protection intervals (``protection.py``) over every table of each population, this output's
   and earlier releases' over exactly the same people.
4. Within the output, cell by cell (``cell_differencing.py``): a population whose people
   differ from an earlier-declared population's of the same output, in a cell both publish,
   by 1 to min_cell_size - 1 people, or whose outcome counts there differ by what a single
   rate table would suppress, has its tables withheld as in step 1 (an essential one refuses
   the run: the output would be withheld from what it is about).
5. Against earlier releases, cell by cell: a population whose people differ from an earlier
   release's, in a cell both publish, by 1 to min_cell_size - 1 people, or whose outcome
   counts there differ by what a single rate table would suppress, is treated as in step 2
   (the run refused, or its tables withheld). Suppressing those cells instead would not do:
   with the margins of both releases published, a suppressed cell's difference is the
   margin's difference less the other cells' on its line.

Steps 4 and 5 run after the protection intervals, so the cells those hide count as
unpublished.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from .cell_differencing import CellRelease
from .disclosure import RULE_SECONDARY, ControlledCell, ControlledTable
from .errors import AnalysisRefused
from .ledger import DifferencingRefused, Population, cell_conflicts, differencing_conflicts
from .protection import LinkedTable, protect
from .protection_system import integer_dimensions
from .results import AnalysisResult, ResultTable

if TYPE_CHECKING:
    from .kinds_base import RunContext


def control_output(result: AnalysisResult, context: RunContext) -> None:
    """Apply the output-level steps to ``result`` in place (see the module docstring)."""
    minimum = context.policy.min_cell_size
    kept: list[Population] = []
    for population in result.populations:
        if population.compare_within_output:
            inside = [p for p in kept if p.compare_within_output]
            if differencing_conflicts(population, inside, minimum):
                _withhold_tables(result, population, WITHIN_OUTPUT.format(minimum=minimum))
                continue
        earlier = differencing_conflicts(
            population, context.ledger.near(population.size, minimum), minimum
        )
        if earlier:
            if population.essential or not _tables_over(result, population):
                raise DifferencingRefused(population, earlier, minimum)
            _withhold_tables(result, population, ACROSS_RELEASES.format(minimum=minimum))
            continue
        kept.append(population)
    width = context.policy.interval_width
    for population in kept:
        _protect_population(result, population, context, width)
    kept = _within_output_cells(result, kept, context)
    result.populations = [p for p in kept if _no_cell_conflict(result, p, context)]
    result.tables = [_with_value_labels(table, context) for table in result.tables]


def _within_output_cells(
    result: AnalysisResult, populations: list[Population], context: RunContext
) -> list[Population]:
    """Step 4: the populations whose tables are kept; raises for an essential one."""
    policy = context.policy
    kept: list[Population] = []
    earlier: list[CellRelease] = []
    for population in populations:
        tables = [table.to_dict() for table in _tables_over(result, population)]
        checked = population.compare_within_output and population.cells is not None
        if not checked or not tables or population.members is None or population.cells is None:
            kept.append(population)
            continue
        if cell_conflicts(population, tables, earlier, policy.min_cell_size, policy):
            if population.essential:
                raise AnalysisRefused(
                    "differencing", WITHIN_OUTPUT_REFUSAL.format(label=population.label)
                )
            _withhold_tables(result, population, WITHIN_CELLS.format(minimum=policy.min_cell_size))
            continue
        kept.append(population)
        earlier.append(
            CellRelease(population.label, None, population.members, population.cells, tables)
        )
    return kept


def _no_cell_conflict(result: AnalysisResult, population: Population, context: RunContext) -> bool:
    """Step 5: False when the population's tables were withheld; raises for an essential one."""
    minimum = context.policy.min_cell_size
    tables = [table.to_dict() for table in _tables_over(result, population)]
    if population.cells is None or not tables:
        return True
    conflicts = cell_conflicts(
        population, tables, context.ledger.cell_releases(), minimum, context.policy
    )
    if not conflicts:
        return True
    if population.essential:
        raise DifferencingRefused(population, conflicts, minimum)
    _withhold_tables(result, population, ACROSS_CELLS.format(minimum=minimum))
    return False


WITHIN_OUTPUT = (
    "Withheld: this table describes a population that differs from another population in the "
    "same output by fewer than {minimum} people, so subtracting one from the other would "
    "describe those people."
)
WITHIN_CELLS = (
    "Withheld: this table describes a population whose people differ from another "
    "population's in the same output, in a cell both publish, by fewer than {minimum} people "
    "(or whose outcome counts there differ by fewer than {minimum}), so subtracting one from "
    "the other would describe those people."
)
WITHIN_OUTPUT_REFUSAL = (
    "the population {label!r} differs from another population of the same output, in a cell "
    "both publish, by too few people (or outcomes), so subtracting one table from the other "
    "could describe them; nothing was released. Group the people more coarsely, or analyse "
    "an outcome column without missing values."
)
ACROSS_RELEASES = (
    "Withheld: this table describes a population that differs from an earlier release of the "
    "same people by fewer than {minimum} people, so subtracting one from the other would "
    "describe those people."
)


ACROSS_CELLS = (
    "Withheld: this table describes a population whose people differ from an earlier "
    "release's, in a cell both publish, by fewer than {minimum} people (or whose outcome "
    "counts there differ by fewer than {minimum}), so subtracting one from the other would "
    "describe those people."
)


def _tables_over(result: AnalysisResult, population: Population) -> list[ResultTable]:
    return [t for t in result.tables if t.population == population.label]


def _withhold_tables(result: AnalysisResult, population: Population, reason: str) -> None:
    for table in _tables_over(result, population):
        result.withheld[table.name] = reason
    result.tables = [t for t in result.tables if t.population != population.label]
    if reason not in result.notes:
        result.notes.append(reason.replace("Withheld: this table", "A table was withheld: it"))


def _protect_population(
    result: AnalysisResult, population: Population, context: RunContext, width: int
) -> None:
    ours = [(i, t) for i, t in enumerate(result.tables) if t.population == population.label]
    if not ours:
        return
    linked = [_linked(table) for _, table in ours]
    # An earlier table's "7.0" is this output's level "7" (integer_dimensions says when).
    integers = integer_dimensions(linked)
    earlier = [
        LinkedTable.from_released(t, integers) for t in context.ledger.tables_over(population)
    ]
    notes = protect([*linked, *earlier], width)
    for note in notes:
        if note not in result.notes:
            result.notes.append(note)
    for (position, table), link in zip(ours, linked, strict=True):
        if link.newly_suppressed:
            result.tables[position] = replace(
                table, table=_suppressed(table.table, link.newly_suppressed)
            )


def _with_value_labels(table: ResultTable, context: RunContext) -> ResultTable:
    """Attach the declared labels of the codes this table shows (for its readers; the cell
    labels stay the codes, which is what links tables across releases)."""
    labels: dict[str, dict[str, str]] = {}
    for dimension in table.table.dimensions:
        declared = context.value_labels.get(dimension)
        if not declared:
            continue
        shown = {cell.labels[dimension] for cell in table.table.cells}
        found = {code: label for code, label in declared.items() if code in shown}
        if found:
            labels[dimension] = found
    return replace(table, value_labels=labels) if labels else table


def _linked(table: ResultTable) -> LinkedTable:
    cells = table.table.cells
    measures = table.quantities()
    return LinkedTable(
        dimensions=list(table.table.dimensions),
        measures=measures,
        labels=[dict(cell.labels) for cell in cells],
        values=[{key: cell.raw.get(key) for key in measures} for cell in cells],
        suppressed=np.array([cell.suppressed for cell in cells], dtype=bool),
        mutable=True,
        public=table.published_elsewhere,
    )


def _suppressed(table: ControlledTable, positions: set[int]) -> ControlledTable:
    cells = []
    for position, cell in enumerate(table.cells):
        if position in positions and not cell.suppressed:
            rules = [r for r in cell.rules if r != "rounding"]
            cell = ControlledCell(
                cell.labels,
                dict.fromkeys(cell.values),
                True,
                [*rules, RULE_SECONDARY],
                cell.raw,
            )
        cells.append(cell)
    return replace(table, cells=cells)
