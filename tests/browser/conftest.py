"""Browser tests: Playwright (pytest-playwright's asyncio flavour) driving Debian's chromium.

Never a downloaded browser: chromium is launched from its executable path
(``ITM_CHROMIUM``, default ``/usr/bin/chromium``; `make test` installs Debian's
package with apt when it is missing). pytest-playwright's options still apply
(``--headed``, ``--slowmo``); its ``browser``, ``context`` and ``page`` fixtures
are the ones used here.

Helpers for the tests:

* ``a11y(page, label)``: runs the vendored axe-core (tests/browser/vendor/axe-core,
  pinned, MPL-2.0) in the page and fails on any serious or critical violation,
  naming the rule, the elements and how to fix them;
* ``screenshot(page, name)``: a full-page PNG under ``ITM_ARTIFACTS_DIR``
  (default ``.itm/artifacts/screenshots``), its path printed, kept after the run.

Tests under tests/browser get the ``browser`` marker.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sys
from pathlib import Path

import pytest
from playwright.async_api import expect

BROWSER_DIR = Path(__file__).parent
ROOT = BROWSER_DIR.parents[1]
AXE_PATH = BROWSER_DIR / "vendor" / "axe-core" / "axe.min.js"
AXE_SHA256 = "29348999450cdf2849a8e70b7912fc2da85a849da39c0d0d5394f51d4a9ed95c"  # axe-core 4.14.1
BLOCKING_IMPACTS = ("serious", "critical")
SERVICES = ("profile", "opportunity", "learning", "matcher", "notifier")
# a page whose form posts to three services and redirects can take seconds on a machine shared by many
# processes; the tests wait for what must appear (never a fixed sleep), just longer than Playwright's 5 s
WAIT_MS = 30_000
expect.set_options(timeout=WAIT_MS)
sys.path.insert(0, str(BROWSER_DIR.parent / "integration"))  # _stack, _web: the integration tests' harness


def chromium_path() -> str:
    path = os.environ.get("ITM_CHROMIUM", "/usr/bin/chromium")
    found = shutil.which(path)
    if not found:
        pytest.fail(f"no chromium at {path}: the browser tests drive Debian's chromium package. "
                    "Install it with `apt-get install -y chromium` (`make test` does when run as root) "
                    "or point ITM_CHROMIUM at a chromium binary.", pytrace=False)
    return found


def artifacts_dir() -> Path:
    path = Path(os.environ.get("ITM_ARTIFACTS_DIR") or ROOT / ".itm" / "artifacts" / "screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


def pytest_configure(config: pytest.Config) -> None:
    # pytest-playwright-asyncio 0.10's own base_url fixture, nothing of ours
    config.addinivalue_line("filterwarnings", "ignore:Session-scoped fixtures defined as instance methods")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if BROWSER_DIR in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    """pytest-playwright's launch options plus Debian's chromium by path (never `playwright install`)."""
    return {**browser_type_launch_args, "executable_path": chromium_path(),
            "args": ["--no-sandbox", "--disable-dev-shm-usage"]}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict) -> dict:
    return {**browser_context_args, "viewport": {"width": 1280, "height": 860}, "locale": "en-GB",
            "timezone_id": "UTC"}


_axe_source: str | None = None


def axe_source() -> str:
    global _axe_source
    if _axe_source is None:
        data = AXE_PATH.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        assert digest == AXE_SHA256, f"{AXE_PATH} is not the pinned axe-core (sha256 {digest})"
        _axe_source = data.decode()
    return _axe_source


async def axe_violations(page) -> list[dict]:
    """axe-core's violations for the page as it is now (WCAG 2.x A/AA and best practices)."""
    if not await page.evaluate("() => typeof window.axe === 'object'"):
        await page.evaluate(axe_source())  # through the devtools protocol: a page's CSP does not block it
    return await page.evaluate("""async () => {
        const result = await window.axe.run(document, {resultTypes: ['violations']});
        return result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
            nodes: v.nodes.slice(0, 5).map(n => ({target: n.target.join(' '), summary: n.failureSummary}))}));
    }""")


def describe(violations: list[dict]) -> str:
    lines = []
    for v in violations:
        lines.append(f"- [{v['impact']}] {v['id']}: {v['help']} ({v['helpUrl']})")
        lines.extend(f"    {n['target']}: {(n['summary'] or '').splitlines()[-1].strip()}" for n in v["nodes"])
    return "\n".join(lines)


@pytest.fixture
def a11y():
    """``await a11y(page, "what this page is")``: no serious or critical axe-core violation."""

    async def check(page, label: str = "") -> list[dict]:
        violations = await axe_violations(page)
        blocking = [v for v in violations if v["impact"] in BLOCKING_IMPACTS]
        assert not blocking, f"axe-core on {label or page.url}:\n{describe(blocking)}"
        return violations

    return check


@pytest.fixture
def screenshot():
    """``await screenshot(page, "owner-candidates")``: a full-page PNG kept as a test artifact."""

    async def shoot(page, name: str, full_page: bool = True) -> Path:
        path = artifacts_dir() / f"{name}.png"
        await page.screenshot(path=str(path), full_page=full_page)
        print(f"screenshot: {path}")
        return path

    return shoot


# --------------------------------------------------------------------------- the real stack


@pytest.fixture(scope="module")
async def console_stack(infra, tmp_path_factory, request):
    """The five services and the console as real processes (one stack per test module).
    ``.url`` is the console's address; ``.clients`` calls the services as a service identity."""
    from _stack import ModuleStack, all_topics
    from _web import start_console

    from itm.devstack import free_port

    stack = ModuleStack(infra, tmp_path_factory.mktemp("browser"))
    web_port = free_port()  # known up front: the notifier's links (ITM_PUBLIC_BASE_URL) open the console
    services = {name: {} for name in SERVICES}
    services["notifier"] = {"public_base_url": f"http://127.0.0.1:{web_port}"}
    await stack.start(services, all_topics("match.", "opportunity.", "learning."))
    stack.console = await start_console(stack, ITM_HTTP_PORT=web_port)
    stack.url = stack.console.http_url
    yield stack
    await stack.close(failed=request.session.testsfailed > 0)


_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]*)">')


async def sign_in(context, base_url: str, person_id: str, role: str = "employee") -> None:
    """Sign ``context`` (every page of it) in as a person through the dev sign-in, as its form does."""
    page = await context.request.get(f"{base_url}/signin")
    token = _CSRF.search(await page.text()).group(1)
    done = await context.request.post(f"{base_url}/signin/dev", form={
        "person_id": person_id, "role": role, "_csrf": token, "next": "/"})
    assert done.ok, f"dev sign-in as {person_id} ({role}) answered {done.status}"


@pytest.fixture
async def as_person(browser, browser_context_args, console_stack):
    """``page = await as_person("E1", "employee")``: a page in its own browser context, signed in."""
    contexts = []

    async def open_as(person_id: str, role: str = "employee", **context_args):
        context = await browser.new_context(**{**browser_context_args, **context_args})
        contexts.append(context)
        context.set_default_timeout(WAIT_MS)
        await sign_in(context, console_stack.url, person_id, role)
        return await context.new_page()

    yield open_as
    for context in contexts:
        await context.close()
