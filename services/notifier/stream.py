"""What one live connection receives, and when: the transport-neutral delivery loop.

A connection owns a cursor (the id of the last notification handed to its
transport) and pulls from the employee's inbox stream after it. Nothing is
queued per connection: the inbox in Redis is the buffer, and the connection
holds at most one page in memory while its transport writes. So a slow or
stalled client only delays itself and costs bounded memory.

1. Catch-up: everything after the resume id, in pages, whatever the
   preferences say (the client asked for it by connecting). In digest mode a
   page goes out as one digest.
2. Live: on each wake (a PUBLISH for this employee, on any instance) read what
   is new and push it (but not kinds whose category the person routes away from
   in-app, ``routing.wants_in_app``), unless pushes are held: in-app channel off, quiet hours
   (until they end), or digest mode (until the next period boundary, then one
   digest of everything since the cursor).
3. Too far behind: while live and caught up, a client that lets more than
   ``lag_limit`` notifications pile up behind its cursor (its transport writes
   could not keep up) gets ``TooFarBehind(cursor)``; the transport tells it to
   resume from that id. Catch-up and the release of held notifications are
   exempt: that backlog is not the client's doing.

The loop yields ``Push`` items, and ``None`` when the connection has been idle
for ``heartbeat_s`` (the transport may send a keep-alive).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

from itm.v1 import notifier_pb2
from services.notifier import prefs as policy
from services.notifier import routing
from services.notifier.render import render_digest

Page = Callable[[str, str, int], Awaitable[list[notifier_pb2.Notification]]]
Prefs = Callable[[str], Awaitable[notifier_pb2.NotificationPreferences]]


class TooFarBehind(Exception):
    def __init__(self, last_id: str, behind: int):
        super().__init__(f"resume from {last_id}")
        self.last_id = last_id
        self.behind = behind


@dataclass(slots=True)
class Push:
    note: notifier_pb2.Notification
    live: bool  # pushed as it landed (not catch-up, not released from a hold): counts for latency


@dataclass(eq=False)  # identity: one per connection, kept in sets
class Waker:
    """Set by the fan-out listener; ``prefs_stale`` when the employee's preferences changed."""

    event: asyncio.Event = field(default_factory=asyncio.Event)
    prefs_stale: bool = False

    def wake(self, prefs: bool = False) -> None:
        if prefs:
            self.prefs_stale = True
        self.event.set()


async def deliveries(
    employee_id: str,
    after_id: str,
    waker: Waker,
    page: Page,
    load_prefs: Prefs,
    *,
    page_size: int = 100,
    lag_limit: int = 256,
    heartbeat_s: float = 15.0,
    clock: Callable[[], float] = time.time,
    prefs_refresh_s: float = 60.0,
) -> AsyncIterator[Push | None]:
    cursor = after_id
    prefs = await load_prefs(employee_id)
    prefs_at = clock()
    catching_up = True  # the first drain after connecting: ignores holds
    draining = True     # a backlog is being read page by page
    exempt = True       # the backlog is owed (catch-up, released hold, digest), not the client's lag
    next_flush: float | None = None
    last_out = clock()

    while True:
        waker.event.clear()
        now = clock()
        if waker.prefs_stale or now - prefs_at >= prefs_refresh_s:
            waker.prefs_stale = False
            prefs = await load_prefs(employee_id)
            prefs_at = now
        digest = prefs.delivery == policy.DIGEST
        if not digest:
            next_flush = None
        wait_until = None if catching_up else policy.hold_until(prefs, now)
        if wait_until is None and digest and not catching_up and not draining:
            if next_flush is None:
                next_flush = policy.next_digest(prefs, now)
            if now >= next_flush:
                next_flush = policy.next_digest(prefs, now)
            else:
                wait_until = next_flush

        if wait_until is None:
            strict = not exempt and not digest
            count = lag_limit + 1 if strict else page_size
            notes = await page(employee_id, cursor, count)
            if strict and len(notes) > lag_limit:
                raise TooFarBehind(cursor, len(notes))
            if notes:
                # live, a category the person routes away from in-app is skipped (it stays in the inbox,
                # and a reconnecting client's catch-up still carries it)
                shown = notes if catching_up else [n for n in notes if routing.wants_in_app(prefs, n.kind)]
                if digest:
                    if shown:
                        yield Push(render_digest(employee_id, shown, now), live=False)
                    cursor = notes[-1].notification_id
                else:
                    keep = {id(n) for n in shown}
                    for note in notes:
                        if id(note) in keep:
                            yield Push(note, live=strict)
                        cursor = note.notification_id
                if shown:
                    last_out = clock()
            if len(notes) >= count:
                draining = True
                continue  # more behind the cursor
            catching_up = draining = exempt = False
        else:
            exempt = True  # what lands while held is owed when the hold ends

        # sleep until a wake, the end of a hold or the preferences' refresh (then read again); a
        # heartbeat alone reads nothing (5,000 idle connections re-reading their inbox at every
        # heartbeat were hundreds of Redis reads a second)
        while not waker.event.is_set():
            now = clock()
            due = prefs_at + prefs_refresh_s
            if wait_until is not None and wait_until != math.inf:
                due = min(due, wait_until)
            if now >= due:
                break
            try:
                await asyncio.wait_for(waker.event.wait(), max(0.0, min(due, last_out + heartbeat_s) - now))
            except TimeoutError:
                if clock() - last_out >= heartbeat_s:
                    last_out = clock()
                    yield None
