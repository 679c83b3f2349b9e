"""The employee's console in a browser (issue 11 items 2, 6, 7): every page of Ana's (demo organisation,
seeded fresh) passes axe-core and is saved as a screenshot, at desktop and phone width; her "You're 80%
qualified" toast arrives the moment her course completes and her match changes in place, without a
reload; apply and withdraw from the opportunity page; a service's error shown next to the field it names
with what she typed kept. Real services, Debian's chromium."""

from __future__ import annotations

import re
import uuid

import pytest
from _stack import matched
from playwright.async_api import expect

from itm import demo

pytestmark = pytest.mark.timeout(600)  # a module stack of six processes on a contended machine

GIG = "Data Analyst (Marketing)"
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}


async def organisation(stack) -> dict:
    suffix = f"-{uuid.uuid4().hex[:6]}"
    posted = await demo.seed(stack.clients, suffix)
    ana = f"{demo.DEMO_EMPLOYEE}{suffix}"
    await matched(stack.clients, ana, posted[GIG], timeout_s=90)
    return {"ana": ana, "gig": posted[GIG], "course": f"{demo.DEMO_COURSE}{suffix}", "posted": posted}


@pytest.fixture
async def org(console_stack):
    return await organisation(console_stack)


async def test_every_employee_page_is_accessible_and_screenshotted(console_stack, org, as_person, a11y, screenshot):
    url = console_stack.url
    page = await as_person(org["ana"])
    pages = {"employee-home": "/", "employee-matches": "/matches", "employee-profile": "/profile",
             "employee-opportunities": "/opportunities", "employee-opportunity": f"/opportunities/{org['gig']}",
             "employee-applications": "/applications", "employee-courses": "/courses",
             "employee-course": f"/courses/{org['course']}", "employee-notifications": "/notifications"}
    for name, path in pages.items():
        response = await page.goto(url + path)
        assert response.ok, f"{path}: {response.status}"
        await a11y(page, name)
        await screenshot(page, name)
    await expect(page.locator(f"#match-{org['gig']}")).to_have_count(0)  # on the notifications page
    await page.goto(url + "/matches")
    await expect(page.locator(f"#match-{org['gig']}")).to_have_attribute("data-score", "60")
    phone = await as_person(org["ana"], **PHONE)
    for name, path in (("employee-matches-phone", "/matches"), ("employee-profile-phone", "/profile"),
                       ("employee-opportunities-phone", "/opportunities")):
        await phone.goto(url + path)
        await a11y(phone, name)
        width = await phone.evaluate("() => document.documentElement.scrollWidth")
        assert width <= 390, f"{path} is {width}px wide at phone width (scrolls sideways)"
        await screenshot(phone, name)


async def test_the_toast_arrives_and_the_match_updates_without_a_reload(console_stack, org, as_person, screenshot):
    url = console_stack.url
    page = await as_person(org["ana"])
    await page.goto(url + "/matches")
    await expect(page.locator("body")).to_have_attribute("data-live", "1")
    await page.evaluate("() => { window.__same_page = true; }")
    card = page.locator(f"#match-{org['gig']}")
    await expect(card).to_have_attribute("data-score", "60")
    await expect(page.locator("#bell-count")).to_be_hidden()
    # she completes the course in another tab
    other = await page.context.new_page()
    await other.goto(url + f"/courses/{org['course']}")
    await other.locator("#complete").click()
    await expect(other.locator("#completed")).to_be_visible()
    # (the stack holds other organisations' gigs of the same title, which she may cross too)
    toast = page.locator(f"#toasts .toast[data-opportunity='{org['gig']}']", has_text="80% qualified")
    await expect(toast).to_be_visible(timeout=60_000)
    await expect(toast.locator("strong")).to_contain_text(GIG)
    await expect(page.locator("#bell-count")).to_have_text(re.compile(r"^[1-9]\d*$"))
    await expect(card).to_have_attribute("data-score", "80", timeout=30_000)
    assert await page.evaluate("() => window.__same_page === true"), "the page was reloaded"
    await screenshot(page, "employee-live-toast", full_page=False)
    # the toast's link opens the opportunity
    await toast.get_by_role("link", name="Open").click()
    await expect(page.locator("#opportunity")).to_have_attribute("data-id", org["gig"])
    await expect(page.locator("#my-match")).to_have_attribute("data-score", "80")


async def test_apply_withdraw_and_an_error_next_to_its_field(console_stack, org, as_person):
    url = console_stack.url
    page = await as_person(org["ana"])
    await page.goto(url + f"/opportunities/{org['gig']}")
    await page.get_by_label("A note to the owner").fill("I would love to help with the SQL.")
    await page.get_by_role("button", name="Apply", exact=True).click()
    await expect(page.locator("#form-error, #error-message")).to_have_count(0)  # else: the refusal, named
    await expect(page.locator("#application-status")).to_contain_text("submitted")
    await page.goto(url + "/applications")
    await expect(page.locator(f"#app-{org['gig']}")).to_contain_text(GIG)
    await page.goto(url + f"/opportunities/{org['gig']}")
    await page.get_by_role("button", name="Withdraw my application").click()
    await expect(page.locator("#application-status")).to_contain_text("withdrawn")
    # an unknown skill: the profile service's message next to the skill field, what she typed kept
    await page.goto(url + "/profile")
    await page.get_by_label("Skill", exact=True).fill("qwxzy unknownium")
    await page.get_by_label("Level").select_option("4")
    await page.get_by_label("Aspirational: I want it").check()
    await page.get_by_role("button", name="Add skill").click()
    await expect(page.locator("#skill-error")).to_be_visible()
    await expect(page.get_by_label("Skill", exact=True)).to_have_value("qwxzy unknownium")
    await expect(page.get_by_label("Skill", exact=True)).to_have_attribute("aria-invalid", "true")
    await expect(page.get_by_label("Level")).to_have_value("4")
    await expect(page.get_by_label("Aspirational: I want it")).to_be_checked()
    # a real one, through the autocomplete's suggestions, lands in the table
    await page.get_by_label("Skill", exact=True).fill("pyth")
    await expect(page.locator("#skill-options option[value='Python']")).to_have_count(1)
    await page.get_by_label("Skill", exact=True).fill("Python")
    await page.get_by_label("Claimed: I have it").check()
    await page.get_by_role("button", name="Add skill").click()
    await expect(page.locator("#skills-table tr[data-skill='python']")).to_contain_text("claimed")
