"""What the three systems of record (profile, opportunity, learning) share.

State lives in Redis as one serialized protobuf per entity with a version;
every change and its events commit in one MULTI/EXEC with the outbox, then the
relay publishes them. Creates are idempotent by client request id; updates
carry an expected version (a stale one is ABORTED).

Request ids: ``<kind>:request:<id>`` holds ``<entity id>|<fingerprint>`` for 7
days, written in the same MULTI as the entity. The fingerprint is a hash of
the caller and the request, so a retry of the same request returns the same
entity without a second event, and the same id reused for a *different*
request is refused (ALREADY_EXISTS) instead of silently returning something
else.
"""

from __future__ import annotations

import hashlib
import logging
import re
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
DEFAULT_PAGE = 50
REQUEST_TTL_S = 7 * 24 * 3600
MAX_REQUEST_ID = 128
ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


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

    def delete(self, pipe, entity_id: str) -> None:
        """Queue (inside MULTI) the removal of the entity and its index entry."""
        pipe.delete(self.key(entity_id))
        pipe.zrem(self.index, entity_id)

    async def page(self, page_size: int, page_token: str, index: str | None = None) -> tuple[list[M], str]:
        """Ids of ``index`` (default: all) in lexical order; the token is the last id
        of the previous page. Validate page_size first (``page_size_of``)."""
        size = max(1, min(page_size or DEFAULT_PAGE, MAX_PAGE))
        start = f"({page_token}" if page_token else "-"
        ids = await self.svc.redis.zrangebylex(index or self.index, start, "+", start=0, num=size + 1)
        more = len(ids) > size
        ids = ids[:size]
        items = await self.load_many([i.decode() for i in ids])
        return items, (ids[-1].decode() if more else "")

    async def load_many(self, ids: list[str]) -> list[M]:
        items = []
        if ids:
            for raw in await self.svc.redis.mget([self.key(i) for i in ids]):
                if raw is not None:
                    msg = self.cls()
                    msg.ParseFromString(raw)
                    items.append(msg)
        return items

    # -- idempotent creates ---------------------------------------------------------
    async def prior_request(self, reader, context, request_id: str, fp: str) -> str | None:
        """The entity id an earlier identical request created, or None; a reused id with a
        different request is ALREADY_EXISTS. Call inside the transaction, WATCHing the key."""
        if not request_id:
            return None
        raw = await reader.get(self.request_key(request_id))
        if raw is None:
            return None
        entity_id, _, stored = raw.decode().partition("|")
        if stored and stored != fp:
            await context.abort(
                grpc.StatusCode.ALREADY_EXISTS,
                f"request_id {request_id!r} was already used for a different request (it created "
                f"{self.kind} {entity_id}); send a new request_id for a new request",
            )
        return entity_id

    def remember_request(self, pipe, request_id: str, entity_id: str, fp: str) -> None:
        if request_id:
            pipe.set(self.request_key(request_id), f"{entity_id}|{fp}", ex=REQUEST_TTL_S)
            pipe.sadd(self.requests_of(entity_id), request_id)  # so erasure finds them
            pipe.expire(self.requests_of(entity_id), REQUEST_TTL_S)

    def requests_of(self, entity_id: str) -> str:
        return self.svc.settings.key(f"{self.kind}:{entity_id}:requests")

    async def erase(self, pipe, *entity_ids: str) -> None:
        """Right to erasure: call before MULTI (it reads), then it starts the MULTI and queues
        the deletion of the entities, their index entries and the request-id keys naming them."""
        request_ids = {e: [r.decode() for r in await pipe.smembers(self.requests_of(e))] for e in entity_ids}
        pipe.multi()
        for entity_id, requests in request_ids.items():
            self.delete(pipe, entity_id)
            pipe.delete(self.requests_of(entity_id), *[self.request_key(r) for r in requests])

    async def all_ids(self) -> list[str]:
        return [i.decode() for i in await self.svc.redis.zrange(self.index, 0, -1)]


