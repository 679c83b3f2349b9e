"""The HRIS file rules (services/profile/hris.py): strict lines, skills, one result per line."""

from __future__ import annotations

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from itm.taxonomy import Taxonomy
from itm.v1 import common_pb2, profile_pb2
from services.profile import hris

TAX = Taxonomy.load_default()
AT = Timestamp(seconds=1_800_000_000)


def header(text: str) -> hris.Header:
    return hris.parse_header(text.encode())


def test_an_unclosed_quote_is_rejected_on_its_own_line_and_swallows_nothing():
    h = header("employee_id,name,department")
    data = b'E1,"Ana,Data\nE2,Ben,Data\n'  # the export that lost Ben: the quote opened on line 2 never closes
    results = [(n, hris.read_line(raw, h.width)) for n, raw in hris.split_lines(data, 2)]
    assert results[0][0] == 2 and "not closed on this line" in results[0][1]
    assert results[1] == (3, ["E2", "Ben", "Data"])


@pytest.mark.parametrize("raw, fragment", [
    (b'E1,"Ana"x,Data', "malformed CSV"),
    (b"E1,Ana", "2 cells where the header has 3"),
    (b"E1,Ana,Data,extra", "4 cells where the header has 3"),
    (b"E1,Jos\xe9,Data", "not valid UTF-8 (byte 0xe9 at position 7)"),
    (b"E1,Ana\rE2,Data", "carriage return"),
])
def test_malformed_lines_say_why(raw, fragment):
    assert fragment in hris.read_line(raw, 3)


def test_lines_are_numbered_from_the_first_line_and_blank_ones_are_kept():
    assert hris.split_lines(b"a\r\n\r\nb\nc", 10) == [(10, b"a"), (11, b""), (12, b"b"), (13, b"c")]
    assert hris.read_line(b"  ", 3) is None
    assert hris.read_line(b'"E1","A ""quoted"" name",', 3) == ["E1", 'A "quoted" name', ""]


def test_the_header_needs_the_required_columns_once():
    h = header("\ufeffEmployee ID,Name,Cost Centre,Skill,Level")
    assert h.has("employee_id") and h.has("skill") and h.ignored == ("cost_centre",)
    with pytest.raises(hris.HeaderError, match="lacks employee_id"):
        header("id,name")
    with pytest.raises(hris.HeaderError, match="names name twice"):
        header("employee_id,name,Name")
    with pytest.raises(hris.HeaderError, match="not valid UTF-8"):
        hris.parse_header(b"employee_id,n\xffame")


def test_skill_columns_resolve_through_the_taxonomy():
    h = header("employee_id,name,skill,level,status,source")
    row = hris.parse_row(2, ["E1", "Ana", "Postgres", "4", "Verified", ""], h, TAX)
    assert row.errors == [] and row.skill == hris.SkillCell("postgresql", 4, common_pb2.SKILL_STATUS_VERIFIED,
                                                            common_pb2.EVIDENCE_SOURCE_HRIS)
    bad = hris.parse_row(3, ["E1", "Ana", "pyhton", "7", "expert", "gig"], h, TAX)
    text = " | ".join(bad.errors)
    for fragment in ("unknown skill 'pyhton'; did you mean: python", "level must be 1-5", "status 'expert'",
                     "source 'gig'"):
        assert fragment in text, (fragment, text)
    assert hris.parse_row(4, ["E1", "Ana", "", "3", "", ""], h, TAX).errors == ["level given without a skill"]
    assert hris.parse_row(5, ["E1", "Ana", "", "", "", ""], h, TAX).skill is None


def test_applying_a_line_twice_changes_nothing_and_claims_never_override_verified():
    h = header("employee_id,name,department,skill,level,status")
    first = hris.parse_row(2, ["E1", "Ana", "Data", "sql", "3", "claimed"], h, TAX)
    emp = hris.new_employee(first)
    assert hris.apply_row(emp, first, AT) == ["skill sql"]
    assert hris.apply_row(emp, first, AT) == []  # a re-import
    moved = hris.parse_row(2, ["E1", "Ana", "Sales", "sql", "3", "claimed"], h, TAX)
    assert hris.apply_row(emp, moved, AT) == ["department"]
    verified = hris.parse_row(3, ["E1", "Ana", "Sales", "python", "4", "verified"], h, TAX)
    hris.apply_row(emp, verified, AT)
    claim = hris.parse_row(4, ["E1", "Ana", "Sales", "python", "2", "claimed"], h, TAX)
    assert hris.apply_row(emp, claim, AT) == ["skill python"]  # recorded as evidence ...
    rec = next(r for r in emp.skills if r.skill.skill_id == "python")
    assert (rec.skill.level, rec.skill.status) == (4, common_pb2.SKILL_STATUS_VERIFIED)  # ... without lowering it
    assert [e.actor for e in rec.evidence] == [hris.ACTOR, hris.ACTOR]


def test_lines_of_one_employee_must_agree_on_the_person_columns():
    h = header("employee_id,name,department,skill,level")
    a = hris.parse_row(2, ["E1", "Ana", "Data", "sql", "3"], h, TAX)
    b = hris.parse_row(3, ["E1", "Ana", "Data", "python", "2"], h, TAX)
    c = hris.parse_row(4, ["E1", "Ana", "Sales", "go", "2"], h, TAX)
    assert a.digest() == b.digest() != c.digest()


def _row(emp_id: str, manager: str) -> hris.Row:
    return hris.Row(0, emp_id, profile_pb2.Employee(employee_id=emp_id, manager_id=manager), ("manager_id",))


def test_waiting_lines_apply_when_their_manager_is_in_the_file_even_in_a_cycle():
    rows = [_row("A", "B"), _row("B", "A"), _row("C", "X"), _row("D", "C"), _row("E", "M0")]
    keep, rejected = hris.settle_deferred(rows, lambda m: m == "M0")
    assert sorted(r.employee_id for r in keep) == ["A", "B", "E"]
    assert sorted((r.employee_id, why) for r, why in rejected) == [
        ("C", "manager_id X is neither an employee nor in this file"),
        ("D", "manager_id C is neither an employee nor in this file")]
