"""The browser harness itself: Debian's chromium is what runs, axe-core fails an inaccessible page,
screenshots land where the run says."""

from __future__ import annotations

import subprocess

import pytest
from aiohttp import web

from itm.devstack import free_port

GOOD = """<!doctype html><html lang="en"><head><title>Good</title></head><body><main>
<h1>Sign in</h1><form><label for="who">Who</label><input id="who" name="who">
<button type="submit">Continue</button></form></main></body></html>"""

BAD = """<!doctype html><html><head><title>Bad</title></head><body>
<img src="/x.png"><input name="who"><p style="color:#bbb;background:#fff">faint text</p>
<button></button></body></html>"""


def page_of(html: str):
    async def handler(request: web.Request) -> web.Response:
        return web.Response(text=html, content_type="text/html")
    return handler


@pytest.fixture
async def pages():
    app = web.Application()
    app.router.add_get("/good", page_of(GOOD))
    app.router.add_get("/bad", page_of(BAD))
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_the_browser_is_debians_chromium(browser, browser_type_launch_args):
    path = browser_type_launch_args["executable_path"]
    version = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30).stdout
    assert browser.version.split(".")[0] in version, (browser.version, version)


async def test_axe_passes_an_accessible_page_and_refuses_an_inaccessible_one(page, pages, a11y, screenshot):
    await page.goto(f"{pages}/good")
    await a11y(page, "good page")
    shot = await screenshot(page, "harness-good")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    await page.goto(f"{pages}/bad")
    with pytest.raises(AssertionError) as refused:
        await a11y(page, "bad page")
    for rule in ("image-alt", "label", "button-name"):
        assert rule in str(refused.value), str(refused.value)
