"""The live delivery loop of one connection, against an in-memory inbox and a
controllable clock: catch-up, live pushes, holds (quiet hours, channel off,
digest) and the too-far-behind rule."""

from __future__ import annotations

import asyncio
import time

import pytest

from itm.v1 import notifier_pb2
from services.notifier import prefs as policy
from services.notifier.stream import TooFarBehind, Waker, deliveries


class FakeInbox:
    def __init__(self):
        self.notes: list[notifier_pb2.Notification] = []
        self.prefs = policy.defaults("E1")
        self.waker = Waker()
        self.reads: list[int] = []

    def add(self, n: int = 1, prefs_change: bool = False) -> list[str]:
        ids = []
        for _ in range(n):
            i = len(self.notes) + 1
            self.notes.append(notifier_pb2.Notification(notification_id=f"{i}-0", title=f"n{i}", kind="match.threshold-crossed"))
            ids.append(f"{i}-0")
        self.waker.wake(prefs=prefs_change)
        return ids

    async def page(self, employee_id, after_id, count):
        self.reads.append(count)
        start = int(after_id.split("-")[0]) if after_id else 0
        return [n for n in self.notes if int(n.notification_id.split("-")[0]) > start][:count]

    async def load_prefs(self, employee_id):
        out = notifier_pb2.NotificationPreferences()
        out.CopyFrom(self.prefs)
        return out


class Clock:
    """Real time shifted by an offset, so holds end after a short real wait."""

    def __init__(self, at: float | None = None):
        self.offset = 0.0 if at is None else at - time.time()

    def __call__(self) -> float:
        return time.time() + self.offset


class Conn:
    """A connection's delivery loop, read without ever cancelling it mid-step."""

    def __init__(self, gen):
        self.gen = gen
        self.pending: asyncio.Future | None = None

    def _next(self) -> asyncio.Future:
        if self.pending is None:
            self.pending = asyncio.ensure_future(self.gen.__anext__())
        return self.pending

    async def item(self, timeout: float):
        fut = self._next()
        await asyncio.wait({fut}, timeout=timeout)
        if not fut.done():
            raise TimeoutError
        self.pending = None
        return fut.result()

    async def take(self, n: int, timeout: float = 2.0):
        out = []
        while len(out) < n:
            item = await self.item(timeout)
            if item is not None:
                out.append(item)
        return out

    async def nothing_within(self, seconds: float) -> bool:
        try:
            item = await self.item(seconds)
        except TimeoutError:
            return True
        return item is None  # a heartbeat is nothing

    async def close(self):
        if self.pending is not None:
            self.pending.cancel()
            await asyncio.gather(self.pending, return_exceptions=True)
        else:
            await self.gen.aclose()


def start(inbox: FakeInbox, after_id: str = "", clock=None, **kw) -> Conn:
    kw.setdefault("page_size", 10)
    kw.setdefault("lag_limit", 5)
    kw.setdefault("heartbeat_s", 30)
    return Conn(deliveries("E1", after_id, inbox.waker, inbox.page, inbox.load_prefs, clock=clock or time.time, **kw))


async def test_resume_gets_exactly_what_was_missed_in_order_then_live_pushes():
    inbox = FakeInbox()
    inbox.add(25)
    gen = start(inbox, after_id="20-0")
    got = await gen.take(5)
    assert [p.note.notification_id for p in got] == ["21-0", "22-0", "23-0", "24-0", "25-0"]
    assert not any(p.live for p in got)  # catch-up does not count for push latency
    inbox.add(2)
    live = await gen.take(2)
    assert [p.note.notification_id for p in live] == ["26-0", "27-0"] and all(p.live for p in live)
    await gen.close()


async def test_a_long_catch_up_is_paged_and_never_counts_as_falling_behind():
    inbox = FakeInbox()
    inbox.add(37)  # far more than lag_limit=5
    gen = start(inbox)
    got = await gen.take(37)
    assert [p.note.notification_id for p in got] == [f"{i}-0" for i in range(1, 38)]
    assert max(inbox.reads) == 10  # pages, not the whole stream
    await gen.close()


async def test_a_live_client_more_than_the_buffer_behind_is_told_to_resume_from_its_last_id():
    inbox = FakeInbox()
    inbox.add(2)
    gen = start(inbox)
    await gen.take(2)
    inbox.add(3)
    await gen.take(1)       # the client is slow: it took one of three...
    inbox.add(6)             # ...and meanwhile more than lag_limit piled up behind it
    await gen.take(2)       # the rest of the page it had already read
    with pytest.raises(TooFarBehind) as err:
        await gen.take(1)
    assert err.value.last_id == "5-0" and err.value.behind == 6


