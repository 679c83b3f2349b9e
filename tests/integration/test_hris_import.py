"""The HRIS import over the real stack: strict lines (the file that lost a row),
managers validated across the file and across batches, skills in the feed,
dry run equal to the real run, re-runs that change nothing, and the CLI.

The 100,000-line run is bench/hris_import_bench.py; a 3,000-line version runs here.
"""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys

import grpc
import pytest

from _stack import ModuleStack, expect_error, uid
from itm.hris_import import ImportSummary, LineResult, import_bytes, import_file
from itm.v1 import common_pb2, profile_pb2 as P

Code = grpc.StatusCode
O = P.ImportOutcome


@pytest.fixture(scope="module")
async def stack(infra, tmp_path_factory, request):
    s = ModuleStack(infra, tmp_path_factory.mktemp("hris"))
    await s.start({"profile": {}}, ["profile.employee-registered", "profile.employee-updated"])
    yield s
    await s.close(failed=request.session.testsfailed > 0)


def hr(stack):
    return stack.as_("hr-1", "hr_admin")


async def run(stack, text: str | bytes, dry_run=False, batch_lines=1000, results=None) -> ImportSummary:
    c = hr(stack)
    data = text.encode() if isinstance(text, str) else text

    def on_batch(answer, _read):
        if results is not None:
            results.update({r.row: (r.employee_id, r.outcome, " ".join(r.errors)) for r in answer.results})

    return await import_file(c.profile, c.metadata, io.BytesIO(data), dry_run, on_batch=on_batch,
                             batch_lines=batch_lines)


async def get(stack, emp_id):
    c = hr(stack)
    return await c.profile.GetEmployee(P.GetEmployeeRequest(employee_id=emp_id), metadata=c.metadata)


async def test_an_unclosed_quote_loses_no_row(stack):
    """Issue 17: 'rows 1, created 1' for two rows. Now line 2 is rejected with its number and line 3 is imported."""
    ana, ben = uid("Q"), uid("Q")
    text = f'employee_id,name,department\n{ana},"Ana Silva,Data\n{ben},Ben Okafor,Data\n'
    c = hr(stack)
    report = await c.profile.ImportEmployees(P.ImportEmployeesRequest(csv=text), metadata=c.metadata)
    assert (report.lines, report.rows, report.created, report.rejected) == (3, 2, 1, 1)
    bad, good = report.results
    assert (bad.row, bad.outcome) == (2, O.IMPORT_OUTCOME_REJECTED) and "not closed on this line" in bad.errors[0]
    assert (good.row, good.employee_id, good.outcome) == (3, ben, O.IMPORT_OUTCOME_CREATED)
    assert (await get(stack, ben)).name == "Ben Okafor"
    await expect_error(get(stack, ana), Code.NOT_FOUND)
    # every other kind of malformed line, one result per line, nothing after one swallowed
    data = (b"employee_id,name,department\n"
            + f'{uid("Q")},"Ana"x,Data\n'.encode()        # text after a closing quote
            + f"{uid('Q')},Too,Many,Cells\n".encode()
            + f"{uid('Q')},Jos\xe9,Data\n".encode("latin-1")  # not UTF-8
            + b"\n"                                       # blank
            + f"{uid('Q')},Last,Data".encode())            # no final newline
    results = {}
    summary = await run(stack, data, results=results)
    assert summary.lines == 6 and summary.answered == 5
    assert [results[n][1] for n in range(2, 7)] == [O.IMPORT_OUTCOME_REJECTED] * 3 + [
        O.IMPORT_OUTCOME_SKIPPED, O.IMPORT_OUTCOME_CREATED]
    assert "malformed CSV" in results[2][2] and "4 cells where the header has 3" in results[3][2]
    assert "not valid UTF-8" in results[4][2]


