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
