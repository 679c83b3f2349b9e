"""Profile service: employees, skills with evidence, endorsements, preferences and consent.

Every change is one Redis transaction: the employee (a serialized
``itm.v1.Employee`` with a version), its history entry and its event in the
outbox commit together or not at all. Events carry the employee's match
snapshot (``profile``), which is what the matcher applies.

Keys (under the deployment prefix): ``employee:<id>``, ``employee:index``,
``employee:<id>:history`` (zset: version -> HistoryEntry), ``employee:request:<id>``
(idempotency) and ``import:<id>:*`` (an HRIS import's progress, services/profile/importer.py).
"""

from __future__ import annotations

import grpc

from itm import managers
from itm.runtime.auth import current_identity, require_self_or_privileged
from itm.runtime.consumer import IdempotentConsumer, PermanentError
from itm.runtime.domain import (
    DomainService,
    canonical_skill,
    check_id,
    check_level,
    check_past,
    check_request_id,
    check_text,
    check_version,
    failed_precondition,
    fingerprint,
    invalid,
    now_ts,
    page_size_of,
    replay,
)
from itm.runtime.envelope import Event, new_envelope
from itm.v1 import common_pb2, events_pb2, profile_pb2, profile_pb2_grpc
from services.profile import identities, kpi, moves, taxonomy, team
from services.profile.importer import Importer
from services.profile.scim import ScimUsers
from services.profile.team import EmployeeStore

SOURCE = "profile"
Status = common_pb2.SkillStatus
Source = common_pb2.EvidenceSource
Outcome = profile_pb2.ImportOutcome
MAX_TEXT = 200
MAX_ASPIRATIONS = 20
MAX_HOURS = 80
PERSON_FIELDS = ("name", "department", "manager_id", "location", "hours_available_per_week", "career_aspirations",
                 "title")
HR_OWNED = ("department", "manager_id", "title")
STATUS_NAMES = {Status.SKILL_STATUS_CLAIMED: "claimed", Status.SKILL_STATUS_ASPIRATIONAL: "aspirational",
                Status.SKILL_STATUS_INFERRED: "inferred", Status.SKILL_STATUS_VERIFIED: "verified"}


def match_profile(emp: profile_pb2.Employee) -> common_pb2.EmployeeMatchProfile:
    """The blind view the matcher gets: ids, skills, preferences; no name."""
    prefs = emp.preferences
    return common_pb2.EmployeeMatchProfile(
        employee_id=emp.employee_id,
        skills=[rec.skill for rec in emp.skills],
        threshold_percent=prefs.threshold_percent,
        opted_out=prefs.opted_out or emp.deactivated,  # deactivated (SCIM): no matching either
        opportunity_types=list(prefs.opportunity_types),
        mentoring_opt_in=prefs.mentoring_opt_in,
        department=emp.department,
        location=emp.location,
        hidden_from_opportunity_owners=emp.visibility.hidden_from_opportunity_owners,
    )


def _skill_record(emp: profile_pb2.Employee, skill_id: str) -> profile_pb2.SkillRecord | None:
    for rec in emp.skills:
        if rec.skill.skill_id == skill_id:
            return rec
    return None


def _copy_skill(rec: profile_pb2.SkillRecord) -> common_pb2.EmployeeSkill:
    return common_pb2.EmployeeSkill.FromString(rec.skill.SerializeToString())


def manager_view(emp: profile_pb2.Employee) -> profile_pb2.Employee:
    """What the employee's manager sees when the employee hid their aspirations."""
    if not emp.visibility.hide_aspirational_from_managers:
        return emp
    view = profile_pb2.Employee()
    view.CopyFrom(emp)
    keep = [rec for rec in view.skills if rec.skill.status != Status.SKILL_STATUS_ASPIRATIONAL]
    del view.skills[:]
    view.skills.extend(keep)
    del view.career_aspirations[:]
    return view


