"""Learning service: course catalog, enrollments, completions and micro-credentials.

Keys (under the deployment prefix): ``course:<id>`` (``itm.v1.Course`` with its
version), ``course:index``, ``course:by-skill:<skill>`` (zset course -> level
taught), ``course:version:<id>``, ``enrollment:<employee>:<course>``,
``enrollment:by-employee:<employee>``, ``xapi:statement:<id>`` and
``xapi:by-employee:<employee>`` (xAPI statements already applied, services/learning/xapi.py).
Every change and its event commit in one transaction with the outbox.
"""

from __future__ import annotations

import re
import uuid

import grpc

from itm.runtime.auth import current_identity, require_self_or_privileged
from itm.runtime.consumer import IdempotentConsumer
from itm.runtime.domain import (
    MAX_PAGE,
    DomainService,
    EntityStore,
    canonical_skill,
    check_id,
    check_level,
    check_request_id,
    check_text,
    check_version,
    failed_precondition,
    fingerprint,
    invalid,
    now_ts,
    offset_token,
    page_size_of,
    replay,
)
from itm.runtime.envelope import new_envelope
from itm.v1 import common_pb2, events_pb2, learning_pb2, learning_pb2_grpc
from services.learning import xapi

SOURCE = "learning"
ID_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
MAX_TEACHES = 20


def _content(course: common_pb2.Course) -> bytes:
    """A course without its version, to tell a republish of the same content from a change."""
    c = common_pb2.Course()
    c.CopyFrom(course)
    c.version = 0
    return c.SerializeToString(deterministic=True)


