"""Typed keys of the console's aiohttp application (what modules share through ``request.app``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from services.web.settings import WebSettings

SETTINGS = web.AppKey("settings", WebSettings)
CHANNELS = web.AppKey("channels", object)  # clients.ServiceChannels
TEMPLATES = web.AppKey("templates", object)  # jinja2.Environment
SIGNIN_URL = web.AppKey("signin_url", str)  # production sign-in entry (oidc.py sets it)
# called on sign-out with (request, session); may return a URL to send the browser to (RP-initiated logout)
SIGNOUT_HOOKS = web.AppKey("signout_hooks", list[Callable[..., Awaitable[str | None]]])
# per role: [(path, label)] added to the navigation by the views modules
NAV = web.AppKey("nav", dict)
