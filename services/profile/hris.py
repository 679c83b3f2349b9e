"""The HRIS import's rules: how a file's lines become employees (pure, no I/O).

A file is a CSV export, UTF-8, header row first, **one record per line**. A
quoted cell must close on its own line: a line whose quote is not closed is
rejected with its number and the next line is read on its own, so a stray
quote can never swallow the lines after it (the loss issue 17 reported). Every
line gets exactly one result (see ``Outcome`` in profile.proto).

Columns (names are case-insensitive, spaces become underscores; unknown columns
are ignored):

=========================== ============================================================
``employee_id``, ``name``    required
``department``, ``manager_id``, ``location``, ``hours_available_per_week`` (0-80),
``career_aspirations``      ("; "-separated) the person
``skill``                   an id, name or alias of the taxonomy; empty = no skill on this line
``level``                   1-5, required with a skill
``status``                  claimed (default), aspirational, inferred, verified
``source``                  hris (default), self, manager, assessment
=========================== ============================================================

**Several skills of one employee** are several lines with the same
``employee_id``, one skill each, repeating the same person columns (the "long"
layout HRIS reports produce). A line whose person columns differ from that
employee's first line in the file is rejected, naming that line, and so is a
second line for the same employee and skill. Skills in the feed are added or
updated, never removed (people also claim skills themselves); a line whose
skill evidence is already recorded from the feed changes nothing, so importing
the same file again changes nothing. Verified evidence is never overridden by a
claimed one (the claim stays in the history).
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass, field

from itm.runtime.domain import ID_RE
from itm.taxonomy import Taxonomy
from itm.v1 import common_pb2, profile_pb2

Status = common_pb2.SkillStatus
Source = common_pb2.EvidenceSource

MAX_TEXT = 200
MAX_HOURS = 80
MAX_ASPIRATIONS = 20
PERSON_FIELDS = ("name", "department", "manager_id", "location", "hours_available_per_week", "career_aspirations")
SKILL_COLUMNS = ("skill", "level", "status", "source")
KNOWN_COLUMNS = ("employee_id", *PERSON_FIELDS, *SKILL_COLUMNS)
REQUIRED_COLUMNS = ("employee_id", "name")
STATUSES = {"claimed": Status.SKILL_STATUS_CLAIMED, "aspirational": Status.SKILL_STATUS_ASPIRATIONAL,
            "inferred": Status.SKILL_STATUS_INFERRED, "verified": Status.SKILL_STATUS_VERIFIED}
SOURCES = {"hris": Source.EVIDENCE_SOURCE_HRIS, "self": Source.EVIDENCE_SOURCE_SELF,
           "manager": Source.EVIDENCE_SOURCE_MANAGER, "assessment": Source.EVIDENCE_SOURCE_ASSESSMENT}
MAX_LINE_BYTES = 64 * 1024  # a longer line is rejected (no HRIS record is this long)
ACTOR = "hris-import"  # the evidence's actor: how a re-import recognises what it recorded before


class HeaderError(ValueError):
    """The header line cannot be used: the whole file is refused."""


@dataclass(frozen=True, slots=True)
class Header:
    names: tuple[str, ...]            # every column as normalised, in file order
    index: dict[str, int]            # known column -> position
    ignored: tuple[str, ...] = ()     # columns this import does not use

    @property
    def width(self) -> int:
        return len(self.names)

    def has(self, column: str) -> bool:
        return column in self.index


def parse_header(raw: bytes) -> Header:
    raw = raw.removeprefix(b"\xef\xbb\xbf").rstrip(b"\r\n")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HeaderError(f"line 1 (the header) is not valid UTF-8 (byte 0x{raw[exc.start]:02x} at position "
                          f"{exc.start + 1}); export the file as UTF-8") from None
    cells = _cells(text)
    if isinstance(cells, str):
        raise HeaderError(f"line 1 (the header): {cells}")
    names = tuple(c.strip().lower().replace(" ", "_") for c in cells)
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing:
        raise HeaderError(f"the header (line 1) lacks {', '.join(missing)}; columns: {', '.join(KNOWN_COLUMNS)}")
    index: dict[str, int] = {}
    for i, name in enumerate(names):
        if name in KNOWN_COLUMNS:
            if name in index:
                raise HeaderError(f"the header (line 1) names {name} twice (columns {index[name] + 1} and {i + 1})")
            index[name] = i
    return Header(names, index, tuple(n for n in names if n not in KNOWN_COLUMNS))


def split_lines(data: bytes, first_line: int) -> list[tuple[int, bytes]]:
    """The lines of ``data`` with their file line numbers (``\\n`` or ``\\r\\n`` endings)."""
    parts = data.split(b"\n")
    if parts and parts[-1] == b"":
        parts.pop()  # the file's final newline ends the last line, it does not start one
    return [(first_line + i, p[:-1] if p.endswith(b"\r") else p) for i, p in enumerate(parts)]


def _cells(text: str) -> list[str] | str:
    """A line's cells, or what is wrong with it."""
    if "\r" in text:
        return "carriage return inside the line (a line ends with \\n or \\r\\n)"
    try:
        rows = list(csv.reader([text], strict=True))
    except csv.Error as exc:
        if "unexpected end of data" in str(exc):
            return "a quoted cell is not closed on this line (each record is one line; close the quote)"
        return f"malformed CSV: {exc}"
    return rows[0] if rows else []


