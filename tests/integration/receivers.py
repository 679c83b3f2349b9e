"""Real receivers on loopback for the notifier's external channels.

* ``SmtpReceiver``: an aiosmtpd SMTP server (its own thread and loop) that keeps
  every message it accepted, parsed; ``refuse_next`` makes it answer the next
  DATA commands with a temporary failure.
* ``WebhookReceiver``: an aiohttp server in the test's loop. ``POST /hook/<name>``
  is recorded with its headers and JSON body; per name, ``plan(name, [500, 500])``
  answers those statuses first (then 200), and ``hold(name)`` keeps requests
  waiting until ``release(name)``.

Both count what they accepted by idempotency key (Message-ID / Idempotency-Key),
so a test can tell "one message" from "one message, twice". Both stop with their
context manager; nothing outlives the test module.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from aiohttp import web

from itm.devstack import free_port


@dataclass
class Mail:
    envelope_to: list[str]
    message: email.message.EmailMessage
    message_id: str  # read once: parsing headers again on every count is slow enough to starve a test's loop

    def part(self, subtype: str) -> str:
        body = self.message.get_body(preferencelist=(subtype,))
        assert body is not None and body.get_content_subtype() == subtype, f"no text/{subtype} part"
        return body.get_content().replace("\r\n", "\n")


class SmtpReceiver:
    def __init__(self):
        self.port = free_port()
        self.mails: list[Mail] = []
        self.refuse_next = 0
        self.delay_s = 0.0  # per accepted message: a slow relay
        self._lock = threading.Lock()
        self._controller = None

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd handler hook
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        with self._lock:
            if self.refuse_next > 0:
                self.refuse_next -= 1
                return "451 4.3.0 try again later"
            msg = email.message_from_bytes(envelope.original_content or envelope.content, policy=email.policy.default)
            self.mails.append(Mail(list(envelope.rcpt_tos), msg, str(msg["Message-ID"])))
        return "250 2.0.0 OK"

    def __enter__(self) -> SmtpReceiver:
        from aiosmtpd.controller import Controller

        self._controller = Controller(self, hostname="127.0.0.1", port=self.port, ready_timeout=10)
        self._controller.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._controller is not None:
            self._controller.stop()

    def to(self, address: str) -> list[Mail]:
        with self._lock:
            return [m for m in self.mails if address in m.envelope_to]

    def by_id(self) -> Counter:
        with self._lock:
            return Counter(m.message_id for m in self.mails)

    async def wait_for(self, address: str, count: int = 1, timeout_s: float = 30) -> list[Mail]:
        deadline = time.monotonic() + timeout_s
        while len(got := self.to(address)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"after {timeout_s}s {address} has {len(got)} emails, expected {count}")
            await asyncio.sleep(0.1)
        return got


@dataclass
class Hook:
    name: str
    headers: dict[str, str]
    body: dict
    status: int  # what the receiver answered

    @property
    def key(self) -> str:
        return self.headers.get("Idempotency-Key", "")


@dataclass
class WebhookReceiver:
    port: int = field(default_factory=free_port)
    requests: list[Hook] = field(default_factory=list)
    _plans: dict[str, list[int]] = field(default_factory=dict)
    _holds: dict[str, asyncio.Event] = field(default_factory=dict)
    delay_s: float = 0.0  # per request: a slow receiver
    _runner: web.AppRunner | None = None

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/hook/{name}"

    def plan(self, name: str, statuses: list[int]) -> None:
        self._plans[name] = list(statuses)

    def hold(self, name: str) -> None:
        self._holds[name] = asyncio.Event()

    def release(self, name: str) -> None:
        if name in self._holds:
            self._holds.pop(name).set()

    async def _handle(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        body = await request.json()
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        hold = self._holds.get(name)
        if hold is not None:
            await hold.wait()
        plan = self._plans.get(name)
        status = plan.pop(0) if plan else 200
        self.requests.append(Hook(name, dict(request.headers), body, status))
        return web.Response(status=status, text="ok" if status < 300 else "nope")

    async def __aenter__(self) -> WebhookReceiver:
        app = web.Application()
        app.router.add_post("/hook/{name}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def __aexit__(self, *exc) -> None:
        for event in self._holds.values():
            event.set()
        if self._runner is not None:
            await self._runner.cleanup()

    def to(self, name: str, accepted_only: bool = True) -> list[Hook]:
        return [h for h in self.requests if h.name == name and (h.status < 300 or not accepted_only)]

    def accepted_by_key(self, prefix: str = "") -> Counter:
        return Counter(h.key for h in self.requests if h.status < 300 and h.name.startswith(prefix))

    async def wait_for(self, name: str, count: int = 1, timeout_s: float = 30, accepted_only: bool = True) -> list[Hook]:
        deadline = time.monotonic() + timeout_s
        while len(got := self.to(name, accepted_only)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"after {timeout_s}s hook {name} has {len(got)} requests, expected {count}")
            await asyncio.sleep(0.05)
        return got
