"""The learning service for real, with the profile service consuming its completions:
catalog versions, FindCourses, enrollments, completions and micro-credentials that
become verified skill evidence (correlation kept)."""

from __future__ import annotations

import grpc
import pytest

from _stack import ModuleStack, all_topics, expect_error, uid
from itm.v1 import common_pb2, learning_pb2, profile_pb2

L, P = learning_pb2, profile_pb2
Code = grpc.StatusCode


@pytest.fixture(scope="module")
async def stack(infra, tmp_path_factory, request):
    s = ModuleStack(infra, tmp_path_factory.mktemp("learning"))
    await s.start({"profile": {}, "learning": {}}, all_topics("learning.", "profile."))
    yield s
    await s.close(failed=request.session.testsfailed > 0)


def course_req(course_id="", title="SQL Basics", hours=4.0, teaches=(("sql", 2),), **kw):
    return L.PublishCourseRequest(course_id=course_id, title=title, hours=hours, format="online", provider="Academy",
                                  teaches=[L.CourseSkillInput(skill=s, level=lv) for s, lv in teaches], **kw)


async def publish(stack, req):
    c = stack.clients
    return await c.learning.PublishCourse(req, metadata=c.metadata)


async def test_the_catalog_keeps_versions_and_publishes_each_change_once(stack):
    cid = f"c-{uid('x').lower()}"
    rid = uid("r")
    first = await publish(stack, course_req(cid, request_id=rid, teaches=(("SQL", 2), ("excel", 1))))
    assert first.version == 1 and [t.skill_id for t in first.teaches] == ["sql", "excel"]
    assert await publish(stack, course_req(cid, request_id=rid, teaches=(("SQL", 2), ("excel", 1)))) == first
    same = await publish(stack, course_req(cid, teaches=(("sql", 2), ("excel", 1))))
    assert same.version == 1  # same content: no new version, no event
    changed = await publish(stack, course_req(cid, title="SQL Basics II", hours=5, expected_version=1, teaches=(("sql", 3),)))
    assert (changed.version, changed.title, changed.hours) == (2, "SQL Basics II", 5)
    await expect_error(publish(stack, course_req(cid, title="Other", expected_version=1)), Code.ABORTED, "version 2")
    await expect_error(publish(stack, course_req(cid, request_id=rid, title="Different")), Code.ALREADY_EXISTS, "request_id")
    c = stack.clients
    retired = await c.learning.RetireCourse(L.RetireCourseRequest(course_id=cid, expected_version=2), metadata=c.metadata)
    assert retired.retired and retired.version == 3
    events = await stack.log.wait_for("learning.course-published", cid, 3)
    await stack.log.quiet(0.5)
    events = stack.log.of("learning.course-published", cid)
    assert [(e.event.version, e.payload.course.version, e.payload.course.retired) for e in events] == [
        (1, 1, False), (2, 2, False), (3, 3, True)]
    assert [t.skill_id for t in events[1].payload.course.teaches] == ["sql"]
    # without a course id, a retry with the same request id is the same course
    auto_rid = uid("r")
    auto = await publish(stack, course_req(request_id=auto_rid, title="Auto"))
    assert auto.course_id.startswith("course-") and await publish(stack, course_req(request_id=auto_rid, title="Auto")) == auto
    listed, token = [], ""
    while True:
        page = await c.learning.ListCourses(L.ListCoursesRequest(page_size=2, page_token=token), metadata=c.metadata)
        listed += [x.course_id for x in page.courses]
        if not (token := page.next_page_token):
            break
    assert auto.course_id in listed and cid not in listed  # retired courses are left out unless asked for


async def test_find_courses_teaching_a_skill_to_a_level(stack):
    skill = "kubernetes"
    tag = uid("k").lower()
    for name, hours, level in [("a", 10, 2), ("b", 3, 4), ("c", 6, 3), ("d", 1, 1), ("e", 8, 5)]:
        await publish(stack, course_req(f"{tag}-{name}", title=f"K8s {name}", hours=hours, teaches=((skill, level),)))
    c = stack.clients
    await c.learning.RetireCourse(L.RetireCourseRequest(course_id=f"{tag}-e"), metadata=c.metadata)
    found, token = [], ""
    while True:
        page = await c.learning.FindCourses(L.FindCoursesRequest(skill="k8s", min_level=3, page_size=1, page_token=token),
                                            metadata=c.metadata)
        found += [x.course_id for x in page.courses if x.course_id.startswith(tag)]
        if not (token := page.next_page_token):
            break
    assert found == [f"{tag}-b", f"{tag}-c"]  # level >= 3, not retired, fewest hours first
    await expect_error(c.learning.FindCourses(L.FindCoursesRequest(skill="kubernetis", min_level=3), metadata=c.metadata),
                       Code.INVALID_ARGUMENT, "kubernetes")
    await expect_error(c.learning.FindCourses(L.FindCoursesRequest(skill="k8s", min_level=6), metadata=c.metadata),
                       Code.INVALID_ARGUMENT, "between 1 and 5")
    await expect_error(c.learning.FindCourses(L.FindCoursesRequest(skill="k8s", page_token="x"), metadata=c.metadata),
                       Code.INVALID_ARGUMENT, "page_token")