def fingerprint(request: Message, caller: str = "") -> str:
    """What makes two requests "the same" for idempotency: the caller and every field."""
    h = hashlib.sha256()
    h.update(caller.encode())
    h.update(b"\0" + request.DESCRIPTOR.full_name.encode() + b"\0")
    h.update(request.SerializeToString(deterministic=True))
    return h.hexdigest()[:32]


async def check_request_id(context, request_id: str) -> None:
    if len(request_id) > MAX_REQUEST_ID:
        await invalid(context, f"request_id is longer than {MAX_REQUEST_ID} characters")


async def check_version(context, kind: str, entity_id: str, current: int, expected: int) -> None:
    if expected < 0:
        await invalid(context, f"expected_version must be >= 0 (0 = no check), got {expected}")
    if expected and expected != current:
        await context.abort(
            grpc.StatusCode.ABORTED,
            f"stale write: {kind} {entity_id} is at version {current}, the request expected {expected}; "
            "re-read it and retry",
        )


async def invalid(context, message: str):
    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, message)


async def failed_precondition(context, message: str):
    await context.abort(grpc.StatusCode.FAILED_PRECONDITION, message)


async def check_id(context, value: str, field: str) -> str:
    """A required identifier: letters, digits, '.', '_', '@', '-' (max 64)."""
    if not value:
        await invalid(context, f"{field} is required")
    if len(value) > 64:  # not repeated back (issue 16 item 5)
        await invalid(context, f"{field} is longer than 64 characters ({len(value)}); ids are 1-64 letters, digits, "
                               "'.', '_', '@' or '-'")
    if not ID_RE.match(value):
        await invalid(context, f"{field} {value[:80]!r} must be 1-64 letters, digits, '.', '_', '@' or '-', "
                               "starting with a letter or digit")
    return value


async def check_text(context, value: str, field: str, max_len: int = 200, required: bool = False) -> str:
    if required and not value.strip():
        await invalid(context, f"{field} is required")
    if len(value) > max_len:
        await invalid(context, f"{field} is longer than {max_len} characters ({len(value)})")
    return value


async def page_size_of(context, page_size: int) -> int:
    if page_size < 0:
        await invalid(context, f"page_size must be >= 0 (0 = {DEFAULT_PAGE}, at most {MAX_PAGE}), got {page_size}")
    return max(1, min(page_size or DEFAULT_PAGE, MAX_PAGE))


MAX_OFFSET_DIGITS = 9  # an offset past 10**9 is no list's; a longer one failed in Redis (ZRANGE takes int64)


async def offset_token(context, token: str) -> int:
    """Page tokens that are offsets (derived lists): a non-negative integer."""
    if not token:
        return 0
    if not (token.isascii() and token.isdigit() and len(token) <= MAX_OFFSET_DIGITS):
        await invalid(context, "page_token is not one this service issued; "
                               "pass next_page_token from the previous page")
    return int(token)


async def check_past(context, ts, field: str) -> None:
    """A timestamp that is set must not lie in the future (a minute of clock skew allowed)."""
    import time

    if ts.seconds and ts.seconds > time.time() + 60:
        await invalid(context, f"{field} lies in the future ({ts.ToJsonString()})")


def now_ts():
    from google.protobuf.timestamp_pb2 import Timestamp

    ts = Timestamp()
    ts.GetCurrentTime()
    return ts


def check_level(level: int, what: str = "level") -> str | None:
    if not 1 <= level <= 5:
        return f"{what} must be between 1 and 5, got {level}"
    return None


async def canonical_skill(context, text: str, field: str = "skill") -> str:
    """Normalise a skill id, name or alias; INVALID_ARGUMENT with suggestions if unknown."""
    from itm.taxonomy import Taxonomy, UnknownSkill

    if not text or not text.strip():
        await invalid(context, f"{field} is required")
    try:
        return Taxonomy.configured().normalise(text)
    except UnknownSkill as exc:
        await invalid(context, f"{field}: {exc}" if field != "skill" else str(exc))


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
