"""The matcher's agents, without a broker: no record crashes them (issue 15 item 1).

A record whose handling raises is tried ``ITM_CONSUMER_MAX_ATTEMPTS`` times and then
dead-lettered with the reason; broker errors are retried without limit; the partition
in hand shows as stalled past ``ITM_CONSUMER_STALL_S`` and clears when it moves on.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from aiokafka import TopicPartition
from aiokafka.errors import KafkaConnectionError

from itm.runtime.consumer import PartitionProgress
from itm.runtime.settings import Settings
from services.matcher.app import MatcherApp


def _app(**settings) -> MatcherApp:
    app = MatcherApp(Settings(retry_max_backoff_s=0.01, **settings))
    app.letters = []

    async def dead_letter(event, reason):
        app.letters.append(reason)

    app.dead_letter = dead_letter
    return app


def _event(offset: int = 7):
    return SimpleNamespace(message=SimpleNamespace(topic="p.profile.skill-added", partition=3, offset=offset),
                           key=b"E1", value=b"", headers={})


def test_a_record_whose_handling_keeps_raising_is_dead_lettered_after_the_attempts():
    app = _app(consumer_max_attempts=3)
    calls = []

    async def handle(event):
        calls.append(event)
        raise ZeroDivisionError("float division by zero")

    app.handle = handle
    asyncio.run(app.handle_guarded(_event()))
    assert len(calls) == 3
    assert app.letters == ["failed 3 times in matcher: ZeroDivisionError: float division by zero"]


def test_a_record_that_fails_once_is_handled_on_the_retry_without_a_dead_letter():
    app = _app(consumer_max_attempts=3)
    calls = []

    async def handle(event):
        calls.append(event)
        if len(calls) == 1:
            raise KeyError("x")

    app.handle = handle
    asyncio.run(app.handle_guarded(_event()))
    assert len(calls) == 2 and app.letters == []


def test_broker_errors_are_retried_beyond_the_attempts_and_never_dead_lettered():
    app = _app(consumer_max_attempts=2)
    calls = []

    async def handle(event):
        calls.append(event)
        if len(calls) < 6:
            raise KafkaConnectionError("broker away")

    app.handle = handle
    asyncio.run(app.handle_guarded(_event()))
    assert len(calls) == 6 and app.letters == []


def test_a_partition_held_past_the_stall_limit_is_stalled_until_it_moves_on():
    progress = PartitionProgress(Settings(consumer_stall_s=5), "matcher.match")
    tp = TopicPartition("p.profile.skill-added", 3)
    progress.holding(tp, 7)
    (since,) = [s for _, s in progress._in_hand.values()]
    assert progress.stalled(since + 4) == {}
    progress.holding(tp, 7)  # the same record again (a crash loop): keeps its age
    assert progress.stalled(since + 6) == {tp: (7, 6)}
    progress.holding(tp, 8)  # the next record: a new age
    (since8,) = [s for _, s in progress._in_hand.values()]
    assert since8 > since and progress.stalled(since8 + 4) == {}
    progress.done(tp)
    assert progress.stalled(since + 1000) == {}


def test_a_partition_is_committed_up_to_its_oldest_record_whose_copies_are_not_all_acknowledged():
    from services.matcher.app import Unacked

    async def scenario():
        loop = asyncio.get_running_loop()
        unacked, tp, other = Unacked(), TopicPartition("t", 0), TopicPartition("t", 1)
        futs = {offset: loop.create_future() for offset in (5, 6, 7)}
        for offset, fut in futs.items():
            unacked.add(tp, offset, fut)
        assert unacked.oldest(tp) == 5 and unacked.oldest(other) is None and len(unacked) == 3
        futs[6].set_result(None)  # acknowledged out of order: 5 still holds the commit
        assert unacked.oldest(tp) == 5 and len(unacked) == 2
        waiting = asyncio.ensure_future(unacked.wait_oldest())
        await asyncio.sleep(0)
        assert not waiting.done()
        futs[5].set_result(None)
        await asyncio.wait_for(waiting, 1)
        assert unacked.oldest(tp) == 7
        futs[7].set_result(None)
        assert unacked.oldest(tp) is None and len(unacked) == 0

    asyncio.run(scenario())


def test_broadcast_copies_the_broker_refused_are_sent_again_until_it_takes_them():
    app = _app()
    sent = []

    async def send(key, value, partition):
        sent.append(partition)
        fut = asyncio.get_running_loop().create_future()
        if sent.count(partition) == 1 and partition in (2, 5):  # refused the first time
            fut.set_exception(KafkaConnectionError("broker away"))
        else:
            fut.set_result(None)
        return fut

    async def scenario():
        app.broadcast_topic = SimpleNamespace(send=send)
        copies = {p: await send(b"O1", b"v", p) for p in range(8)}
        await asyncio.wait_for(app.deliver_copies(b"O1", b"v", copies), 5)

    asyncio.run(scenario())
    assert sorted(sent) == sorted(list(range(8)) + [2, 5])