async def test_managers_must_exist_or_be_in_the_file_across_batches(stack):
    boss = uid("B")
    await run(stack, f"employee_id,name\n{boss},The Boss\n")
    a, b, c, d, e, x = (uid("M") for _ in range(6))
    text = ("employee_id,name,manager_id\n"
            f"{a},Ana,{b}\n"        # b comes later in the file (another batch)
            f"{c},Carl,{x}\n"       # x is nowhere
            f"{d},Dora,{c}\n"       # c is rejected, so d's manager is not created
            f"{e},Eve,{boss}\n"     # an existing manager
            f"{b},Ben,{a}\n")       # a cycle with a, both in the file
    for dry_run in (True, False):
        results = {}
        summary = await run(stack, text, dry_run=dry_run, batch_lines=2, results=results)
        assert summary.batches == 3 and summary.lines == 6
        assert {n: r[1] for n, r in results.items()} == {
            2: O.IMPORT_OUTCOME_CREATED, 3: O.IMPORT_OUTCOME_REJECTED, 4: O.IMPORT_OUTCOME_REJECTED,
            5: O.IMPORT_OUTCOME_CREATED, 6: O.IMPORT_OUTCOME_CREATED}, dry_run
        assert results[3][2] == f"manager_id {x} is neither an employee nor in this file"
        assert results[4][2] == f"manager_id {c} is neither an employee nor in this file"
        if dry_run:
            await expect_error(get(stack, a), Code.NOT_FOUND)
    assert ((await get(stack, a)).manager_id, (await get(stack, b)).manager_id) == (b, a)
    again = await run(stack, text, batch_lines=2)
    assert (again.counts["unchanged"], again.counts["rejected"], again.counts["created"]) == (3, 2, 0)


async def test_skills_in_the_feed_and_a_rerun_changes_nothing(stack):
    ana, ben = uid("S"), uid("S")
    text = ("Employee ID,Name,Department,Skill,Level,Status,Source\n"
            f"{ana},Ana,Data,Python,4,verified,\n"
            f"{ana},Ana,Data,postgres,3,,\n"
            f"{ana},Ana,Data,sql,2,claimed,manager\n"
            f"{ben},Ben,Data,,,,\n"
            f"{ben},Ben,Data,pyhton,3,,\n"        # unknown skill: suggestions
            f"{ana},Ana,Sales,go,3,,\n"           # other person columns than line 2
            f"{ana},Ana,Data,python,2,,\n")       # the same skill twice
    results = {}
    first = await run(stack, text, results=results)
    assert (first.counts["created"], first.counts["updated"], first.counts["rejected"]) == (2, 2, 3)
    assert "did you mean: python" in results[6][2] and "differ from line 2" in results[7][2]
    assert "skill python of" in results[8][2] and "already on line 2" in results[8][2]
    emp = await get(stack, ana)
    skills = {r.skill.skill_id: (r.skill.level, r.skill.status, r.skill.source) for r in emp.skills}
    assert skills == {"python": (4, common_pb2.SKILL_STATUS_VERIFIED, common_pb2.EVIDENCE_SOURCE_HRIS),
                      "postgresql": (3, common_pb2.SKILL_STATUS_CLAIMED, common_pb2.EVIDENCE_SOURCE_HRIS),
                      "sql": (2, common_pb2.SKILL_STATUS_CLAIMED, common_pb2.EVIDENCE_SOURCE_MANAGER)}
    registered = await stack.log.wait_for("profile.employee-registered", ana)
    assert {s.skill_id for s in registered[0].payload.profile.skills} == set(skills)
    again = await run(stack, text)
    assert (again.counts["unchanged"], again.counts["created"], again.counts["updated"]) == (4, 0, 0)
    await stack.log.quiet(1.0)
    assert len(stack.log.of("profile.employee-registered", ana)) == 1 and not stack.log.of("profile.employee-updated", ana)
    assert (await get(stack, ana)).version == emp.version


async def test_batches_are_idempotent_and_in_order(stack):
    c = hr(stack)
    emp = uid("I")
    base = dict(import_id=uid("imp"), data=f"employee_id,name\n{emp},Ivy\n".encode())
    await expect_error(c.profile.ImportEmployees(P.ImportEmployeesRequest(batch=2, **base), metadata=c.metadata),
                       Code.FAILED_PRECONDITION, "expects batch 1")
    first = await c.profile.ImportEmployees(P.ImportEmployeesRequest(batch=1, **base), metadata=c.metadata)
    assert await c.profile.ImportEmployees(P.ImportEmployeesRequest(batch=1, **base), metadata=c.metadata) == first
    await expect_error(c.profile.ImportEmployees(P.ImportEmployeesRequest(batch=1, import_id=base["import_id"],
                                                                          data=b"employee_id,name\nX1,Other\n"),
                                                 metadata=c.metadata), Code.ALREADY_EXISTS, "different import")
    last = await c.profile.ImportEmployees(P.ImportEmployeesRequest(batch=2, last=True, first_line=3, **base),
                                           metadata=c.metadata)
    assert [(r.row, r.outcome) for r in last.results] == [(3, O.IMPORT_OUTCOME_UNCHANGED)]
    await expect_error(c.profile.ImportEmployees(P.ImportEmployeesRequest(batch=3, **base), metadata=c.metadata),
                       Code.FAILED_PRECONDITION, "ended with batch 2")
    await stack.log.quiet(0.5)
    assert len(stack.log.of("profile.employee-registered", emp)) == 1


