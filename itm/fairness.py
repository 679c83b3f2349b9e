"""Fairness report: who reaches threshold, by department and by location.

For each group, the selection rate is the share of its employees who reach
their threshold on at least one open opportunity. The adverse-impact ratio is
a group's rate divided by the best-served group's rate (the EEOC "four-fifths
rule": a ratio below 0.8 is flagged for review). Groups smaller than
``min_group_size`` are reported but not flagged (ratios of tiny groups are
noise), as audit practice for automated employment decision tools expects.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from fractions import Fraction

FOUR_FIFTHS = Fraction(4, 5)


@dataclass(frozen=True, slots=True)
class Person:
    department: str
    location: str
    qualified_any: bool  # reaches threshold on at least one open opportunity


@dataclass(frozen=True, slots=True)
class GroupRow:
    dimension: str
    group: str
    employees: int
    qualified: int
    rate: float
    impact_ratio: float | None  # None when no group has any selection
    flagged: bool


def report(people: list[Person], min_group_size: int = 5) -> list[GroupRow]:
    rows: list[GroupRow] = []
    for dimension in ("department", "location"):
        totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for p in people:
            t = totals[getattr(p, dimension) or "(unknown)"]
            t[0] += 1
            t[1] += p.qualified_any
        rates = {g: Fraction(q, n) for g, (n, q) in totals.items()}
        best = max(rates.values(), default=Fraction(0))
        for group in sorted(totals):
            n, q = totals[group]
            ratio = rates[group] / best if best else None
            rows.append(GroupRow(dimension, group, n, q, float(rates[group]),
                                 float(ratio) if ratio is not None else None,
                                 ratio is not None and ratio < FOUR_FIFTHS and n >= min_group_size))
    return rows


def format_report(rows: list[GroupRow]) -> str:
    lines = [f"{'dimension':<11} {'group':<24} {'employees':>9} {'qualified':>9} {'rate':>6} {'impact':>7}  flag"]
    for r in rows:
        impact = f"{r.impact_ratio:.2f}" if r.impact_ratio is not None else "-"
        lines.append(f"{r.dimension:<11} {r.group:<24} {r.employees:>9} {r.qualified:>9} {r.rate:>6.0%} {impact:>7}"
                     f"  {'< 4/5: review' if r.flagged else ''}")
    return "\n".join(lines)