def caller_view(emp: profile_pb2.Employee, skill_id: str = "") -> profile_pb2.Employee:
    """What the caller of a write gets back: the employee, HR admins and services the whole
    profile; the employee's manager the manager view (which honours the employee's
    visibility choice); anyone else (a peer who endorsed) only the id, the version and
    the skill they endorsed, never the name, the aspirations or the other skills."""
    ident = current_identity.get()
    if ident.privileged or ident.subject == emp.employee_id:
        return emp
    if managers.is_acting_manager(ident, emp.manager_id):
        return manager_view(emp)
    view = profile_pb2.Employee(employee_id=emp.employee_id, version=emp.version)
    if skill_id and (rec := _skill_record(emp, skill_id)) is not None:
        view.skills.add().CopyFrom(rec)
    return view


def apply_verified(emp: profile_pb2.Employee, skill_id: str, level: int, source, reference: str,
                   at=None, actor: str = "", note: str = "") -> common_pb2.EmployeeSkill:
    """Record verified evidence; the skill's level becomes the best verified level."""
    rec = _skill_record(emp, skill_id)
    if rec is None:
        rec = emp.skills.add()
        rec.skill.skill_id = skill_id
    if rec.skill.status != Status.SKILL_STATUS_VERIFIED or level > rec.skill.level:
        rec.skill.level = level
    rec.skill.status = Status.SKILL_STATUS_VERIFIED
    rec.skill.source = source
    ev = rec.evidence.add(source=source, reference=reference, level=level, status=Status.SKILL_STATUS_VERIFIED,
                          actor=actor, note=note)
    ev.at.CopyFrom(at if at is not None and at.seconds else now_ts())
    return _copy_skill(rec)