def read_line(raw: bytes, width: int) -> list[str] | str | None:
    """The cells of one line: a list, an error message, or None for a blank line."""
    if len(raw) > MAX_LINE_BYTES:
        return f"longer than {MAX_LINE_BYTES // 1024} KiB"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return (f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at position {exc.start + 1}); export the file as "
                "UTF-8 or pass the file's --encoding")
    if not text.strip():
        return None
    cells = _cells(text)
    if isinstance(cells, str):
        return cells
    if len(cells) != width:
        return f"{len(cells)} cells where the header has {width} columns"
    return cells


@dataclass(frozen=True, slots=True)
class SkillCell:
    skill_id: str
    level: int
    status: int
    source: int


@dataclass(slots=True)
class Row:
    line: int
    employee_id: str
    person: profile_pb2.Employee            # the person columns present in the file
    columns: tuple[str, ...]                # which person columns the file has
    skill: SkillCell | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def manager_id(self) -> str:
        return self.person.manager_id

    def digest(self) -> str:
        """The person columns' content: lines of one employee must agree on it."""
        return hashlib.sha1(self.person.SerializeToString(deterministic=True)).hexdigest()[:16]


def parse_row(line: int, cells: list[str], header: Header, taxonomy: Taxonomy) -> Row:
    """One line's cells -> a Row (with ``errors`` saying what is wrong, if anything)."""
    get = {name: cells[i].strip() for name, i in header.index.items()}
    columns = tuple(c for c in PERSON_FIELDS if header.has(c))
    row = Row(line, get.get("employee_id", ""), profile_pb2.Employee(employee_id=get.get("employee_id", "")), columns)
    errors, person = row.errors, row.person
    if not row.employee_id:
        errors.append("employee_id is empty")
    elif not ID_RE.match(row.employee_id):
        errors.append(f"employee_id {row.employee_id[:80]!r} must be 1-64 letters, digits, '.', '_', '@' or '-'")
    person.name = get.get("name", "")
    if not person.name:
        errors.append("name is empty")
    for name in ("name", "department", "location"):
        if name in columns:
            setattr(person, name, get.get(name, ""))
            if len(getattr(person, name)) > MAX_TEXT:
                errors.append(f"{name} is longer than {MAX_TEXT} characters")
    if manager := get.get("manager_id", ""):
        if not ID_RE.match(manager):
            errors.append(f"manager_id {manager[:80]!r} is not a valid employee id")
        elif manager == row.employee_id:
            errors.append("manager_id is the employee themselves")
        person.manager_id = manager
    if raw := get.get("hours_available_per_week", ""):
        try:
            hours = float(raw)
        except ValueError:
            errors.append(f"hours_available_per_week {raw[:40]!r} is not a number")
        else:
            if not 0 <= hours <= MAX_HOURS:
                errors.append(f"hours_available_per_week must be between 0 and {MAX_HOURS}, got {raw[:40]}")
            else:
                person.hours_available_per_week = hours
    if "career_aspirations" in columns:
        items = [a.strip() for a in get.get("career_aspirations", "").split(";") if a.strip()]
        if len(items) > MAX_ASPIRATIONS or any(len(a) > MAX_TEXT for a in items):
            errors.append(f"career_aspirations: at most {MAX_ASPIRATIONS} items of {MAX_TEXT} characters")
        person.career_aspirations.extend(items)
    row.skill = _skill(get, taxonomy, errors)
    return row