async def test_a_few_thousand_lines_in_batches_dry_run_and_real(stack):
    n = 3000
    ids = [uid("F") for _ in range(n)]
    lines = ["employee_id,name,department,manager_id,skill,level"]
    for i, emp in enumerate(ids):  # managers come after their reports: every batch waits for the next
        manager = ids[i + 1] if i + 1 < n and i % 10 else ""
        lines.append(f"{emp},Person {i},Dept {i % 7},{manager},sql,{1 + i % 5}")
    text = "\n".join(lines) + "\n"
    dry = await run(stack, text, dry_run=True, batch_lines=500)
    assert (dry.lines, dry.counts["created"], dry.batches) == (n + 1, n, 6)
    await expect_error(get(stack, ids[0]), Code.NOT_FOUND)
    real = await run(stack, text, batch_lines=500)
    assert real.counts == dry.counts
    assert (await get(stack, ids[1])).manager_id == ids[2] and (await get(stack, ids[499])).manager_id == ids[500]
    again = await run(stack, text, batch_lines=500)
    assert again.counts["unchanged"] == n


async def test_the_cli_imports_with_a_progress_bar_and_a_report(stack, tmp_path):
    emp, bad, nobody = uid("C"), uid("C"), uid("X")
    path = tmp_path / "people.csv"
    path.write_text(f"employee_id,name,manager_id\n{emp},Cli Person,\n{bad},Nobody's Report,{nobody}\n")
    report = tmp_path / "report.csv"
    cmd = [sys.executable, "-m", "itm.cli", "import", "employees", str(path),
           "--profile-target", stack.procs["profile"].grpc_target, "--report", str(report)]
    env = {**os.environ, "ITM_TOPIC_PREFIX": stack.prefix}
    dry = await asyncio.to_thread(subprocess.run, cmd + ["--dry-run"], capture_output=True, text=True, env=env,
                                  timeout=60)
    assert dry.returncode == 1, dry.stderr
    assert "line 3" in dry.stdout and "neither an employee nor in this file" in dry.stdout
    assert "3 lines: 1 header, 1 created, 0 updated, 0 unchanged, 1 rejected, 0 blank (dry run" in dry.stdout
    await expect_error(get(stack, emp), Code.NOT_FOUND)
    done = await asyncio.to_thread(subprocess.run, cmd, capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 1 and "1 created" in done.stdout
    assert (await get(stack, emp)).name == "Cli Person"
    assert report.read_text().splitlines()[1:] == [
        f"2,{emp},created,", f"3,{bad},rejected,manager_id {nobody} is neither an employee nor in this file"]


async def test_the_console_upload_path_takes_the_files_bytes(stack):
    """Issue 17 item 1: the web console's upload calls import_bytes with the uploaded bytes, the same path as the CLI."""
    c = hr(stack)
    emp, bad, nobody = uid("U"), uid("U"), uid("X")
    data = (f"employee_id,name,manager_id,skill,level\n{emp},Upload Person,,sql,3\n"
            f"{bad},Orphan,{nobody},,\n\n").encode()
    dry = await import_bytes(c.profile, c.metadata, data, dry_run=True, batch_lines=1)
    assert dry.dry_run and dry.batches == 3 and dry.results_dropped == 0
    assert dry.results == [LineResult(2, emp, "created"),
                           LineResult(3, bad, "rejected", (f"manager_id {nobody} is neither an employee nor in this file",)),
                           LineResult(4, "", "skipped")]
    await expect_error(get(stack, emp), Code.NOT_FOUND)
    real = await import_bytes(c.profile, c.metadata, data)
    assert real.counts == dry.counts and [r.outcome for r in real.results] == ["created", "rejected", "skipped"]
    assert [(s.skill.skill_id, s.skill.level) for s in (await get(stack, emp)).skills] == [("sql", 3)]
    again = await import_bytes(c.profile, c.metadata, data, rejected_only=True)
    assert [r.line for r in again.results] == [3] and again.counts["unchanged"] == 1 and again.results_dropped == 0
    capped = await import_bytes(c.profile, c.metadata, data, max_results=1)
    assert [r.line for r in capped.results] == [3] and capped.results_dropped == 2  # rejected lines listed first
    employee = stack.as_(emp, "employee")
    await expect_error(import_bytes(employee.profile, employee.metadata, data, dry_run=True), Code.PERMISSION_DENIED)
