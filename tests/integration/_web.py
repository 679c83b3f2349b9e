"""Helpers for the web console's tests: start the console against a ModuleStack, and a small browser.

``start_console(stack, **env)`` runs ``python -m services.web`` (a real process)
pointed at the stack's services; ``Browser`` is an aiohttp client with a cookie
jar that reads each page's CSRF token (``<meta name="csrf-token">``) and sends it
with forms, as a browser submitting the page's forms would.
"""

from __future__ import annotations

import re

import aiohttp
from _stack import ModuleStack

from itm.devstack import ServiceProcess

TARGETS = ("profile", "opportunity", "learning", "matcher", "notifier")
_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]*)">')


async def start_console(stack: ModuleStack, instance: str | None = None, **env) -> ServiceProcess:
    """The console as a process of the stack (stopped, with its log shown on failure, by ``stack.close``)."""
    settings = {"ITM_SERVICE": "web", **stack.env("web")}
    for name in TARGETS:
        if name in stack.procs:
            settings[f"ITM_{name.upper()}_TARGET"] = stack.procs[name].grpc_target
    settings.update({k if k.isupper() else f"ITM_{k.upper()}": str(v) for k, v in env.items()})
    proc = ServiceProcess("web", settings, stack.root, instance=instance)
    stack.procs[proc.name] = proc
    proc.start(wait=False)
    await proc.wait_healthy_async(60)
    return proc


class Page:
    def __init__(self, status: int, url: str, text: str, headers, history):
        self.status, self.url, self.text, self.headers, self.history = status, url, text, headers, history

    @property
    def csrf(self) -> str:
        m = _CSRF.search(self.text)
        return m.group(1) if m else ""

    def __repr__(self) -> str:
        return f"<Page {self.status} {self.url}>"


class Browser:
    """Cookies kept, redirects followed, the last page's CSRF token sent with ``submit``."""

    def __init__(self, base_url: str):
        self.base_url = base_url.rstrip("/")
        self.session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.csrf = ""

    async def _page(self, resp: aiohttp.ClientResponse) -> Page:
        page = Page(resp.status, str(resp.url), await resp.text(), resp.headers, resp.history)
        if page.csrf:
            self.csrf = page.csrf
        return page

    async def get(self, path: str, **kw) -> Page:
        async with self.session.get(self.base_url + path, **kw) as resp:
            return await self._page(resp)

    async def post(self, path: str, data: dict | None = None, *, csrf: bool = True, **kw) -> Page:
        """A form post; the CSRF token of the last page is added unless ``csrf=False``."""
        form = dict(data or {})
        if csrf and "_csrf" not in form:
            if not self.csrf:
                await self.get("/signin")
            form["_csrf"] = self.csrf
        async with self.session.post(self.base_url + path, data=form, **kw) as resp:
            return await self._page(resp)

    async def json(self, path: str, **kw):
        async with self.session.get(self.base_url + path, headers={"Accept": "application/json"}, **kw) as resp:
            return resp.status, await resp.json()

    async def sign_in(self, person_id: str, role: str = "employee") -> Page:
        await self.get("/signin")
        return await self.post("/signin/dev", {"person_id": person_id, "role": role})

    def cookie(self, name: str = "itm_session"):
        return next((c for c in self.session.cookie_jar if c.key == name), None)

    async def close(self) -> None:
        await self.session.close()
