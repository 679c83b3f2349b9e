"""``ProfileService.ImportEmployees``: an HRIS file applied batch by batch.

The rules (columns, strict lines, several skills per employee, what changes)
are ``services/profile/hris.py``; this module keeps a file's progress across
its batches in Redis and applies each batch in one transaction: the employees
it creates or changes, their events in the outbox, the import's bookkeeping
and the batch's answer commit together, so a retried batch (the same
``import_id`` and ``batch``) returns the first answer and applies nothing twice.

An import is keyed ``import:<import_id>:...`` (1 day):

* ``meta`` (hash): the import's fingerprint (caller, dry run, header), the next
  batch expected, done;
* ``batch:<n>``: the batch's fingerprint and its answer;
* ``persons`` (hash employee -> "line|digest"): each employee's first line, so
  the lines of one employee must agree and "appears in the file" is known;
* ``skills`` (hash "employee|skill" -> line): one line per employee and skill;
* ``deferred`` (hash line -> row), ``waiting`` (hash manager -> lines),
  ``pending`` (hash employee -> lines waiting): lines whose manager did not
  exist yet; released when the manager is created, decided on the last batch;
* ``shadow`` (hash employee -> Employee): a dry run's would-be state, so a dry
  run reports exactly what the real run would (it is deleted with the last batch).
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from dataclasses import dataclass, field

import grpc

from itm.runtime.auth import current_identity
from itm.runtime.domain import check_request_id, invalid, now_ts
from itm.taxonomy import Taxonomy
from itm.v1 import events_pb2, profile_pb2
from services.profile import hris

Outcome = profile_pb2.ImportOutcome
IMPORT_TTL_S = 24 * 3600
MAX_IMPORT_ID = 128


@dataclass
class _Employee:
    emp: profile_pb2.Employee
    existed: bool            # stored before this batch (in the store, or in a dry run's shadow)
    lines: list[int] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)


def _encode_row(row: hris.Row) -> bytes:
    skill = row.skill
    return json.dumps({"l": row.line, "e": row.employee_id, "c": list(row.columns),
                       "p": base64.b64encode(row.person.SerializeToString()).decode(),
                       "s": [skill.skill_id, skill.level, skill.status, skill.source] if skill else None}).encode()


def _decode_row(raw: bytes) -> hris.Row:
    d = json.loads(raw)
    skill = hris.SkillCell(*d["s"]) if d["s"] else None
    return hris.Row(d["l"], d["e"], profile_pb2.Employee.FromString(base64.b64decode(d["p"])), tuple(d["c"]), skill)


def _digest(*parts) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p if isinstance(p, bytes) else str(p).encode())
        h.update(b"\0")
    return h.hexdigest()[:32]


class Importer:
    def __init__(self, servicer):
        self.servicer = servicer
        self.svc = servicer.svc

    def key(self, import_id: str, part: str) -> str:
        return self.svc.settings.key(f"import:{import_id}:{part}")

    async def __call__(self, request: profile_pb2.ImportEmployeesRequest, context) -> profile_pb2.ImportEmployeesResponse:
        ident = current_identity.get()
        if ident.role != "hr_admin":
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "the HRIS import is for HR admins")
        await check_request_id(context, request.request_id)
        data = request.data or request.csv.encode()
        if not data.strip():
            await invalid(context, "csv is empty: send the HRIS export with a header row")
        if request.batch < 0:
            await invalid(context, f"batch must be >= 0 (0 = the whole file in one call), got {request.batch}")
        if request.first_line and request.first_line < 2:
            await invalid(context, f"first_line must be >= 2 (the header is line 1), got {request.first_line}")
        header_raw, _, body = data.partition(b"\n")
        try:
            header = hris.parse_header(header_raw)
        except hris.HeaderError as exc:
            await invalid(context, str(exc))
        if request.batch == 0:
            import_id = f"request.{request.request_id}" if request.request_id else f"call.{uuid.uuid4().hex}"
            last, fp = True, _digest(ident.subject, request.dry_run, data)
        else:
            if not request.import_id or len(request.import_id) > MAX_IMPORT_ID or not request.import_id.isprintable():
                await invalid(context, f"import_id is required with batch (1-{MAX_IMPORT_ID} printable characters, "
                                       "the same for every batch of one file)")
            import_id, last = request.import_id, request.last
            fp = _digest(ident.subject, request.dry_run, header_raw.removeprefix(b"\xef\xbb\xbf").rstrip(b"\r"))
        batch_fp = _digest(fp, request.batch, request.first_line, last, data)
        lines = hris.split_lines(body, request.first_line or 2)
        run = _Batch(self, import_id, request, header, lines, last, fp, batch_fp, context)
        return await self.svc.commit([self.key(import_id, "meta"), self.key(import_id, f"batch:{request.batch}")],
                                     run.body)


class _Batch:
    """One call's work, re-run from the start when the transaction meets a concurrent write."""

    def __init__(self, importer: Importer, import_id, request, header, lines, last, fp, batch_fp, context):
        self.importer, self.import_id, self.request = importer, import_id, request
        self.header, self.lines, self.last, self.fp, self.batch_fp = header, lines, last, fp, batch_fp
        self.context = context
        self.dry_run = request.dry_run
        self.taxonomy = Taxonomy.configured()

    def k(self, part: str) -> str:
        return self.importer.key(self.import_id, part)

    async def body(self, pipe) -> profile_pb2.ImportEmployeesResponse:
        context, request = self.context, self.request
        stored = await pipe.get(self.k(f"batch:{request.batch}"))
        if stored is not None:
            stored_fp, _, report = stored.partition(b"|")
            if stored_fp.decode() != self.batch_fp:
                what = f"request_id {request.request_id!r}" if request.batch == 0 else \
                    f"batch {request.batch} of import {self.import_id!r}"
                await context.abort(grpc.StatusCode.ALREADY_EXISTS, f"{what} was already used for a different import")
            return profile_pb2.ImportEmployeesResponse.FromString(report)
        meta = {k.decode(): v.decode() for k, v in (await pipe.hgetall(self.k("meta"))).items()}
        if meta.get("fp", self.fp) != self.fp:
            await context.abort(grpc.StatusCode.ALREADY_EXISTS,
                                f"import_id {self.import_id!r} belongs to another import (another caller, header or "
                                "dry-run choice); start a new import with a new import_id")
        expected = int(meta.get("next", 1))
        if meta.get("done"):
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, f"import {self.import_id!r} ended with batch "
                                                                      f"{expected - 1}; start a new one")
        if request.batch and request.batch != expected:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION,
                                f"import {self.import_id!r} expects batch {expected} next, got {request.batch}; send "
                                "the batches in file order")
        self.pipe = pipe
        self.results: list[profile_pb2.ImportRowResult] = []
        self.state: dict[str, _Employee | None] = {}
        self.exists_cache: dict[str, bool] = {}
        self.new_persons: dict[str, str] = {}
        self.new_skills: dict[str, int] = {}
        self.deferred: list[hris.Row] = []
        self.released: list[int] = []
        self.released_managers: list[str] = []
        self.pending_delta: dict[str, int] = {}
        self.waiting: dict[str, str] = {}
        at = now_ts()

        rows = await self._admit(self._read())
        await self._load({r.employee_id for r in rows} | {r.manager_id for r in rows if r.manager_id})
        pending = await self._pending({r.employee_id for r in rows})
        created: list[str] = []
        for row in rows:
            if pending.get(row.employee_id) or (row.manager_id and not await self._exists(row.manager_id)):
                self.deferred.append(row)
                self.pending_delta[row.employee_id] = self.pending_delta.get(row.employee_id, 0) + 1
                pending[row.employee_id] = 1
                continue
            if self._apply(row, at):
                created.append(row.employee_id)
        await self._release(created, at)
        if self.last:
            await self._settle(at)
        else:
            await self._wait()
        pipe.multi()
        self._write()
        report = self._report()
        self._bookkeep(report, expected)
        return report

    # -- reading ---------------------------------------------------------------------------
    def _read(self) -> list[hris.Row]:
        rows = []
        for line, raw in self.lines:
            cells = hris.read_line(raw, self.header.width)
            if cells is None:
                self._result(line, "", Outcome.IMPORT_OUTCOME_SKIPPED)
            elif isinstance(cells, str):
                self._result(line, "", Outcome.IMPORT_OUTCOME_REJECTED, [cells])
            else:
                row = hris.parse_row(line, cells, self.header, self.taxonomy)
                if row.errors:
                    self._result(line, row.employee_id, Outcome.IMPORT_OUTCOME_REJECTED, row.errors)
                else:
                    rows.append(row)
        return rows

    async def _admit(self, rows: list[hris.Row]) -> list[hris.Row]:
        """The lines of one employee agree on the person columns; one line per employee and skill."""
        ids = sorted({r.employee_id for r in rows})
        firsts = dict(zip(ids, await self.pipe.hmget(self.k("persons"), ids))) if ids else {}
        skill_keys = sorted({f"{r.employee_id}|{r.skill.skill_id}" for r in rows if r.skill})
        skills = dict(zip(skill_keys, await self.pipe.hmget(self.k("skills"), skill_keys))) if skill_keys else {}
        admitted = []
        for row in rows:
            first = self.new_persons.get(row.employee_id) or (firsts.get(row.employee_id) or b"").decode()
            if first:
                line, _, digest = first.partition("|")
                if digest != row.digest():
                    self._result(row.line, row.employee_id, Outcome.IMPORT_OUTCOME_REJECTED, [
                        f"the person columns differ from line {line}, {row.employee_id}'s first line (lines of one "
                        "employee repeat the same person columns, one skill each)"])
                    continue
            else:
                self.new_persons[row.employee_id] = f"{row.line}|{row.digest()}"
            if row.skill:
                key = f"{row.employee_id}|{row.skill.skill_id}"
                seen = self.new_skills.get(key) or int(skills.get(key) or 0)
                if seen:
                    self._result(row.line, row.employee_id, Outcome.IMPORT_OUTCOME_REJECTED,
                                 [f"skill {row.skill.skill_id} of {row.employee_id} is already on line {seen}"])
                    continue
                self.new_skills[key] = row.line
            admitted.append(row)
        return admitted

    # -- state -----------------------------------------------------------------------------------
    async def _load(self, ids: set[str]) -> None:
        """Load (and watch) the employees not loaded yet; a dry run sees its own would-be state first."""
        todo = sorted(i for i in ids if i and i not in self.state)
        if not todo:
            return
        store = self.importer.servicer.employees
        keys = [store.key(i) for i in todo]
        await self.pipe.watch(*keys)
        raws = await self.pipe.mget(keys)
        if self.dry_run:
            shadows = await self.pipe.hmget(self.k("shadow"), todo)
            raws = [s if s is not None else r for s, r in zip(shadows, raws)]
        for emp_id, raw in zip(todo, raws):
            self.state[emp_id] = _Employee(profile_pb2.Employee.FromString(raw), True) if raw is not None else None

    async def _exists(self, emp_id: str) -> bool:
        if not emp_id:
            return True
        if emp_id not in self.state:
            await self._load({emp_id})
        return self.state[emp_id] is not None

    async def _pending(self, ids: set[str]) -> dict[str, int]:
        todo = sorted(ids)
        values = await self.pipe.hmget(self.k("pending"), todo) if todo else []
        return {i: int(v or 0) for i, v in zip(todo, values)}

    def _apply(self, row: hris.Row, at) -> bool:
        """Apply one admitted line whose manager exists; True when it creates the employee."""
        entry = self.state.get(row.employee_id)
        created = entry is None
        if created:
            entry = self.state[row.employee_id] = _Employee(hris.new_employee(row), False)
            entry.emp.created_at.CopyFrom(at)
        changes = hris.apply_row(entry.emp, row, at)
        entry.changes += changes
        entry.lines.append(row.line)
        outcome = (Outcome.IMPORT_OUTCOME_CREATED if created else
                   Outcome.IMPORT_OUTCOME_UPDATED if changes else Outcome.IMPORT_OUTCOME_UNCHANGED)
        self._result(row.line, row.employee_id, outcome)
        return created

    async def _release(self, created: list[str], at) -> None:
        """Apply the earlier lines that waited for a manager created now (and what they create in turn)."""
        todo = list(created)
        while todo:
            managers, todo = todo, []
            waiting = await self.pipe.hmget(self.k("waiting"), managers)
            lines = sorted(int(x) for w in waiting if w for x in w.decode().split(","))
            local = [r for r in self.deferred if r.manager_id in managers]
            if not lines and not local:
                continue
            self.released_managers += [m for m, w in zip(managers, waiting) if w]
            stored = await self.pipe.hmget(self.k("deferred"), [str(x) for x in lines]) if lines else []
            rows = [_decode_row(raw) for raw in stored if raw is not None]
            self.released += lines
            self.deferred = [r for r in self.deferred if r.manager_id not in managers]
            rows = sorted(rows + local, key=lambda r: r.line)
            await self._load({r.employee_id for r in rows})
            for row in rows:
                self.pending_delta[row.employee_id] = self.pending_delta.get(row.employee_id, 0) - 1
                if self._apply(row, at):
                    todo.append(row.employee_id)

    async def _settle(self, at) -> None:
        """The last batch: apply the waiting lines whose manager is in the file, reject the others."""
        stored = await self.pipe.hgetall(self.k("deferred"))
        released = set(self.released)
        rows = [_decode_row(raw) for line, raw in stored.items() if int(line) not in released] + self.deferred
        self.released += [int(line) for line in stored]
        self.deferred = []
        if not rows:
            return
        await self._load({r.manager_id for r in rows} | {r.employee_id for r in rows})
        known = {i for i, e in self.state.items() if e is not None}
        keep, rejected = hris.settle_deferred(rows, lambda m: not m or m in known)
        for row, reason in rejected:
            self._result(row.line, row.employee_id, Outcome.IMPORT_OUTCOME_REJECTED, [reason])
        for row in sorted(keep, key=lambda r: r.line):
            self._apply(row, at)

    async def _wait(self) -> None:
        """The waiting lists after this batch: each manager's earlier lines plus this batch's."""
        lines: dict[str, list[int]] = {}
        for row in self.deferred:
            lines.setdefault(row.manager_id, []).append(row.line)
        managers = sorted(lines)
        before = await self.pipe.hmget(self.k("waiting"), managers) if managers else []
        self.waiting = {m: ",".join(([b.decode()] if b else []) + [str(x) for x in lines[m]])
                        for m, b in zip(managers, before)}

    # -- writing -----------------------------------------------------------------------------------
    def _write(self) -> None:
        from services.profile.server import match_profile

        pipe, servicer = self.pipe, self.importer.servicer
        actor = current_identity.get().subject
        for emp_id in sorted(self.state):
            entry = self.state[emp_id]
            if entry is None or (entry.existed and not entry.changes):
                continue
            emp = entry.emp
            emp.version += 1
            if self.dry_run:
                pipe.hset(self.k("shadow"), emp_id, emp.SerializeToString())
            elif entry.existed:
                servicer._write(pipe, emp, "profile.employee-updated", events_pb2.EmployeeUpdated(profile=match_profile(emp)),
                                f"HRIS import (line {', '.join(map(str, entry.lines))}) updated "
                                + ", ".join(dict.fromkeys(entry.changes)), actor)
            else:
                servicer._write(pipe, emp, "profile.employee-registered",
                                events_pb2.EmployeeRegistered(profile=match_profile(emp)),
                                f"registered {emp.name} (HRIS import, line {', '.join(map(str, entry.lines))})", actor)
        for r in self.results:
            entry = self.state.get(r.employee_id)
            if entry is not None and r.outcome != Outcome.IMPORT_OUTCOME_REJECTED:
                r.version = entry.emp.version

    def _report(self) -> profile_pb2.ImportEmployeesResponse:
        report = profile_pb2.ImportEmployeesResponse(dry_run=self.dry_run, deferred=len(self.deferred),
                                                     lines=len(self.lines) + (1 if self.request.batch <= 1 else 0))
        report.results.extend(sorted(self.results, key=lambda r: r.row))
        report.rows = len(report.results)
        for r in report.results:
            if r.outcome == Outcome.IMPORT_OUTCOME_CREATED:
                report.created += 1
            elif r.outcome == Outcome.IMPORT_OUTCOME_UPDATED:
                report.updated += 1
            elif r.outcome == Outcome.IMPORT_OUTCOME_UNCHANGED:
                report.unchanged += 1
            elif r.outcome == Outcome.IMPORT_OUTCOME_SKIPPED:
                report.skipped += 1
            else:
                report.rejected += 1
        return report

    def _bookkeep(self, report: profile_pb2.ImportEmployeesResponse, expected: int) -> None:
        pipe, k = self.pipe, self.k
        parts = ["meta", "persons", "skills", "deferred", "waiting", "pending", "shadow"]
        if self.last:
            pipe.delete(*[k(p) for p in parts[1:]])
            pipe.hset(k("meta"), mapping={"fp": self.fp, "next": expected + 1, "done": 1})
        else:
            if self.new_persons:
                pipe.hset(k("persons"), mapping=self.new_persons)
            if self.new_skills:
                pipe.hset(k("skills"), mapping=self.new_skills)
            if self.released:
                pipe.hdel(k("deferred"), *map(str, self.released))
            if self.released_managers:
                pipe.hdel(k("waiting"), *self.released_managers)
            for row in self.deferred:
                pipe.hset(k("deferred"), str(row.line), _encode_row(row))
            if self.waiting:
                pipe.hset(k("waiting"), mapping=self.waiting)
            for emp_id, delta in self.pending_delta.items():
                if delta:
                    pipe.hincrby(k("pending"), emp_id, delta)
            pipe.hset(k("meta"), mapping={"fp": self.fp, "next": expected + 1})
            for p in parts:
                pipe.expire(k(p), IMPORT_TTL_S)
        pipe.set(k(f"batch:{self.request.batch}"), self.batch_fp.encode() + b"|" + report.SerializeToString(),
                 ex=IMPORT_TTL_S)

    def _result(self, line: int, employee_id: str, outcome, errors=()) -> None:
        self.results.append(profile_pb2.ImportRowResult(row=line, employee_id=employee_id, outcome=outcome,
                                                        errors=list(errors)))
