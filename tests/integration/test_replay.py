"""Broker loss and the replay path: the embedded broker keeps nothing across a
restart while Redis (AOF) keeps everything, as after losing a Kafka cluster."""

from __future__ import annotations

import asyncio

import grpc

from itm.cli import REPLAY_ORDER, _replay
from itm.client import Clients
from itm.demo import first_notification, seed
from itm.devstack import DevStack
from itm.runtime.settings import Settings
from itm.v1 import matcher_pb2, notifier_pb2


async def test_restart_on_an_empty_broker_rebuilds_the_matcher_without_duplicate_pushes(tmp_path):
    settings = Settings()
    first = DevStack(tmp_path / "stack", healthy_timeout=60)
    await asyncio.to_thread(first.start)
    try:
        c = Clients.connect({n: p.grpc_target for n, p in first.services.items()}, settings)
        posted = await seed(c)
        gig = posted["Data Analyst (Marketing)"]
        await first_notification(c, "E105", gig, timeout_s=60)
        await c.close()
    finally:
        await asyncio.to_thread(first.stop)

    second = DevStack(tmp_path / "stack", healthy_timeout=60)  # same Redis data, fresh broker
    await asyncio.to_thread(second.start)
    try:
        targets = {n: p.grpc_target for n, p in second.services.items()}
        replayed = await _replay(targets, settings, REPLAY_ORDER)
        assert replayed == {"learning": 6, "opportunity": 3, "profile": 7}  # six employees and their manager
        c = Clients.connect(targets, settings)
        async with asyncio.timeout(60):
            while True:  # the matcher was empty; replay rebuilds its state
                try:
                    mine = await c.matcher.MyMatches(matcher_pb2.MyMatchesRequest(employee_id="E105"),
                                                     metadata=c.metadata)
                    if mine.matches:
                        break
                except grpc.aio.AioRpcError as exc:
                    assert exc.code() == grpc.StatusCode.NOT_FOUND
                await asyncio.sleep(0.5)
        assert (mine.matches[0].opportunity_id, mine.matches[0].score_percent) == (gig, 93)
        await asyncio.sleep(3)  # time for a (wrong) second push to arrive
        inbox = await c.notifier.ListInbox(notifier_pb2.ListInboxRequest(employee_id="E105"), metadata=c.metadata)
        assert [n.opportunity_id for n in inbox.notifications].count(gig) == 1
        await c.close()
    finally:
        await asyncio.to_thread(second.stop)
