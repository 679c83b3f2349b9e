"""Profile rules that need no server: HRIS rows, best evidence, the manager's view."""

from __future__ import annotations

from itm.taxonomy import Taxonomy
from itm.v1 import common_pb2, profile_pb2
from services.profile import hris
from services.profile.server import apply_verified, manager_view, match_profile

V, C, A = common_pb2.SKILL_STATUS_VERIFIED, common_pb2.SKILL_STATUS_CLAIMED, common_pb2.SKILL_STATUS_ASPIRATIONAL


def rows(text: str):
    head, *lines = text.encode().split(b"\n")
    header = hris.parse_header(head)
    out = []
    for line, raw in hris.split_lines(b"\n".join(lines), 2):
        cells = hris.read_line(raw, header.width)
        out.append(cells if not isinstance(cells, list) else hris.parse_row(line, cells, header, Taxonomy.load_default()))
    return out


def test_a_good_hris_row_becomes_an_employee():
    [row] = rows("employee_id,name,manager_id,hours_available_per_week,career_aspirations\n"
                 "E1, Ana ,M1,37.5,lead; mentor ;\n")
    assert row.errors == []
    person = row.person
    assert (person.employee_id, person.name, person.manager_id, person.hours_available_per_week) == ("E1", "Ana", "M1", 37.5)
    assert list(person.career_aspirations) == ["lead", "mentor"]


def test_bad_hris_rows_say_every_problem():
    [row] = rows("employee_id,name,manager_id,hours_available_per_week\nE 1,,E 1,-3\n")
    text = " | ".join(row.errors)
    for fragment in ("employee_id", "name is empty", "not a valid employee id", "between 0 and 80"):
        assert fragment in text, (fragment, text)
    [row] = rows("employee_id,name,manager_id\nE1,Ana,E1\n")
    assert row.errors == ["manager_id is the employee themselves"]


def test_verified_evidence_sets_the_best_level_and_keeps_history():
    emp = profile_pb2.Employee(employee_id="E1")
    rec = emp.skills.add(skill=common_pb2.EmployeeSkill(skill_id="sql", level=4, status=C))
    apply_verified(emp, "sql", 2, common_pb2.EVIDENCE_SOURCE_COURSE, "c1")
    assert (rec.skill.level, rec.skill.status) == (2, V)  # verified 2 replaces a claimed 4
    apply_verified(emp, "sql", 1, common_pb2.EVIDENCE_SOURCE_MANAGER, "M1")
    assert rec.skill.level == 2  # a lower verification never lowers the verified level
    apply_verified(emp, "sql", 3, common_pb2.EVIDENCE_SOURCE_GIG, "opp-1", note="great")
    assert (rec.skill.level, rec.skill.source) == (3, common_pb2.EVIDENCE_SOURCE_GIG)
    assert [(e.reference, e.level) for e in rec.evidence] == [("c1", 2), ("M1", 1), ("opp-1", 3)]
    assert rec.evidence[-1].note == "great" and all(e.at.seconds for e in rec.evidence)


def test_the_manager_view_hides_aspirations_only_when_the_employee_asks():
    emp = profile_pb2.Employee(employee_id="E1", career_aspirations=["product"])
    emp.skills.add(skill=common_pb2.EmployeeSkill(skill_id="sql", level=3, status=C))
    emp.skills.add(skill=common_pb2.EmployeeSkill(skill_id="go", level=2, status=A))
    assert manager_view(emp) == emp
    emp.visibility.hide_aspirational_from_managers = True
    view = manager_view(emp)
    assert [r.skill.skill_id for r in view.skills] == ["sql"] and not view.career_aspirations
    assert len(emp.skills) == 2  # the stored employee is untouched


def test_the_match_snapshot_is_blind():
    emp = profile_pb2.Employee(employee_id="E1", name="Ana", department="Data", location="Porto")
    snap = match_profile(emp)
    assert "name" not in snap.DESCRIPTOR.fields_by_name and snap.department == "Data"
