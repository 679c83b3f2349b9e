"""What the three systems of record (profile, opportunity, learning) share.

State lives in Redis as one serialized protobuf per entity with a version;
every change and its events commit in one MULTI/EXEC with the outbox, then the
relay publishes them. Creates are idempotent by client request id; updates
carry an expected version (a stale one is ABORTED).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

import grpc
from google.protobuf.message import Message

from itm.runtime.outbox import Outbox, OutboxRelay
from itm.runtime.redisx import transact
from itm.runtime.service import Service

log = logging.getLogger(__name__)

M = TypeVar("M", bound=Message)
T = TypeVar("T")

MAX_PAGE = 500


class DomainService(Service):
    def __init__(self, name: str, settings=None):
        super().__init__(name, settings)
        self.outbox = Outbox(self.settings)
        self.relay = OutboxRelay(self.settings, self.redis, self.outbox)
        self.add_task(self._publish)
        self.add_check("kafka", self._kafka_ok)
        self.on_shutdown.append(self.relay.drain)

    async def _kafka_ok(self) -> bool:
        return self.relay.kafka_ok

    async def _publish(self) -> None:
        # the broker may be down at start: writes still succeed into the outbox meanwhile
        await self.topics_ready.wait()
        await self.relay.run()

    async def wake_relay(self, _events=None) -> None:
        self.relay.poke()

    async def commit(self, watch: list[str], fn: Callable[..., Awaitable[T]]) -> T:
        """Run a read-validate-write transaction (see ``transact``), then wake the relay."""
        result = await transact(self.redis, watch, fn)
        self.relay.poke()
        return result


class EntityStore(Generic[M]):
    """Entities of one kind: ``<kind>:<id>`` → serialized proto, plus an id index."""

    def __init__(self, svc: Service, kind: str, cls: type[M], id_field: str):
        self.svc = svc
        self.kind = kind
        self.cls = cls
        self.id_field = id_field
        self.index = svc.settings.key(f"{kind}:index")

    def key(self, entity_id: str) -> str:
        return self.svc.settings.key(f"{self.kind}:{entity_id}")

    def request_key(self, request_id: str) -> str:
        return self.svc.settings.key(f"{self.kind}:request:{request_id}")

    async def load(self, reader, entity_id: str) -> M | None:
        raw = await reader.get(self.key(entity_id))
        if raw is None:
            return None
        msg = self.cls()
        msg.ParseFromString(raw)
        return msg

    async def require(self, reader, entity_id: str, context: grpc.aio.ServicerContext) -> M:
        if not entity_id:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"{self.id_field} is required")
        msg = await self.load(reader, entity_id)
        if msg is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no {self.kind} with id {entity_id!r}")
        return msg

    def store(self, pipe, msg: M) -> None:
        entity_id = getattr(msg, self.id_field)
        pipe.set(self.key(entity_id), msg.SerializeToString())
        pipe.zadd(self.index, {entity_id: 0})

    async def page(self, page_size: int, page_token: str) -> tuple[list[M], str]:
        """Ids in lexical order; the token is the last id of the previous page."""
        size = max(1, min(page_size or 50, MAX_PAGE))
        start = f"({page_token}" if page_token else "-"
        ids = await self.svc.redis.zrangebylex(self.index, start, "+", start=0, num=size + 1)
        more = len(ids) > size
        ids = ids[:size]
        items = []
        if ids:
            raws = await self.svc.redis.mget([self.key(i.decode()) for i in ids])
            for raw in raws:
                if raw is not None:
                    msg = self.cls()
                    msg.ParseFromString(raw)
                    items.append(msg)
        return items, (ids[-1].decode() if more else "")

    async def all_ids(self) -> list[str]:
        return [i.decode() for i in await self.svc.redis.zrange(self.index, 0, -1)]


async def check_version(context, kind: str, entity_id: str, current: int, expected: int) -> None:
    if expected and expected != current:
        await context.abort(
            grpc.StatusCode.ABORTED,
            f"stale write: {kind} {entity_id} is at version {current}, the request expected {expected}; "
            "re-read it and retry",
        )


async def invalid(context, message: str):
    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, message)


def check_level(level: int, what: str = "level") -> str | None:
    if not 1 <= level <= 5:
        return f"{what} must be between 1 and 5, got {level}"
    return None


async def canonical_skill(context, text: str) -> str:
    """Normalise a skill id, name or alias; INVALID_ARGUMENT with suggestions if unknown."""
    from itm.taxonomy import Taxonomy, UnknownSkill

    if not text or not text.strip():
        await invalid(context, "skill is required")
    try:
        return Taxonomy.load_default().normalise(text)
    except UnknownSkill as exc:
        await invalid(context, str(exc))


async def replay(svc: DomainService, store: EntityStore, envelopes_for: Callable[[Message], list]) -> int:
    """Re-emit every entity's current state through the outbox (consumer rebuild)."""
    count = 0
    for entity_id in await store.all_ids():
        entity = await store.load(svc.redis, entity_id)
        if entity is None:
            continue
        async with svc.redis.pipeline(transaction=True) as pipe:
            for env in envelopes_for(entity):
                env.replayed = True
                svc.outbox.add(pipe, env)
                count += 1
            await pipe.execute()
    svc.relay.poke()
    return count