class LearningServicer(learning_pb2_grpc.LearningServiceServicer):
    def __init__(self, svc: DomainService):
        self.svc = svc
        self.courses = EntityStore(svc, "course", common_pb2.Course, "course_id")
        self.enrollments = EntityStore(svc, "enrollment", learning_pb2.Enrollment, "enrollment_id")

    def _skill_index(self, skill_id: str) -> str:
        return self.svc.settings.key(f"course:by-skill:{skill_id}")

    def _version_key(self, course_id: str) -> str:
        # kept beside the course for entries written before Course carried its version
        return self.svc.settings.key(f"course:version:{course_id}")

    def _by_employee(self, employee_id: str) -> str:
        return self.svc.settings.key(f"enrollment:by-employee:{employee_id}")

    def _publish(self, pipe, prior: common_pb2.Course | None, course: common_pb2.Course) -> None:
        """Queue (inside MULTI) the catalog entry, its skill index and its event."""
        self.courses.store(pipe, course)
        if prior is not None:
            for old in prior.teaches:
                pipe.zrem(self._skill_index(old.skill_id), course.course_id)
        if not course.retired:
            for t in course.teaches:
                pipe.zadd(self._skill_index(t.skill_id), {course.course_id: t.level})
        pipe.set(self._version_key(course.course_id), course.version)
        self.svc.outbox.add(pipe, new_envelope("learning.course-published", SOURCE, course.course_id, course.version,
                                               events_pb2.CoursePublished(course=course)))

    async def _current_version(self, pipe, prior: common_pb2.Course | None, course_id: str) -> int:
        return max(int(await pipe.get(self._version_key(course_id)) or 0), prior.version if prior else 0)

    # -- catalog ---------------------------------------------------------------------------------
    async def PublishCourse(self, request, context):
        ident = current_identity.get()
        if not ident.privileged:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "publishing courses is for HR admins and the LMS")
        await check_text(context, request.title, "title", 200, required=True)
        if not 0 < request.hours <= 1000:
            await invalid(context, f"hours must be > 0 and <= 1000, got {request.hours}")
        await check_text(context, request.format, "format", 50)
        await check_text(context, request.provider, "provider", 200)
        await check_request_id(context, request.request_id)
        if request.course_id and not ID_RE.match(request.course_id):
            await invalid(context, "course_id must be lowercase letters, digits, '.', '_' or '-' (max 64)")
        if not request.teaches:
            await invalid(context, "a course teaches at least one skill (teaches: skill, level)")
        if len(request.teaches) > MAX_TEACHES:
            await invalid(context, f"a course teaches at most {MAX_TEACHES} skills")
        teaches: dict[str, common_pb2.CourseSkill] = {}
        for i, t in enumerate(request.teaches):
            skill_id = await canonical_skill(context, t.skill, f"teaches[{i}].skill")
            if problem := check_level(t.level, f"teaches[{i}].level"):
                await invalid(context, problem)
            if skill_id in teaches:
                await invalid(context, f"teaches[{i}]: skill {skill_id!r} is listed twice")
            teaches[skill_id] = common_pb2.CourseSkill(skill_id=skill_id, level=t.level)
        fp = fingerprint(request, ident.subject)
        course_id = request.course_id
        if request.request_id and not course_id:
            course_id = await self.courses.prior_request(self.svc.redis, context, request.request_id, fp) or ""
        course = common_pb2.Course(
            course_id=course_id or f"course-{uuid.uuid4().hex[:10]}",
            title=request.title, hours=request.hours, format=request.format,
            provider=request.provider, teaches=list(teaches.values()),
        )
        watch = [self.courses.key(course.course_id), self._version_key(course.course_id)]
        if request.request_id:
            watch.append(self.courses.request_key(request.request_id))

        async def body(pipe):
            if prior_id := await self.courses.prior_request(pipe, context, request.request_id, fp):
                return await self.courses.load(pipe, prior_id)  # a retry (or a concurrent twin) of this request
            prior = await self.courses.load(pipe, course.course_id)
            version = await self._current_version(pipe, prior, course.course_id)
            await check_version(context, "course", course.course_id, version, request.expected_version)
            if prior is not None and _content(prior) == _content(course):
                return prior  # republishing the same content: no new version, no event
            course.version = version + 1
            pipe.multi()
            self._publish(pipe, prior, course)
            self.courses.remember_request(pipe, request.request_id, course.course_id, fp)
            return course

        return await self.svc.commit(watch, body)

    async def GetCourse(self, request, context):
        return await self.courses.require(self.svc.redis, request.course_id, context)

    async def ListCourses(self, request, context):
        """Catalog order (by id). Retired courses are skipped unless asked for, so a page may hold fewer
        than page_size courses: keep following next_page_token."""
        size = await page_size_of(context, request.page_size)
        items, token = await self.courses.page(size, request.page_token)
        if not request.include_retired:
            items = [c for c in items if not c.retired]
        return learning_pb2.ListCoursesResponse(courses=items, next_page_token=token)

    async def RetireCourse(self, request, context):
        if not current_identity.get().privileged:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "retiring courses is for HR admins and the LMS")
        if not request.course_id:
            await invalid(context, "course_id is required")

        async def body(pipe):
            prior = await self.courses.require(pipe, request.course_id, context)
            version = await self._current_version(pipe, prior, prior.course_id)
            await check_version(context, "course", prior.course_id, version, request.expected_version)
            if prior.retired:
                return prior
            course = common_pb2.Course()
            course.CopyFrom(prior)
            course.retired = True
            course.version = version + 1
            pipe.multi()
            self._publish(pipe, prior, course)
            return course

        return await self.svc.commit([self.courses.key(request.course_id), self._version_key(request.course_id)], body)

    async def FindCourses(self, request, context):
        """Courses that teach the skill to at least min_level, fewest hours first."""
        skill_id = await canonical_skill(context, request.skill)
        level = request.min_level or 1
        if problem := check_level(level, "min_level"):
            await invalid(context, problem)
        size = min(await page_size_of(context, request.page_size or 20), MAX_PAGE)
        start = await offset_token(context, request.page_token)
        ids = [i.decode() for i in await self.svc.redis.zrangebyscore(self._skill_index(skill_id), level, 5)]
        courses = [c for c in await self.courses.load_many(ids) if not c.retired]
        courses.sort(key=lambda c: (c.hours, c.course_id))
        page = courses[start:start + size]
        token = str(start + size) if start + size < len(courses) else ""
        return learning_pb2.FindCoursesResponse(courses=page, next_page_token=token)

    # -- enrollments -------------------------------------------------------------------------------
    def _enrollment_id(self, employee_id: str, course_id: str) -> str:
        return f"{employee_id}:{course_id}"

    async def Enroll(self, request, context):
        await check_id(context, request.employee_id, "employee_id")
        await require_self_or_privileged(context, request.employee_id)
        await check_request_id(context, request.request_id)
        if not request.course_id:
            await invalid(context, "course_id is required")
        eid = self._enrollment_id(request.employee_id, request.course_id)

        async def body(pipe):
            course = await self.courses.require(pipe, request.course_id, context)
            prior = await self.enrollments.load(pipe, eid)
            if prior is not None:
                return prior  # enrolling twice is the same enrollment (the natural key is the request id)
            if course.retired:
                await failed_precondition(context, f"course {course.course_id} is retired; pick a current one (FindCourses)")
            enrollment = learning_pb2.Enrollment(enrollment_id=eid, employee_id=request.employee_id,
                                                 course_id=course.course_id, status="enrolled", version=1)
            enrollment.enrolled_at.CopyFrom(now_ts())
            pipe.multi()
            self.enrollments.store(pipe, enrollment)
            pipe.zadd(self._by_employee(request.employee_id), {eid: 0})
            self.svc.outbox.add(pipe, new_envelope(
                "learning.course-enrolled", SOURCE, request.employee_id, enrollment.version,
                events_pb2.CourseEnrolled(employee_id=request.employee_id, course_id=course.course_id, enrollment_id=eid)))
            return enrollment

        return await self.svc.commit([self.enrollments.key(eid), self.courses.key(request.course_id)], body)

    async def CompleteCourse(self, request, context):
        ident = current_identity.get()
        if not ident.privileged:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED,
                                "completions are recorded by the learning platform (service) or HR admins")
        await check_id(context, request.employee_id, "employee_id")
        await check_request_id(context, request.request_id)
        if not request.course_id:
            await invalid(context, "course_id is required")
        eid = self._enrollment_id(request.employee_id, request.course_id)

        async def body(pipe):
            course = await self.courses.require(pipe, request.course_id, context)
            return self._complete(pipe, request.employee_id, course, await self.enrollments.load(pipe, eid))

        return await self.svc.commit([self.enrollments.key(eid), self.courses.key(request.course_id)], body)

    def _complete(self, pipe, employee_id: str, course: common_pb2.Course,
                  enrollment: learning_pb2.Enrollment | None) -> learning_pb2.Enrollment:
        """Complete the enrollment (MULTI started here and the completion queued), unless it is completed already:
        one completion, one credential, one learning.course-completed per employee and course."""
        eid = self._enrollment_id(employee_id, course.course_id)
        enrollment = enrollment or learning_pb2.Enrollment(
            enrollment_id=eid, employee_id=employee_id, course_id=course.course_id, version=0)
        if enrollment.status == "completed":
            return enrollment
        if not enrollment.HasField("enrolled_at"):
            enrollment.enrolled_at.CopyFrom(now_ts())
        enrollment.status = "completed"
        enrollment.credential_id = f"cred-{uuid.uuid4().hex[:12]}"
        enrollment.completed_at.CopyFrom(now_ts())
        enrollment.credential.CopyFrom(learning_pb2.Credential(
            credential_id=enrollment.credential_id, employee_id=employee_id, course_id=course.course_id,
            course_title=course.title, provider=course.provider, skills=list(course.teaches),
            issued_at=enrollment.completed_at))
        enrollment.version += 1
        pipe.multi()
        self.enrollments.store(pipe, enrollment)
        pipe.zadd(self._by_employee(employee_id), {eid: 0})
        self.svc.outbox.add(pipe, new_envelope(
            "learning.course-completed", SOURCE, employee_id, enrollment.version,
            events_pb2.CourseCompleted(employee_id=employee_id, course_id=course.course_id,
                                       skills=list(course.teaches), credential_id=enrollment.credential_id)))
        return enrollment

    # -- xAPI statements (services/learning/xapi.py) -----------------------------------------------
    def _statement_key(self, statement_id: str) -> str:
        return self.svc.settings.key(f"xapi:statement:{statement_id}")

    def _statements_of(self, employee_id: str) -> str:
        return self.svc.settings.key(f"xapi:by-employee:{employee_id}")

    async def course_exists(self, course_id: str) -> bool:
        return bool(await self.svc.redis.exists(self.courses.key(course_id)))

    async def complete_from_statement(self, statement, employee_id: str) -> None:
        """A completion statement: CompleteCourse's effect, once per statement id (409 for other content)."""
        from services.learning.xapi import Refused

        key, eid = self._statement_key(statement.statement_id), self._enrollment_id(employee_id, statement.course_id)
        fp = statement.fingerprint()

        async def body(pipe):
            stored = await pipe.get(key)
            if stored is not None:
                if stored.decode().partition("|")[0] != fp:
                    raise Refused(409, f"statement {statement.statement_id} was already sent with other content")
                return
            course = await self.courses.load(pipe, statement.course_id)
            if course is None:
                raise Refused(400, f"object.id names course {statement.course_id!r}, which is not in the catalog")
            self._complete(pipe, employee_id, course, await self.enrollments.load(pipe, eid))
            if not pipe.explicit_transaction:
                pipe.multi()
            pipe.set(key, f"{fp}|{employee_id}|{statement.course_id}")
            pipe.sadd(self._statements_of(employee_id), statement.statement_id)

        await self.svc.commit([key, self.enrollments.key(eid), self.courses.key(statement.course_id)], body)

    async def GetEnrollment(self, request, context):
        if not request.employee_id or not request.course_id:
            await invalid(context, "employee_id and course_id are required")
        await require_self_or_privileged(context, request.employee_id)
        eid = self._enrollment_id(request.employee_id, request.course_id)
        enrollment = await self.enrollments.load(self.svc.redis, eid)
        if enrollment is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"{request.employee_id} is not enrolled in {request.course_id}")
        return enrollment

    async def ListEnrollments(self, request, context):
        if not request.employee_id:
            await invalid(context, "employee_id is required")
        await require_self_or_privileged(context, request.employee_id)
        size = await page_size_of(context, request.page_size)
        items, token = await self.enrollments.page(size, request.page_token, self._by_employee(request.employee_id))
        return learning_pb2.ListEnrollmentsResponse(enrollments=items, next_page_token=token)

    # -- replay ------------------------------------------------------------------------------------
    async def on_employee_erased(self, event, pipe) -> None:
        """Right to erasure: drop the employee's enrollments and credentials."""
        employee_id = event.payload.employee_id
        await pipe.watch(self._by_employee(employee_id))
        ids = [i.decode() for i in await pipe.zrange(self._by_employee(employee_id), 0, -1)]
        statements = [i.decode() for i in await pipe.smembers(self._statements_of(employee_id))]
        await self.enrollments.erase(pipe, *ids)  # starts the MULTI
        pipe.delete(self._by_employee(employee_id), self._statements_of(employee_id),
                    *[self._statement_key(i) for i in statements])

    async def Replay(self, request, context):
        if not current_identity.get().privileged:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "replay is for HR admins and services")
        versions = {}
        for cid in await self.courses.all_ids():
            versions[cid] = int(await self.svc.redis.get(self._version_key(cid)) or 1)
        count = await replay(self.svc, self.courses, lambda c: [new_envelope(
            "learning.course-published", SOURCE, c.course_id, max(c.version, versions.get(c.course_id, 1)),
            events_pb2.CoursePublished(course=c))])
        return common_pb2.ReplayResponse(events_emitted=count)


def build() -> DomainService:
    svc = DomainService("learning")
    servicer = LearningServicer(svc)
    learning_pb2_grpc.add_LearningServiceServicer_to_server(servicer, svc.grpc)
    statements = xapi.StatementsEndpoint(servicer)
    statements.routes(svc.http)
    svc.on_shutdown.append(statements.close)
    svc.add_service_check("profile", svc.settings.profile_target)  # itm.profile: xAPI actors (FindEmployee)
    svc.add_consumer(IdempotentConsumer(svc.settings, svc.redis, "learning.erasure", ["profile.employee-erased"],
                                        servicer.on_employee_erased))
    return svc