async def test_enrol_complete_and_the_credential_becomes_verified_evidence(stack):
    emp = uid("E")
    c = stack.clients
    await c.profile.CreateEmployee(P.CreateEmployeeRequest(request_id=uid("r"), employee_id=emp, name="Lea"),
                                   metadata=c.metadata)
    cid = f"c-{uid('x').lower()}"
    await publish(stack, course_req(cid, title="Data Analysis", hours=10, teaches=(("data analysis", 3), ("sql", 2))))
    me, other = stack.as_(emp), stack.as_(uid("E"))
    await expect_error(other.learning.Enroll(L.EnrollRequest(employee_id=emp, course_id=cid), metadata=other.metadata),
                       Code.PERMISSION_DENIED, "may not act")
    enrolled = await me.learning.Enroll(L.EnrollRequest(request_id=uid("r"), employee_id=emp, course_id=cid),
                                        metadata=me.metadata)
    assert (enrolled.status, enrolled.version, enrolled.enrollment_id) == ("enrolled", 1, f"{emp}:{cid}")
    assert await me.learning.Enroll(L.EnrollRequest(employee_id=emp, course_id=cid), metadata=me.metadata) == enrolled
    await expect_error(me.learning.CompleteCourse(L.CompleteCourseRequest(employee_id=emp, course_id=cid), metadata=me.metadata),
                       Code.PERMISSION_DENIED, "learning platform")

    lms = stack.as_("lms", "service")
    done = await lms.learning.CompleteCourse(L.CompleteCourseRequest(request_id=uid("r"), employee_id=emp, course_id=cid),
                                             metadata=lms.metadata)
    assert (done.status, done.version) == ("completed", 2) and done.credential_id.startswith("cred-")
    cred = done.credential
    assert (cred.credential_id, cred.course_title, [s.skill_id for s in cred.skills]) == (
        done.credential_id, "Data Analysis", ["data-analysis", "sql"])
    assert cred.issued_at == done.completed_at and done.completed_at.seconds >= done.enrolled_at.seconds
    again = await lms.learning.CompleteCourse(L.CompleteCourseRequest(employee_id=emp, course_id=cid), metadata=lms.metadata)
    assert again == done  # one completion, one credential
    assert await me.learning.GetEnrollment(L.GetEnrollmentRequest(employee_id=emp, course_id=cid), metadata=me.metadata) == done
    mine = await me.learning.ListEnrollments(L.ListEnrollmentsRequest(employee_id=emp), metadata=me.metadata)
    assert [e.course_id for e in mine.enrollments] == [cid]

    enrolled_ev = await stack.log.wait_for("learning.course-enrolled", emp)
    assert enrolled_ev[0].payload.course_id == cid and enrolled_ev[0].event.version == 1
    completed = await stack.log.wait_for("learning.course-completed", emp)
    verified = await stack.log.wait_for("profile.skill-verified", emp, 2)
    await stack.log.quiet(1.0)
    assert len(stack.log.of("learning.course-completed", emp)) == 1 and len(stack.log.of("profile.skill-verified", emp)) == 2
    comp = completed[0]
    assert (comp.payload.credential_id, comp.event.version, comp.env.source) == (done.credential_id, 2, "learning")
    assert [(v.payload.skill.skill_id, v.payload.skill.level, v.event.version) for v in verified] == [
        ("data-analysis", 3, 2), ("sql", 2, 3)]
    for v in verified:
        assert v.env.correlation_id == comp.env.correlation_id and v.env.causation_id == comp.event.event_id
        assert v.payload.course_id == cid and v.payload.skill.source == common_pb2.EVIDENCE_SOURCE_COURSE
    profile = await c.profile.GetEmployee(P.GetEmployeeRequest(employee_id=emp), metadata=c.metadata)
    assert [(r.skill.skill_id, r.skill.status, r.evidence[0].reference) for r in profile.skills] == [
        ("data-analysis", common_pb2.SKILL_STATUS_VERIFIED, cid), ("sql", common_pb2.SKILL_STATUS_VERIFIED, cid)]
    history = await c.profile.ListEmployeeHistory(P.ListEmployeeHistoryRequest(employee_id=emp), metadata=c.metadata)
    assert [(h.event_type, h.correlation_id) for h in history.entries][1:] == [
        ("profile.skill-verified", comp.env.correlation_id)] * 2