class ProfileServicer(profile_pb2_grpc.ProfileServiceServicer):
    def __init__(self, svc: DomainService):
        self.svc = svc
        self.employees = EmployeeStore(svc, "employee", profile_pb2.Employee, "employee_id")
        self.importer = Importer(self)
        self.scim = ScimUsers(self)

    # -- storage ---------------------------------------------------------------------
    def history_key(self, employee_id: str) -> str:
        return self.svc.settings.key(f"employee:{employee_id}:history")

    def _write(self, pipe, emp: profile_pb2.Employee, event_type: str, payload, summary: str,
               actor: str | None = None, correlation_id: str | None = None, causation_id: str = "") -> None:
        """Queue (inside MULTI) the employee, its history entry and its event."""
        emp.updated_at.CopyFrom(now_ts())
        self.employees.store(pipe, emp)
        self._emit(pipe, emp.employee_id, emp.version, event_type, payload, summary, actor, correlation_id, causation_id)

    def _emit(self, pipe, employee_id: str, version: int, event_type: str, payload, summary: str,
              actor: str | None = None, correlation_id: str | None = None, causation_id: str = "") -> None:
        env = new_envelope(event_type, SOURCE, employee_id, version, payload, correlation_id, causation_id)
        self.svc.outbox.add(pipe, env)
        entry = profile_pb2.HistoryEntry(
            version=version, event_type=event_type, event_id=env.event_id, correlation_id=env.correlation_id,
            actor=actor if actor is not None else current_identity.get().subject, summary=summary[:500])
        entry.at.CopyFrom(env.occurred_at)
        pipe.zadd(self.history_key(employee_id), {entry.SerializeToString(): version})

    async def _update(self, context, employee_id: str, expected_version: int, mutate, event_type: str, payload_for,
                      summary, skill_id: str = "", authorize=None):
        """Load, check the version, mutate, bump the version, store, record and emit: atomically.

        ``mutate(emp)`` may return False to say nothing changed (no write, no event).
        ``summary`` is a string or a function of the mutated employee. The answer is
        what the caller may see of the result (``caller_view``). ``authorize(emp)``, when
        given, decides before anything else about the stored employee is told (its version).
        """
        key = self.employees.key(employee_id)

        async def body(pipe):
            emp = await self.employees.load(pipe, employee_id)
            if authorize is not None:  # before anything is told about the employee, their existence included
                await authorize(emp)
            if emp is None:
                emp = await self.employees.require(pipe, employee_id, context)  # NOT_FOUND (or invalid id)
            await check_version(context, "employee", emp.employee_id, emp.version, expected_version)
            if await mutate(emp) is False:
                return emp
            emp.version += 1
            pipe.multi()
            self._write(pipe, emp, event_type, payload_for(emp), summary(emp) if callable(summary) else summary)
            return emp

        return caller_view(await self.svc.commit([key], body), skill_id)

    # -- validation ------------------------------------------------------------------------
    async def _validate_person(self, context, request, fields=PERSON_FIELDS) -> None:
        if "hours_available_per_week" in fields:
            hours = request.hours_available_per_week
            if not 0 <= hours <= MAX_HOURS:
                await invalid(context, f"hours_available_per_week must be between 0 and {MAX_HOURS}, got {hours}")
        for field in ("name", "department", "location", "title"):
            if field in fields:
                await check_text(context, getattr(request, field), field, MAX_TEXT)
        if "manager_id" in fields and request.manager_id:
            await check_id(context, request.manager_id, "manager_id")
            if request.manager_id == request.employee_id:
                await invalid(context, "manager_id must not be the employee themselves")
        if "career_aspirations" in fields:
            if len(request.career_aspirations) > MAX_ASPIRATIONS:
                await invalid(context, f"at most {MAX_ASPIRATIONS} career_aspirations, got {len(request.career_aspirations)}")
            for i, text in enumerate(request.career_aspirations):
                await check_text(context, text, f"career_aspirations[{i}]", MAX_TEXT, required=True)

    async def _level(self, context, level: int, what: str = "level") -> int:
        if problem := check_level(level, what):
            await invalid(context, problem)
        return level

    # -- RPCs: employees ---------------------------------------------------------------------
    async def CreateEmployee(self, request, context):
        await check_id(context, request.employee_id, "employee_id")
        await check_text(context, request.name, "name", MAX_TEXT, required=True)
        await check_request_id(context, request.request_id)
        await self._validate_person(context, request)
        ident = current_identity.get()
        if not ident.privileged and ident.subject != request.employee_id:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "only HR admins create other employees' profiles")
        if not ident.privileged and (request.manager_id or request.department or request.title):
            await context.abort(grpc.StatusCode.PERMISSION_DENIED,
                                "department, manager_id and title come from HR: leave them empty or ask an HR admin")
        key = self.employees.key(request.employee_id)
        fp = fingerprint(request, ident.subject)
        watch = [key] + ([self.employees.request_key(request.request_id)] if request.request_id else [])

        async def body(pipe):
            if prior := await self.employees.prior_request(pipe, context, request.request_id, fp):
                return await self.employees.load(pipe, prior)
            if await pipe.exists(key):
                await context.abort(grpc.StatusCode.ALREADY_EXISTS,
                                    f"employee {request.employee_id} already exists; use UpdateEmployee")
            emp = profile_pb2.Employee(
                employee_id=request.employee_id,
                name=request.name,
                department=request.department,
                title=request.title,
                manager_id=request.manager_id,
                location=request.location,
                hours_available_per_week=request.hours_available_per_week,
                career_aspirations=list(request.career_aspirations),
                version=1,
            )
            emp.created_at.CopyFrom(now_ts())
            pipe.multi()
            self._write(pipe, emp, "profile.employee-registered", events_pb2.EmployeeRegistered(profile=match_profile(emp)),
                        f"registered {emp.name}")
            self.employees.remember_request(pipe, request.request_id, emp.employee_id, fp)
            return emp

        return await self.svc.commit(watch, body)

    async def GetEmployee(self, request, context):
        if not request.employee_id:
            await invalid(context, "employee_id is required")
        ident = current_identity.get()
        if ident.privileged or ident.subject == request.employee_id:
            return await self.employees.require(self.svc.redis, request.employee_id, context)
        emp = await self.employees.load(self.svc.redis, request.employee_id)
        if emp is not None and managers.is_acting_manager(ident, emp.manager_id):
            return manager_view(emp)
        if emp is not None and ident.subject == emp.manager_id:  # the manager of record without the role: told why
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, managers.may_act_as_manager(
                ident, emp.manager_id, "read the manager view of", request.employee_id))
        # an unknown id and a profile the caller may not see answer alike (no existence oracle)
        await context.abort(grpc.StatusCode.PERMISSION_DENIED,
                            f"{ident.role} {ident.subject} may not read {request.employee_id}'s profile "
                            "(the employee, their manager and HR admins may)")

    async def UpdateEmployee(self, request, context):
        ident = await require_self_or_privileged(context, request.employee_id)
        mask = list(request.update_mask.paths)
        unknown = [p for p in mask if p not in PERSON_FIELDS]
        if unknown:
            await invalid(context, f"update_mask has unknown paths {unknown}; allowed: {', '.join(PERSON_FIELDS)}")
        if mask:
            fields = mask
        else:
            fields = [f for f in PERSON_FIELDS if getattr(request, f)]
        if not fields:
            await invalid(context, "nothing to update: set the fields to change (or list them in update_mask)")
        if "name" in fields:
            await check_text(context, request.name, "name", MAX_TEXT, required=True)
        await self._validate_person(context, request, fields)
        if not ident.privileged and (hr := [f for f in fields if f in HR_OWNED]):
            await context.abort(grpc.StatusCode.PERMISSION_DENIED,
                                f"{', '.join(hr)} come from HR; only HR admins and services change them")
        changed: list[str] = []

        async def mutate(emp):
            for field in fields:
                if field == "career_aspirations":
                    if list(emp.career_aspirations) != list(request.career_aspirations):
                        del emp.career_aspirations[:]
                        emp.career_aspirations.extend(request.career_aspirations)
                        changed.append(field)
                elif getattr(emp, field) != getattr(request, field):
                    setattr(emp, field, getattr(request, field))
                    changed.append(field)
            return bool(changed)

        return await self._update(
            context, request.employee_id, request.expected_version, mutate, "profile.employee-updated",
            lambda emp: events_pb2.EmployeeUpdated(profile=match_profile(emp)),
            lambda emp: "updated " + ", ".join(changed),
        )

    # -- RPCs: skills -----------------------------------------------------------------------------
    async def UpsertSkill(self, request, context):
        ident = await require_self_or_privileged(context, request.employee_id)
        skill_id = await canonical_skill(context, request.skill)
        await self._level(context, request.level)
        if request.status == Status.SKILL_STATUS_VERIFIED:
            await invalid(context, "status VERIFIED is set by VerifySkill (manager or assessment), course completions "
                                   "or gig feedback, not UpsertSkill")
        if request.status not in STATUS_NAMES and request.status != Status.SKILL_STATUS_UNSPECIFIED:
            await invalid(context, f"unknown status {request.status}")
        if request.source not in Source.values():
            await invalid(context, f"unknown source {request.source}")
        status = request.status or Status.SKILL_STATUS_CLAIMED
        source = request.source or Source.EVIDENCE_SOURCE_SELF
        if not ident.privileged:
            if status == Status.SKILL_STATUS_INFERRED:
                await context.abort(grpc.StatusCode.PERMISSION_DENIED, "INFERRED skills come from services, not self-claims")
            if source != Source.EVIDENCE_SOURCE_SELF:
                await context.abort(grpc.StatusCode.PERMISSION_DENIED,
                                    "employees record SELF evidence; manager, assessment, course, gig and peer "
                                    "evidence come from VerifySkill, completions, feedback and EndorseSkill")
        await check_past(context, request.evidence_at, "evidence_at")
        await check_text(context, request.reference, "reference", MAX_TEXT)
        await check_text(context, request.note, "note", 1000)

        async def mutate(emp):
            rec = _skill_record(emp, skill_id)
            if rec is None:
                rec = emp.skills.add()
            ev = rec.evidence.add(source=source, reference=request.reference, level=request.level, status=status,
                                  actor=ident.subject, note=request.note)
            ev.at.CopyFrom(request.evidence_at if request.evidence_at.seconds else now_ts())
            if rec.skill.status != Status.SKILL_STATUS_VERIFIED:
                # verified evidence is never overridden by a claim; the claim stays as history
                rec.skill.CopyFrom(common_pb2.EmployeeSkill(skill_id=skill_id, level=request.level, status=status,
                                                            source=source))

        return await self._update(
            context, request.employee_id, request.expected_version, mutate, "profile.skill-added",
            lambda emp: events_pb2.SkillAdded(skill=_copy_skill(_skill_record(emp, skill_id)), profile=match_profile(emp)),
            f"{STATUS_NAMES[status]} {skill_id} level {request.level}",
        )

    async def RemoveSkill(self, request, context):
        await require_self_or_privileged(context, request.employee_id)
        skill_id = await canonical_skill(context, request.skill)

        async def mutate(emp):
            rec = _skill_record(emp, skill_id)
            if rec is None:
                await context.abort(grpc.StatusCode.NOT_FOUND, f"employee {emp.employee_id} has no skill {skill_id!r}")
            emp.skills.remove(rec)

        return await self._update(
            context, request.employee_id, request.expected_version, mutate, "profile.skill-removed",
            lambda emp: events_pb2.SkillRemoved(skill_id=skill_id, profile=match_profile(emp)),
            f"removed {skill_id}",
        )

    async def VerifySkill(self, request, context):
        if not request.employee_id:
            await invalid(context, "employee_id is required")
        skill_id = await canonical_skill(context, request.skill)
        await self._level(context, request.level)
        if request.source not in (Source.EVIDENCE_SOURCE_MANAGER, Source.EVIDENCE_SOURCE_ASSESSMENT):
            await invalid(context, "source must be MANAGER or ASSESSMENT to verify a skill (course and gig evidence "
                                   "come from completions and owner feedback)")
        await check_past(context, request.evidence_at, "evidence_at")
        await check_text(context, request.reference, "reference", MAX_TEXT)
        ident = current_identity.get()
        if not ident.privileged and request.source != Source.EVIDENCE_SOURCE_MANAGER:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED,
                                "a manager verifies with source MANAGER; ASSESSMENT results come from the assessment service")
        reference = request.reference or ident.subject

        async def authorize(emp):  # the one manager rule (itm/managers.py); an unknown id is refused alike
            if refusal := managers.may_act_as_manager(ident, emp.manager_id if emp is not None else "", "verify skills of",
                                                      request.employee_id, disclose=False):
                await context.abort(grpc.StatusCode.PERMISSION_DENIED, refusal)

        async def mutate(emp):
            apply_verified(emp, skill_id, request.level, request.source, reference, request.evidence_at, ident.subject)

        return await self._update(
            context, request.employee_id, request.expected_version, mutate, "profile.skill-verified",
            lambda emp: events_pb2.SkillVerified(skill=_copy_skill(_skill_record(emp, skill_id)), verified_by=ident.subject,
                                                 profile=match_profile(emp)),
            f"verified {skill_id} level {request.level} ({common_pb2.EvidenceSource.Name(request.source)} {reference})",
            authorize=authorize,
        )

    async def EndorseSkill(self, request, context):
        if not request.employee_id:
            await invalid(context, "employee_id is required")
        skill_id = await canonical_skill(context, request.skill)
        if request.level:
            await self._level(context, request.level)
        await check_text(context, request.note, "note", 1000)
        ident = current_identity.get()
        if request.endorser_id and not ident.privileged and request.endorser_id != ident.subject:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "you endorse as yourself; leave endorser_id empty")
        endorser = request.endorser_id or ident.subject
        if ident.privileged and not request.endorser_id:
            await invalid(context, "endorser_id is required when a service or HR admin records an endorsement")
        if endorser == request.employee_id:
            await invalid(context, "employees cannot endorse their own skills")
        if not await self.svc.redis.exists(self.employees.key(endorser)):
            await failed_precondition(context, f"endorser {endorser} has no profile; peers endorse from their own profile")
        level_seen = 0

        async def mutate(emp):
            nonlocal level_seen
            rec = _skill_record(emp, skill_id)
            if rec is None:
                await failed_precondition(context, f"{emp.employee_id} does not list {skill_id}; endorse a skill on their profile")
            if rec.skill.status == Status.SKILL_STATUS_ASPIRATIONAL:
                await failed_precondition(context, f"{skill_id} is an aspiration of {emp.employee_id}, not a skill to endorse")
            level_seen = request.level or rec.skill.level
            mine = [ev for ev in rec.evidence if ev.source == Source.EVIDENCE_SOURCE_PEER and ev.reference == endorser]
            if mine and mine[-1].level == level_seen and mine[-1].note == request.note:
                return False  # the same endorsement again: nothing new
            for ev in mine:
                rec.evidence.remove(ev)
            ev = rec.evidence.add(source=Source.EVIDENCE_SOURCE_PEER, reference=endorser, level=level_seen,
                                  status=rec.skill.status, actor=ident.subject, note=request.note)
            ev.at.CopyFrom(now_ts())
            rec.endorsements = len({e.reference for e in rec.evidence if e.source == Source.EVIDENCE_SOURCE_PEER})

        return await self._update(
            context, request.employee_id, request.expected_version, mutate, "profile.skill-endorsed",
            lambda emp: events_pb2.SkillEndorsed(
                skill=_copy_skill(_skill_record(emp, skill_id)), endorser_id=endorser, level=level_seen,
                profile=match_profile(emp), endorsements=_skill_record(emp, skill_id).endorsements),
            lambda emp: f"{skill_id} endorsed by {endorser} at level {level_seen}",
            skill_id=skill_id,
        )

    # -- RPCs: preferences and consent --------------------------------------------------------------
    async def SetPreferences(self, request, context):
        await require_self_or_privileged(context, request.employee_id)
        prefs = request.preferences
        if not 0 <= prefs.threshold_percent <= 100:
            await invalid(context, f"threshold_percent must be between 1 and 100 (0 keeps the default), got {prefs.threshold_percent}")
        for t in prefs.opportunity_types:
            if t == common_pb2.OPPORTUNITY_TYPE_UNSPECIFIED or t not in common_pb2.OpportunityType.values():
                await invalid(context, f"opportunity_types has an invalid type {t}; use GIG, PROJECT, MENTORSHIP, "
                                       "JOB_SHADOWING, FREELANCE or ROLE (empty = all)")
        if len(set(prefs.opportunity_types)) != len(prefs.opportunity_types):
            await invalid(context, "opportunity_types lists a type twice")

        async def mutate(emp):
            emp.preferences.CopyFrom(prefs)

        return await self._update(
            context, request.employee_id, request.expected_version, mutate, "profile.preferences-changed",
            lambda emp: events_pb2.PreferencesChanged(profile=match_profile(emp)),
            f"preferences: threshold {prefs.threshold_percent or 'default'}, opted out {prefs.opted_out}",
        )

    async def SetVisibility(self, request, context):
        ident = current_identity.get()
        if ident.subject != request.employee_id and ident.role != "hr_admin":
            await context.abort(grpc.StatusCode.PERMISSION_DENIED,
                                "consent is the employee's own choice (or an HR admin's on their behalf)")
        if not request.employee_id:
            await invalid(context, "employee_id is required")
        wanted = request.visibility
        summary = ", ".join([
            "aspirations hidden from managers" if wanted.hide_aspirational_from_managers
            else "aspirations visible to managers",
            "hidden from opportunity owners" if wanted.hidden_from_opportunity_owners
            else "listed for opportunity owners"])

        async def mutate(emp):
            if emp.visibility == wanted:
                return False
            emp.visibility.CopyFrom(wanted)

        return await self._update(
            context, request.employee_id, request.expected_version, mutate, "profile.visibility-changed",
            lambda emp: events_pb2.VisibilityChanged(
                hide_aspirational_from_managers=wanted.hide_aspirational_from_managers,
                hidden_from_opportunity_owners=wanted.hidden_from_opportunity_owners, profile=match_profile(emp)),
            summary,
        )

    # -- RPCs: lists --------------------------------------------------------------------------------------
    async def ListEmployees(self, request, context):
        ident = current_identity.get()
        if request.manager_id:
            await check_id(context, request.manager_id, "manager_id")
            if refusal := team.may_list_team(ident, request.manager_id):
                await context.abort(grpc.StatusCode.PERMISSION_DENIED, refusal)
        elif not ident.privileged:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "listing employees is for HR admins; a manager "
                                                                   "lists their own team with manager_id")
        size = await page_size_of(context, request.page_size)
        index = self.employees.team_key(request.manager_id) if request.manager_id else None
        items, token = await self.employees.page(size, request.page_token, index)
        if not ident.privileged:
            items = [manager_view(emp) for emp in items]
        return profile_pb2.ListEmployeesResponse(employees=items, next_page_token=token)

    async def ListEmployeeHistory(self, request, context):
        await require_self_or_privileged(context, request.employee_id)
        size = await page_size_of(context, request.page_size)
        if request.page_token and not request.page_token.isdigit():
            await invalid(context, "page_token is not one this service issued; pass next_page_token from the previous page")
        await self.employees.require(self.svc.redis, request.employee_id, context)
        low = f"({request.page_token}" if request.page_token else "-inf"
        raws = await self.svc.redis.zrangebyscore(self.history_key(request.employee_id), low, "+inf", start=0, num=size + 1)
        entries = [profile_pb2.HistoryEntry.FromString(r) for r in raws[:size]]
        token = str(entries[-1].version) if len(raws) > size else ""
        return profile_pb2.ListEmployeeHistoryResponse(entries=entries, next_page_token=token)

    # -- RPCs: right to erasure ------------------------------------------------------------------------------
    async def EraseEmployee(self, request, context):
        """Delete everything this service holds about the employee and publish the tombstone
        (profile.employee-erased) on which the other services drop theirs."""
        ident = await require_self_or_privileged(context, request.employee_id)
        if ident.role == "service":
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "erasure is asked for by the employee or HR")
        await check_text(context, request.reason, "reason", 500)
        key = self.employees.key(request.employee_id)

        async def body(pipe):
            emp = await self.employees.require(pipe, request.employee_id, context)
            env = new_envelope("profile.employee-erased", SOURCE, emp.employee_id, emp.version + 1,
                               events_pb2.EmployeeErased(employee_id=emp.employee_id))
            scim_keys = await self.scim.keys_of(pipe, emp.employee_id)
            await self.employees.erase(pipe, emp.employee_id)  # starts the MULTI
            pipe.delete(self.history_key(emp.employee_id), *scim_keys)
            pipe.zrem(self.scim.index, emp.employee_id)
            self.svc.outbox.add(pipe, env)
            return env.event_id

        event_id = await self.svc.commit([key], body)
        return profile_pb2.EraseEmployeeResponse(employee_id=request.employee_id, tombstone_event_id=event_id)

    async def FindEmployee(self, request, context):
        return await identities.find_employee(self.svc, request, context)

    # -- RPCs: HRIS import (services/profile/importer.py, rules in hris.py) ----------------------------------
    async def ImportEmployees(self, request, context):
        return await self.importer(request, context)

    # -- replay ------------------------------------------------------------------------------------------------
    async def Replay(self, request, context):
        if not current_identity.get().privileged:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "replay is for HR admins and services")
        count = await replay(self.svc, self.employees, lambda emp: [
            new_envelope("profile.employee-updated", SOURCE, emp.employee_id, emp.version,
                         events_pb2.EmployeeUpdated(profile=match_profile(emp)))])
        return common_pb2.ReplayResponse(events_emitted=count)

    # -- events from other services ------------------------------------------------------------------------------
    async def on_course_completed(self, event: Event, pipe) -> None:
        """A completion becomes verified skill evidence and a profile.skill-verified event per skill."""
        done: events_pb2.CourseCompleted = event.payload
        await self._verify_from_event(
            event, pipe, done.employee_id,
            [(cs.skill_id, cs.level, "") for cs in done.skills],
            Source.EVIDENCE_SOURCE_COURSE, done.course_id, actor="learning",
            payload=lambda skill, emp: events_pb2.SkillVerified(
                skill=skill, verified_by=done.course_id, course_id=done.course_id, profile=match_profile(emp)),
            summary=f"verified by completing {done.course_id} (credential {done.credential_id})",
        )

    async def on_feedback_given(self, event: Event, pipe) -> None:
        """Owner feedback on a completed assignment becomes gig-validated (verified) evidence."""
        given: events_pb2.FeedbackGiven = event.payload
        app = given.application
        await self._verify_from_event(
            event, pipe, app.employee_id,
            [(f.skill_id, f.level, f.comment) for f in given.feedback],
            Source.EVIDENCE_SOURCE_GIG, app.opportunity_id, actor=app.owner_id,
            payload=lambda skill, emp: events_pb2.SkillVerified(
                skill=skill, verified_by=app.owner_id, opportunity_id=app.opportunity_id,
                application_id=app.application_id, profile=match_profile(emp)),
            summary=f"validated on {app.opportunity_id} by {app.owner_id}",
        )

    async def on_role_filled(self, event: Event, pipe) -> None:
        """A ROLE filled moves each assignee into it (services/profile/moves.py): department,
        manager and title change, profile.employee-moved says so and which role caused it."""
        closed: events_pb2.GigClosed = event.payload
        if not moves.moves_anyone(closed, event.envelope.replayed):
            return
        role = closed.opportunity
        ids = list(dict.fromkeys(closed.assigned_employee_ids))
        await pipe.watch(*[k for e in ids for k in (self.employees.key(e), self.employees.moved_key(e))])
        due = []
        for employee_id in ids:
            emp = await self.employees.load(pipe, employee_id)
            if emp is None:  # erased meanwhile: nobody to move
                continue
            if await pipe.sismember(self.employees.moved_key(employee_id), role.opportunity_id):
                continue  # this role moved them already
            due.append((emp, moves.move_for(emp, role)))
        if not due:
            return
        pipe.multi()
        for emp, move in due:
            moves.apply(emp, move)
            emp.version += 1
            self._write(pipe, emp, "profile.employee-moved", moves.event(move, match_profile(emp)), moves.summary(move),
                        actor=role.owner_id or "opportunity", correlation_id=event.envelope.correlation_id,
                        causation_id=event.event_id)
            pipe.sadd(self.employees.moved_key(emp.employee_id), role.opportunity_id)

    async def _verify_from_event(self, event: Event, pipe, employee_id: str, skills, source, reference: str,
                                 actor: str, payload, summary: str) -> None:
        await pipe.watch(self.employees.key(employee_id))
        emp = await self.employees.load(pipe, employee_id)
        if emp is None:
            raise PermanentError(f"{event.type} for unknown employee {employee_id!r}")
        writes = []
        for skill_id, level, note in skills:
            if not skill_id or not 1 <= level <= 5:
                raise PermanentError(f"{event.type} carries an invalid skill {skill_id!r} level {level}")
            skill = apply_verified(emp, skill_id, level, source, reference, actor=actor, note=note)
            emp.version += 1  # one version per skill; each event carries the snapshot after its skill
            writes.append((emp.version, payload(skill, emp), f"{skill_id} level {level} {summary}"))
        if not writes:
            return
        pipe.multi()
        emp.updated_at.CopyFrom(now_ts())
        self.employees.store(pipe, emp)
        for version, body, text in writes:
            self._emit(pipe, emp.employee_id, version, "profile.skill-verified", body, text, actor,
                       event.envelope.correlation_id, event.event_id)

def build() -> DomainService:
    svc = DomainService("profile")
    svc.outbox.on_fact(lambda pipe, env: kpi.record(svc.kpi, pipe, env))
    svc.kpi_export.configure(zeros=kpi.ZEROS)
    servicer = ProfileServicer(svc)
    profile_pb2_grpc.add_ProfileServiceServicer_to_server(servicer, svc.grpc)
    taxonomy.add_to(svc.grpc)
    servicer.scim.routes(svc.http)
    svc.add_task(servicer.employees.index_teams)
    svc.add_consumer(
        IdempotentConsumer(
            svc.settings, svc.redis, "profile.course-completions", ["learning.course-completed"],
            servicer.on_course_completed, after_commit=svc.wake_relay,
        )
    )
    svc.add_consumer(
        IdempotentConsumer(
            svc.settings, svc.redis, "profile.gig-feedback", ["opportunity.feedback-given"],
            servicer.on_feedback_given, after_commit=svc.wake_relay,
        )
    )
    svc.add_consumer(IdempotentConsumer(svc.settings, svc.redis, "profile.role-moves", ["opportunity.gig-closed"],
                                        servicer.on_role_filled, after_commit=svc.wake_relay))
    return svc