async def test_quiet_hours_hold_live_pushes_until_they_end_then_deliver_in_order():
    now = time.time()
    hour_end = (int(now) // 3600 + 1) * 3600
    inbox = FakeInbox()
    h = time.gmtime(hour_end - 1).tm_hour
    inbox.prefs.quiet_hours.CopyFrom(notifier_pb2.QuietHours(enabled=True, start_hour=h, end_hour=(h + 1) % 24, timezone="UTC"))
    clock = Clock(at=hour_end - 0.6)  # quiet hours end 0.6 s from now
    inbox.add(3)
    gen = start(inbox, after_id="3-0", clock=clock)  # a connection open during quiet hours
    assert await gen.nothing_within(0.05)  # caught up: nothing after 3-0
    inbox.add(2)
    assert await gen.nothing_within(0.3)
    got = await gen.take(2, timeout=2)
    assert [p.note.notification_id for p in got] == ["4-0", "5-0"] and not any(p.live for p in got)
    assert clock() >= hour_end
    await gen.close()


async def test_connecting_during_quiet_hours_still_catches_up():
    inbox = FakeInbox()
    h = time.gmtime().tm_hour
    inbox.prefs.quiet_hours.CopyFrom(notifier_pb2.QuietHours(enabled=True, start_hour=h, end_hour=(h + 2) % 24))
    inbox.add(2)
    gen = start(inbox)
    assert [p.note.notification_id for p in await gen.take(2)] == ["1-0", "2-0"]
    inbox.add(1)
    assert await gen.nothing_within(0.2)  # live push held
    await gen.close()


async def test_turning_the_in_app_channel_back_on_releases_what_was_held():
    inbox = FakeInbox()
    inbox.prefs.channels.in_app = False
    gen = start(inbox)
    assert await gen.nothing_within(0.05)
    inbox.add(7)  # more than lag_limit: held notifications are owed, not lag
    assert await gen.nothing_within(0.2)
    inbox.prefs.channels.in_app = True
    inbox.waker.wake(prefs=True)
    got = await gen.take(7)
    assert [p.note.notification_id for p in got] == [f"{i}-0" for i in range(1, 8)]
    await gen.close()


async def test_digest_mode_pushes_one_message_per_period_with_everything_since_the_last():
    inbox = FakeInbox()
    inbox.prefs.delivery = policy.DIGEST
    inbox.prefs.digest_period_seconds = 5
    boundary = (int(time.time()) // 5 + 1) * 5
    clock = Clock(at=boundary + 5 - 0.5)  # the next boundary after connecting is 0.5 s away
    gen = start(inbox, clock=clock)
    assert await gen.nothing_within(0.05)
    inbox.add(3)
    assert await gen.nothing_within(0.2)
    [digest] = await gen.take(1, timeout=2)
    note = digest.note
    assert note.kind == "digest" and note.title == "3 new notifications"
    assert [n.notification_id for n in note.items] == ["1-0", "2-0", "3-0"] and note.notification_id == "3-0"
    assert note.body.splitlines() == ["- n1", "- n2", "- n3"]
    await gen.close()


async def test_digest_catch_up_on_connect_comes_as_digests():
    inbox = FakeInbox()
    inbox.prefs.delivery = policy.DIGEST
    inbox.add(12)
    gen = start(inbox, after_id="1-0")
    first, second = await gen.take(2)
    assert len(first.note.items) == 10 and first.note.notification_id == "11-0"
    assert [n.notification_id for n in second.note.items] == ["12-0"]
    await gen.close()


async def test_an_idle_connection_gets_heartbeats():
    inbox = FakeInbox()
    gen = start(inbox, heartbeat_s=0.1)
    assert await gen.item(1) is None
    await gen.close()


async def test_heartbeats_read_nothing_and_the_preferences_refresh_reads_again():
    """An idle connection does not re-read its inbox at each heartbeat (thousands of idle
    connections did hundreds of reads a second); the preferences' refresh still reads once."""
    inbox = FakeInbox()
    gen = start(inbox, heartbeat_s=0.05, prefs_refresh_s=0.6)
    assert await gen.item(1) is None
    reads = len(inbox.reads)  # the catch-up's one read
    for _ in range(4):
        assert await gen.item(1) is None
    assert len(inbox.reads) == reads
    inbox.add(1)
    assert [p.note.notification_id for p in await gen.take(1)] == ["1-0"]
    reads = len(inbox.reads)
    await asyncio.sleep(0.8)  # past the refresh: one more read (a lost wake is picked up there)
    assert await gen.nothing_within(0.2)
    assert len(inbox.reads) > reads
    await gen.close()


async def test_a_category_routed_away_from_in_app_is_not_pushed_live_but_stays_for_catch_up():
    inbox = FakeInbox()
    inbox.prefs.routes.add(category=notifier_pb2.NOTIFICATION_CATEGORY_CROSSINGS, channels=[notifier_pb2.CHANNEL_EMAIL])
    inbox.add(2)
    gen = start(inbox)
    assert [p.note.notification_id for p in await gen.take(2)] == ["1-0", "2-0"]  # catch-up carries everything
    inbox.add(1)  # a crossing: email only
    inbox.notes.append(notifier_pb2.Notification(notification_id="4-0", kind="opportunity.approval-requested"))
    inbox.waker.wake()
    [live] = await gen.take(1)
    assert live.note.notification_id == "4-0" and live.live
    assert await gen.nothing_within(0.3)
    await gen.close()