def _skill(get: dict[str, str], taxonomy: Taxonomy, errors: list[str]) -> SkillCell | None:
    text = get.get("skill", "")
    if not text:
        extra = [c for c in ("level", "status", "source") if get.get(c)]
        if extra:
            errors.append(f"{', '.join(extra)} given without a skill")
        return None
    skill_id = taxonomy.try_normalise(text)
    if skill_id is None:
        suggestions = taxonomy.suggest(text)
        errors.append(f"unknown skill {text[:80]!r}" + (f"; did you mean: {', '.join(suggestions)}?" if suggestions else ""))
    raw_level = get.get("level", "")
    level = int(raw_level) if raw_level.isdigit() else 0
    if not 1 <= level <= 5:
        errors.append(f"level must be 1-5 with a skill, got {raw_level[:20]!r}" if raw_level else "level is empty (1-5)")
    status = STATUSES.get((get.get("status") or "claimed").lower())
    if status is None:
        errors.append(f"status {get['status'][:40]!r} is not one of {', '.join(STATUSES)}")
    source = SOURCES.get((get.get("source") or "hris").lower())
    if source is None:
        errors.append(f"source {get['source'][:40]!r} is not one of {', '.join(SOURCES)} (course, gig and peer "
                      "evidence come from their own flows)")
    if skill_id is None or status is None or source is None or not 1 <= level <= 5:
        return None
    return SkillCell(skill_id, level, status, source)


# ------------------------------------------------------------------ applying
def new_employee(row: Row) -> profile_pb2.Employee:
    emp = profile_pb2.Employee(employee_id=row.employee_id, version=0)
    for name in row.columns:
        _assign(emp, name, row.person)
    return emp


def apply_row(emp: profile_pb2.Employee, row: Row, at) -> list[str]:
    """Apply one line to ``emp`` in place; what changed ("department", "skill python", ...)."""
    changed = [name for name in row.columns if _differs(emp, name, row.person)]
    for name in changed:
        _assign(emp, name, row.person)
    if row.skill is not None and apply_skill(emp, row.skill, at):
        changed.append(f"skill {row.skill.skill_id}")
    return changed


def apply_skill(emp: profile_pb2.Employee, cell: SkillCell, at) -> bool:
    """Record the feed's evidence for one skill; False when it is already recorded."""
    from services.profile.server import _skill_record, apply_verified

    rec = _skill_record(emp, cell.skill_id)
    if rec is not None and any(e.actor == ACTOR and e.source == cell.source and e.level == cell.level
                               and e.status == cell.status for e in rec.evidence):
        return False
    if cell.status == Status.SKILL_STATUS_VERIFIED:
        apply_verified(emp, cell.skill_id, cell.level, cell.source, "HRIS", at, actor=ACTOR)
        return True
    if rec is None:
        rec = emp.skills.add()
        rec.skill.skill_id = cell.skill_id
    ev = rec.evidence.add(source=cell.source, reference="HRIS", level=cell.level, status=cell.status, actor=ACTOR)
    ev.at.CopyFrom(at)
    if rec.skill.status != Status.SKILL_STATUS_VERIFIED:
        rec.skill.CopyFrom(common_pb2.EmployeeSkill(skill_id=cell.skill_id, level=cell.level, status=cell.status,
                                                    source=cell.source))
    return True


def _assign(emp: profile_pb2.Employee, name: str, person: profile_pb2.Employee) -> None:
    if name == "career_aspirations":
        del emp.career_aspirations[:]
        emp.career_aspirations.extend(person.career_aspirations)
    else:
        setattr(emp, name, getattr(person, name))


def _differs(emp: profile_pb2.Employee, name: str, person: profile_pb2.Employee) -> bool:
    if name == "career_aspirations":
        return list(emp.career_aspirations) != list(person.career_aspirations)
    return getattr(emp, name) != getattr(person, name)


def settle_deferred(rows: list[Row], exists) -> tuple[list[Row], list[tuple[Row, str]]]:
    """At the end of a file: which rows still waiting for their manager can be applied.

    ``rows`` wait because their manager did not exist when they were read.
    ``exists(id)`` says whether an employee exists now. A row is applied if its
    manager exists or is the employee of another applicable waiting row (so a
    chain or a cycle of new managers in the file is applied together); the others
    are rejected with the reason, which may make more rows inapplicable.
    Returns (applicable rows, [(rejected row, reason)])."""
    alive = list(rows)
    rejected: list[tuple[Row, str]] = []
    while True:
        waiting = {r.employee_id for r in alive}
        keep, drop = [], []
        for r in alive:
            (keep if exists(r.manager_id) or r.manager_id in waiting else drop).append(r)
        if not drop:
            return keep, rejected
        for r in drop:  # every line of one employee names the same manager: they go together
            rejected.append((r, unknown_manager(r.manager_id)))
        alive = keep


def unknown_manager(manager_id: str) -> str:
    return f"manager_id {manager_id} is neither an employee nor in this file"
