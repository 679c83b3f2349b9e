"""The web console's core over real HTTP (issue 11 item 1): a real console process against the real
profile, opportunity, learning, matcher and notifier processes.

Session cookie (signed, HttpOnly, SameSite=Lax; a tampered one is a visitor), CSRF on every
state-changing form (403 page), the dev sign-in (and its refusal outside dev mode), sign-out,
calls made with the signed-in person's identity, health reporting the services it calls,
/metrics, the error pages.
"""

from __future__ import annotations

import urllib.request

import pytest
from _stack import ModuleStack, uid
from _web import Browser, start_console

from itm.devstack import grpc_health
from itm.v1 import profile_pb2 as P

pytestmark = pytest.mark.integration

SERVICES = ("profile", "opportunity", "learning", "matcher", "notifier")


@pytest.fixture(scope="module")
async def stack(infra, tmp_path_factory, request):
    s = ModuleStack(infra, tmp_path_factory.mktemp("web-console"))
    await s.start({name: {} for name in SERVICES}, [])
    s.console = await start_console(s)
    yield s
    await s.close(failed=request.session.testsfailed > 0)


@pytest.fixture
async def browser(stack):
    b = Browser(stack.console.http_url)
    yield b
    await b.close()


async def employee(stack, name="Ana Test"):
    emp_id = uid("E")
    await stack.clients.profile.CreateEmployee(P.CreateEmployeeRequest(
        employee_id=emp_id, name=name, department="Marketing", location="Lisbon", hours_available_per_week=8),
        metadata=stack.clients.metadata)
    return emp_id


async def test_visitor_is_sent_to_sign_in_and_sees_the_demo_people(browser):
    page = await browser.get("/")
    assert page.url.endswith("/signin") and page.status == 200
    for person in ("signin-E100", "Ana Ribeiro", "signin-M1", "signin-hr-admin", 'id="person_id"'):
        assert person in page.text
    later = await browser.get("/matches?sort=x&y=1")
    assert "/signin?next=" in later.url and 'name="next" value="/matches?sort=x&amp;y=1"' in later.text
    back = await browser.post("/signin/dev", {"person_id": "E100", "role": "employee",
                                              "next": "/matches?sort=x&y=1"})
    assert back.url.endswith("/matches?sort=x&y=1")


async def test_session_cookie_is_signed_httponly_lax_and_carries_the_person(stack, browser):
    emp_id = await employee(stack, "Ana Cookie")
    page = await browser.sign_in(emp_id)
    assert page.status == 200 and page.url.rstrip("/") == stack.console.http_url
    assert 'id="greeting">Hello, Ana Cookie<' in page.text  # read from the profile service as the person
    cookie = browser.cookie()
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and cookie["path"] == "/"
    # tampering with the payload breaks the signature: the console sees a visitor
    payload, _, mac = cookie.value.partition(".")
    forged = Browser(stack.console.http_url)
    try:
        forged.session.cookie_jar.update_cookies({"itm_session": payload[:-2] + "xx." + mac})
        assert (await forged.get("/")).url.endswith("/signin")
    finally:
        await forged.close()


async def test_forms_without_the_csrf_token_are_refused_with_the_403_page(stack, browser):
    await browser.get("/signin")
    refused = await browser.post("/signin/dev", {"person_id": "E100", "role": "employee"}, csrf=False)
    assert refused.status == 403 and 'id="error"' in refused.text and "security token" in refused.text
    wrong = await browser.post("/signin/dev", {"person_id": "E100", "role": "employee", "_csrf": "not-it"})
    assert wrong.status == 403
    other_site = await browser.post("/signin/dev", {"person_id": "E100", "role": "employee"},
                                    headers={"Origin": "http://evil.example"})
    assert other_site.status == 403 and "another site" in other_site.text
    assert not (browser.cookie() and '"subject":"E100"' in browser.cookie().value)
    emp_id = await employee(stack)
    await browser.sign_in(emp_id)
    assert (await browser.post("/signout", {}, csrf=False)).status == 403  # still signed in
    assert (await browser.get("/")).url.rstrip("/") == stack.console.http_url


async def test_sign_in_gets_a_fresh_csrf_token_and_sign_out_ends_the_session(stack, browser):
    emp_id = await employee(stack)
    before = (await browser.get("/signin")).csrf
    home = await browser.sign_in(emp_id)
    assert home.csrf and home.csrf != before  # a token planted before sign-in is not kept
    out = await browser.post("/signout", {})
    assert out.url.endswith("/signin")
    assert (await browser.get("/")).url.endswith("/signin")


async def test_dev_sign_in_form_errors_are_shown_next_to_the_field_and_typed_input_kept(browser):
    await browser.get("/signin")
    page = await browser.post("/signin/dev", {"person_id": "bad id!", "role": "wizard"})
    assert page.status == 400
    assert 'id="person_id-error"' in page.text and 'id="role-error"' in page.text
    assert 'value="bad id!"' in page.text and 'aria-invalid="true"' in page.text


async def test_a_person_without_a_profile_and_the_next_target(stack, browser):
    await browser.get("/signin?next=//evil.example/x")
    page = await browser.post("/signin/dev", {"person_id": "M1", "role": "manager", "next": "//evil.example/x"})
    assert page.url.rstrip("/") == stack.console.http_url  # no open redirect
    assert 'id="no-profile"' in page.text and "Manager" in page.text


async def test_error_pages(browser, stack):
    await browser.sign_in(await employee(stack))
    missing = await browser.get("/no/such/page")
    assert missing.status == 404 and 'id="error"' in missing.text and "no page at this address" in missing.text
    status, body = await browser.json("/api/no-such-thing")
    assert status == 404 and body["status"] == 404


async def test_health_reports_each_service_it_calls_and_metrics_are_served(stack, browser):
    with urllib.request.urlopen(f"{stack.console.http_url}/healthz", timeout=5) as resp:
        import json

        body = json.loads(resp.read())
    assert body["service"] == "web" and body["healthy"]
    assert set(body["dependencies"]) == set(SERVICES)
    assert all(body["dependencies"].values()), body
    for name in SERVICES:
        assert grpc_health(stack.console.grpc_target, service=f"itm.{name}") == (True, "SERVING")
    await browser.get("/signin")
    with urllib.request.urlopen(f"{stack.console.http_url}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    assert 'itm_web_requests_total{code="200",method="GET",route="/signin"}' in text
    assert 'itm_dependency_up{dependency="notifier"} 1.0' in text


async def test_production_refuses_the_dev_sign_in(stack):
    prod = await start_console(stack, instance="prod", environment="production",
                               auth_jwks_url="http://127.0.0.1:9/jwks.json", public_base_url="https://itm.example.com",
                               web_session_secret="a-production-secret-of-at-least-32-chars",
                               web_cookie_secure="false")  # plain http here; Secure is the default (unit test)
    b = Browser(prod.http_url)
    try:
        page = await b.get("/signin")
        assert page.status == 503  # no OIDC provider configured in this test: the page says so
        refused = await b.post("/signin/dev", {"person_id": "E100", "role": "employee"})
        assert refused.status == 403 and "only in dev mode" in refused.text
        assert (await b.get("/")).url.endswith("/signin")
    finally:
        await b.close()
        prod.stop()
