"""The employee's pages of the web console over real HTTP (issue 11 items 2, 6, 7), against the real
profile, opportunity, learning, matcher and notifier processes with the demo organisation seeded.

Profile (skills with status and evidence, adding claimed/aspirational skills, autocomplete, preferences,
visibility), matches with their explanation, search with filters and match percent, apply and withdraw,
applications, courses, the live stream relayed through the console (a push arrives, Last-Event-ID resumes
without repeats), mark read, every notification link opening its page, API errors next to their field with
the typed input kept, and another person's data refused with the 403 page.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid

import aiohttp
import pytest
from _stack import ModuleStack, matched
from _web import Browser, start_console

from itm import demo
from itm.v1 import opportunity_pb2 as O

pytestmark = pytest.mark.integration

SERVICES = ("profile", "opportunity", "learning", "matcher", "notifier")
GIG = "Data Analyst (Marketing)"


@pytest.fixture(scope="module")
async def stack(infra, tmp_path_factory, request):
    s = ModuleStack(infra, tmp_path_factory.mktemp("web-employee"))
    await s.start({name: {} for name in SERVICES}, [])
    s.console = await start_console(s)
    s.base = s.console.http_url
    yield s
    await s.close(failed=request.session.testsfailed > 0)


@pytest.fixture
async def org(stack):
    """A fresh demo organisation (its own suffix): ids of Ana, her course and the three postings."""
    suffix = f"-{uuid.uuid4().hex[:6]}"
    posted = await demo.seed(stack.clients, suffix)
    ana = f"{demo.DEMO_EMPLOYEE}{suffix}"
    await matched(stack.clients, ana, posted[GIG])
    return {"suffix": suffix, "ana": ana, "course": f"{demo.DEMO_COURSE}{suffix}", "posted": posted,
            "gig": posted[GIG]}


@pytest.fixture
async def ana(stack, org):
    b = Browser(stack.base)
    await b.sign_in(org["ana"])
    yield b
    await b.close()


def section(html: str, element_id: str) -> str:
    """The element with this id, up to the end of the page (enough for `in` checks)."""
    at = html.find(f'id="{element_id}"')
    assert at >= 0, f"no #{element_id} on the page"
    return html[at:]


async def test_profile_shows_skills_with_status_level_and_evidence(ana, org):
    page = await ana.get("/profile")
    assert page.status == 200
    table = section(page.text, "skills-table")
    assert 'data-skill="data-analysis"' in table and "verified" in table and "claimed" in table
    assert "manager" in table and "M1" in table  # the evidence: verified by the manager M1


async def test_add_claimed_and_aspirational_skills_and_errors_keep_what_was_typed(ana):
    added = await ana.post("/profile/skills", {"skill": "python", "level": "2", "status": "claimed"})
    assert added.status == 200 and added.url.endswith("/profile")
    assert 'data-skill="python"' in added.text
    wanted = await ana.post("/profile/skills", {"skill": "kubernetes", "level": "3", "status": "aspirational"})
    row = section(wanted.text, "skills-table").split('data-skill="kubernetes"', 1)[1].split("</tr>", 1)[0]
    assert "aspirational" in row
    # the profile service refuses an unknown skill: its message next to the skill field, the text kept
    refused = await ana.post("/profile/skills", {"skill": "qwxzy unknownium", "level": "4", "status": "claimed"})
    assert refused.status == 400
    err = re.search(r'id="skill-error"[^>]*>([^<]+)<', refused.text)
    assert err and "qwxzy" in err.group(1).lower() or "skill" in err.group(1).lower()
    assert 'value="qwxzy unknownium"' in refused.text and 'aria-invalid="true"' in refused.text
    assert re.search(r'<option value="4" selected>', refused.text)


async def test_autocomplete_from_the_taxonomy(ana):
    status, body = await ana.json("/api/skills?q=pyth")
    assert status == 200 and any(s["id"] == "python" for s in body["skills"])
    status, body = await ana.json("/api/skills?q=stakeholder%20man")
    assert any(s["id"] == "stakeholder-management" for s in body["skills"])


async def test_preferences_and_visibility(ana, stack, org):
    page = await ana.get("/profile")
    version = re.search(r'name="version" value="(\d+)"', page.text).group(1)
    saved = await ana.post("/profile/preferences", {"version": version, "threshold_percent": "70", "types": ["1", "2"],
                                                     "mentoring_opt_in": "1"})
    assert saved.status == 200
    assert 'id="threshold_percent" name="threshold_percent" inputmode="numeric" value="70"' in saved.text
    assert re.search(r'name="types" value="1" checked', saved.text) and 'id="mentoring_opt_in" value="1" checked' \
        in saved.text
    bad = await ana.post("/profile/preferences", {"version": "0", "threshold_percent": "0", "types": ["3"]})
    assert bad.status == 400 and 'id="prefs-threshold_percent-error"' in bad.text
    assert 'value="0"' in bad.text and re.search(r'name="types" value="3" checked', bad.text)
    page = await ana.get("/profile")
    version = re.search(r'name="version" value="(\d+)"', page.text).group(1)
    hidden = await ana.post("/profile/visibility", {"version": version, "hidden_from_owners": "1"})
    assert 'id="hidden_from_owners" value="1" checked' in hidden.text


async def test_matches_ranked_with_credit_gaps_learning_path_and_projection(ana, org):
    page = await ana.get("/matches")
    assert page.status == 200
    card = section(page.text, f"match-{org['gig']}")
    assert 'data-score="60"' in card
    assert "Credit" in card and "SQL" in card and "must-have" in card
    assert "Learning path" in card and "SQL for Analysts" in card and "then 100%" in card
    assert 'href="/courses/sql-for-analysts' in card  # this org's course or an earlier one's (same skills)


async def test_search_filters_and_shows_my_match(ana, org):
    page = await ana.get("/opportunities?type=1&skill=sql&department=Marketing")
    assert page.status == 200
    results = section(page.text, "results")
    assert f'id="opp-{org["gig"]}"' in results and "60%" in results
    assert org["posted"]["Platform Migration Project"] not in results  # a project, not a gig
    none = await ana.get("/opportunities?type=2&department=Marketing&min_hours=1&max_hours=2")
    assert f'id="opp-{org["gig"]}"' not in none.text
    bad = await ana.get("/opportunities?skill=qwxzy%20unknownium")
    assert bad.status == 400 and 'id="skill-error"' in bad.text and 'value="qwxzy unknownium"' in bad.text


async def test_apply_withdraw_and_my_applications(ana, org):
    detail = await ana.get(f"/opportunities/{org['gig']}")
    assert detail.status == 200 and 'id="apply"' in detail.text and "Your match: 60%" in detail.text
    request_id = re.search(r'name="request_id" value="([0-9a-f]+)"', detail.text).group(1)
    applied = await ana.post(f"/opportunities/{org['gig']}/apply", {"note": "keen", "request_id": request_id})
    assert applied.status == 200 and "submitted" in section(applied.text, "application-status")
    again = await ana.post(f"/opportunities/{org['gig']}/apply", {"note": "keen", "request_id": request_id})
    assert again.status == 200  # the same form twice is one application
    mine = await ana.get("/applications")
    assert f'id="app-{org["gig"]}"' in mine.text and GIG in mine.text
    version = re.search(r'name="version" value="(\d+)"', section(mine.text, f"app-{org['gig']}")).group(1)
    out = await ana.post(f"/applications/{org['gig']}:{org['ana']}/withdraw", {"version": version,
                                                                                "back": "/applications"})
    assert out.url.endswith("/applications") and "withdrawn" in section(out.text, f"app-{org['gig']}")


async def test_someone_elses_application_is_refused_with_the_403_page(stack, org):
    ben = f"E101{org['suffix']}"
    as_ben = stack.as_(ben)
    await as_ben.opportunity.Apply(O.ApplyRequest(request_id=uuid.uuid4().hex, opportunity_id=org["gig"],
                                                  employee_id=ben), metadata=as_ben.metadata)
    b = Browser(stack.base)
    try:
        await b.sign_in(org["ana"])
        refused = await b.post(f"/applications/{org['gig']}:{ben}/withdraw", {"version": "0"})
        assert refused.status == 403 and 'id="error"' in refused.text
    finally:
        await b.close()


async def sse_events(resp: aiohttp.ClientResponse):
    """(event, id, data) of each event the response streams."""
    name, event_id, data = "message", "", []
    async for raw in resp.content:
        line = raw.decode().rstrip("\n")
        if not line:
            if data:
                yield name, event_id, json.loads("\n".join(data))
            name, event_id, data = "message", "", []
        elif line.startswith("event: "):
            name = line[7:]
        elif line.startswith("id: "):
            event_id = line[4:]
        elif line.startswith("data: "):
            data.append(line[6:])


async def next_notification(events, about: str = "", timeout_s: float = 60):
    """The next notification event (about this opportunity, when given: the stack holds other
    organisations' postings, which Ana may cross too)."""
    async with asyncio.timeout(timeout_s):
        async for name, event_id, data in events:
            if name == "notification" and data["opportunity_id"] == (about or data["opportunity_id"]):
                return event_id, data
    raise AssertionError("stream ended")


async def test_live_push_through_the_console_resumes_with_last_event_id_and_links_open(stack, org, ana):
    stream = await ana.session.get(stack.base + "/notifications/stream", timeout=aiohttp.ClientTimeout(total=None))
    assert stream.status == 200 and stream.headers["Content-Type"].startswith("text/event-stream")
    events = sse_events(stream)
    course = await ana.get(f"/courses/{org['course']}")
    assert 'id="complete"' in course.text
    done = await ana.post(f"/courses/{org['course']}/complete", {})
    assert 'id="completed"' in done.text
    event_id, note = await next_notification(events, org["gig"])
    stream.close()
    assert note["opportunity_id"] == org["gig"] and "80%" in (note["title"] + note["body"])
    assert event_id == note["id"]
    # the bell: one unread; the inbox lists it
    status, body = await ana.json("/api/notifications/unread")
    assert body["unread"] >= 1
    inbox = await ana.get("/notifications")
    assert f'id="note-{note["id"]}"' in inbox.text
    # every link in it opens the right page of the console
    for link in [note["link"], *note["course_links"]]:
        path = re.sub(r"^https?://[^/]+", "", link)
        opened = await ana.get(path)
        assert opened.status == 200, (link, opened.status)
    assert (await ana.get(re.sub(r"^https?://[^/]+", "", note["link"]))).text.count(f'data-id="{org["gig"]}"') == 1
    # reconnecting with Last-Event-ID: no repeat of what came before it; the next one arrives
    resumed = await ana.session.get(stack.base + "/notifications/stream", headers={"Last-Event-ID": event_id},
                                    timeout=aiohttp.ClientTimeout(total=None))
    events = sse_events(resumed)
    as_ana = stack.as_(org["ana"])
    app = await as_ana.opportunity.Apply(O.ApplyRequest(
        request_id=uuid.uuid4().hex, opportunity_id=org["gig"], employee_id=org["ana"]), metadata=as_ana.metadata)
    await stack.clients.opportunity.DeclineApplication(O.DeclineApplicationRequest(
        application_id=app.application_id, reason="seat filled"), metadata=stack.clients.metadata)
    seen = []
    async with asyncio.timeout(60):
        while not seen or "seat filled" not in seen[-1][1]["body"]:
            seen.append(await next_notification(events))
    resumed.close()
    def position(i):
        return tuple(int(p) for p in i.split("-"))

    assert all(position(i) > position(event_id) for i, _ in seen), (event_id, seen)
    assert note["id"] not in [n["id"] for _, n in seen]
    # mark read: the bell goes down
    await ana.get("/notifications")
    await ana.post("/notifications/read", {"all": "1"})
    status, body = await ana.json("/api/notifications/unread")
    assert body["unread"] == 0


async def test_stream_refuses_a_malformed_last_event_id_and_needs_a_session(stack, ana):
    bad = await ana.session.get(stack.base + "/notifications/stream", headers={"Last-Event-ID": "x; drop"})
    assert bad.status == 400
    bad.close()
    anonymous = Browser(stack.base)
    try:
        async with anonymous.session.get(stack.base + "/notifications/stream", allow_redirects=False) as resp:
            assert resp.status == 303 and resp.headers["Location"].startswith("/signin")
    finally:
        await anonymous.close()


async def test_courses_page_and_enroll(ana, org):
    page = await ana.get("/courses")
    assert f'id="course-{org["course"]}"' in page.text and "SQL for Analysts" in page.text
    other = f"excel-advanced{org['suffix']}"
    detail = await ana.get(f"/courses/{other}")
    assert 'id="enroll"' in detail.text
    enrolled = await ana.post(f"/courses/{other}/enroll", {})
    assert "enrolled" in section(enrolled.text, "course-status") and 'id="enroll"' not in enrolled.text
