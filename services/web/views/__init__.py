"""Pages by role. Each module here exposes ``routes(app)``; ``register`` adds them all.

employee.py (the person's own pages) is always there; manager.py, owner.py and hr.py
(and oidc.py beside this package) are registered when present, so each role's pages
live in their own file.
"""

from __future__ import annotations

import importlib

from aiohttp import web

MODULES = ("services.web.views.employee", "services.web.views.manager", "services.web.views.owner",
           "services.web.views.hr", "services.web.oidc")


def register(app: web.Application) -> None:
    for name in MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:  # the module exists and something it imports is missing
                raise
            continue
        module.routes(app)
