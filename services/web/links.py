"""The paths the notifier puts in notifications (ITM_PUBLIC_BASE_URL + path, services/notifier/render.py)
and the pages that serve them, so every link in a notification opens the right page.

* ``/opportunities/{opportunity_id}``: the opportunity (views/employee.py), with the person's match;
* ``/courses/{course_id}``: the course (views/employee.py).

A test (tests/unit/test_web_links.py) renders each kind of notification and checks that every link
it holds is a route of the console.
"""

from __future__ import annotations

OPPORTUNITY = "/opportunities/{opportunity_id}"
COURSE = "/courses/{course_id}"
NOTIFICATION_PATHS = (OPPORTUNITY, COURSE)


def local(url: str, public_base_url: str) -> str:
    """A link the notifier wrote (``ITM_PUBLIC_BASE_URL`` + path) as a path on this console, so it opens here
    whichever host name the person used; other links unchanged."""
    base = public_base_url.rstrip("/")
    if base and url.startswith(base + "/"):
        return url[len(base):]
    return url


def opportunity(opportunity_id: str) -> str:
    return OPPORTUNITY.format(opportunity_id=opportunity_id)


def course(course_id: str) -> str:
    return COURSE.format(course_id=course_id)