BAD_INPUT = [
    ("PublishCourse", course_req(title=""), Code.INVALID_ARGUMENT, "title"),
    ("PublishCourse", course_req(hours=-1), Code.INVALID_ARGUMENT, "hours"),
    ("PublishCourse", course_req(hours=0), Code.INVALID_ARGUMENT, "hours"),
    ("PublishCourse", course_req(teaches=()), Code.INVALID_ARGUMENT, "at least one skill"),
    ("PublishCourse", course_req(teaches=(("sequel", 2),)), Code.INVALID_ARGUMENT, "teaches[0].skill"),
    ("PublishCourse", course_req(teaches=(("sql", 0),)), Code.INVALID_ARGUMENT, "between 1 and 5"),
    ("PublishCourse", course_req(teaches=(("sql", 6),)), Code.INVALID_ARGUMENT, "between 1 and 5"),
    ("PublishCourse", course_req(teaches=(("sql", 2), ("SQL", 3))), Code.INVALID_ARGUMENT, "twice"),
    ("PublishCourse", course_req("Bad Id"), Code.INVALID_ARGUMENT, "course_id"),
    ("PublishCourse", course_req("{course}", title="New", expected_version=7), Code.ABORTED, "stale"),
    ("PublishCourse", course_req("{course}", title="New", request_id="{rid}"), Code.ALREADY_EXISTS, "request_id"),
    ("GetCourse", L.GetCourseRequest(), Code.INVALID_ARGUMENT, "course_id is required"),
    ("GetCourse", L.GetCourseRequest(course_id="nope"), Code.NOT_FOUND, "no course"),
    ("RetireCourse", L.RetireCourseRequest(course_id="nope"), Code.NOT_FOUND, "no course"),
    ("RetireCourse", L.RetireCourseRequest(course_id="{course}", expected_version=5), Code.ABORTED, "stale"),
    ("ListCourses", L.ListCoursesRequest(page_size=-1), Code.INVALID_ARGUMENT, "page_size"),
    ("FindCourses", L.FindCoursesRequest(), Code.INVALID_ARGUMENT, "skill is required"),
    ("Enroll", L.EnrollRequest(course_id="{course}"), Code.INVALID_ARGUMENT, "employee_id is required"),
    ("Enroll", L.EnrollRequest(employee_id="E1"), Code.INVALID_ARGUMENT, "course_id is required"),
    ("Enroll", L.EnrollRequest(employee_id="E1", course_id="nope"), Code.NOT_FOUND, "no course"),
    ("CompleteCourse", L.CompleteCourseRequest(employee_id="E1", course_id="nope"), Code.NOT_FOUND, "no course"),
    ("CompleteCourse", L.CompleteCourseRequest(course_id="{course}"), Code.INVALID_ARGUMENT, "employee_id"),
    ("GetEnrollment", L.GetEnrollmentRequest(employee_id="E1", course_id="{course}"), Code.NOT_FOUND, "not enrolled"),
    ("GetEnrollment", L.GetEnrollmentRequest(employee_id="E1"), Code.INVALID_ARGUMENT, "required"),
    ("ListEnrollments", L.ListEnrollmentsRequest(), Code.INVALID_ARGUMENT, "employee_id is required"),
    ("ListEnrollments", L.ListEnrollmentsRequest(employee_id="E1", page_size=-2), Code.INVALID_ARGUMENT, "page_size"),
    ("Replay", common_pb2.ReplayRequest(), Code.PERMISSION_DENIED, "replay"),
]


@pytest.mark.parametrize("rpc,request_msg,code,fragment", BAD_INPUT,
                         ids=[f"{r}-{i}" for i, (r, *_rest) in enumerate(BAD_INPUT)])
async def test_bad_input_is_refused_with_a_message_and_writes_nothing(stack, rpc, request_msg, code, fragment):
    cid, rid = f"c-{uid('x').lower()}", uid("r")
    await publish(stack, course_req(cid, request_id=rid))
    msg = type(request_msg)()
    msg.CopyFrom(request_msg)
    for f, v in msg.ListFields():
        if isinstance(v, str):
            setattr(msg, f.name, v.replace("{course}", cid).replace("{rid}", rid))
    c = stack.as_("E1") if rpc == "Replay" else stack.clients
    await expect_error(getattr(c.learning, rpc)(msg, metadata=c.metadata), code, fragment)
    course = await stack.clients.learning.GetCourse(L.GetCourseRequest(course_id=cid), metadata=stack.clients.metadata)
    assert course.version == 1 and not course.retired
