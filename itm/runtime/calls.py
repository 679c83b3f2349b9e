"""What every gRPC call goes through, in the handler's own task (one interceptor).

In order:

1. The request body must decode: one that does not is INVALID_ARGUMENT, before
   authentication (the deserializer never raises into gRPC, which would answer
   UNKNOWN with the parser's words).
2. Authentication (bearer JWT) and the per-identity rate limit; health and
   reflection are public.
3. The generic range checks of ``itm.runtime.validation`` (INVALID_ARGUMENT
   naming the field, never echoing the value).
4. A bound on the unary calls in progress (``ITM_MAX_CONCURRENT_CALLS``; up to
   ``ITM_MAX_QUEUED_CALLS`` more wait, beyond that RESOURCE_EXHAUSTED), so a
   burst queues here rather than in the Redis pool.
5. The handler. An exception that escapes it is mapped by ``itm.runtime.errors``
   (UNAVAILABLE, ABORTED, or INTERNAL with a logged reference), never UNKNOWN.
   Its error details are cut at ``MAX_DETAILS`` characters, so a message that
   quotes the request (a thousand unknown field paths) cannot echo huge input.
6. Metrics, and the audit stream: every state-changing call, and every call
   refused as UNAUTHENTICATED or PERMISSION_DENIED, with size-capped fields, in a
   stream capped at ``ITM_AUDIT_MAX_LEN``; refusals are recorded at most
   ``ITM_AUDIT_REFUSALS_PER_S`` per peer (the rest are counted in the next record
   of that peer and in ``itm_audit_suppressed_total``).

Every handler shape is wrapped as it is: unary or streaming requests, and
streaming responses written by an async generator or by a coroutine that calls
``context.write`` (grpc.health.v1's Watch does the latter).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import re
import time
from collections.abc import AsyncIterator

import grpc
from google.protobuf.message import Message
from prometheus_client import Counter

from itm.runtime import metrics
from itm.runtime.auth import PUBLIC_METHOD_PREFIXES, AuthError, RateLimiter, current_identity, identity_from_metadata
from itm.runtime.errors import status_for
from itm.runtime.settings import Settings
from itm.runtime.validation import Invalid, check_request

log = logging.getLogger(__name__)

READ_ONLY_PREFIXES = ("Get", "List", "Find", "My", "Best", "Subscribe", "Check", "Watch", "Search", "Score")
AUDIT_TARGET_FIELDS = ("employee_id", "opportunity_id", "course_id", "application_id", "subscription_id", "request_id")
AUDIT_FIELD_MAX = 128
REFUSALS = ("UNAUTHENTICATED", "PERMISSION_DENIED")
AUDIT_WRITE_FAILURES = Counter("itm_audit_write_failures_total", "Audit records that could not be written")
AUDIT_SUPPRESSED = Counter("itm_audit_suppressed_total",
                           "Refused calls not written to the audit stream because their peer exceeded its rate")
RATE_LIMITED = Counter("itm_rate_limited_total", "Calls refused by the per-identity rate limit", ["service"])
OVERLOADED = Counter("itm_grpc_overloaded_total", "Calls refused because too many were in progress and queued",
                     ["service"])


MAX_DETAILS = 1000
MAX_QUOTED = 64   # a value longer than an id (quoted, or one word) is not repeated back
QUOTED_PREFIX = 12
_QUOTED = re.compile(r"(?<!\w)'([^'\n]{%d,})'(?!\w)" % (MAX_QUOTED + 1))
_WORD = re.compile(r"[^\s']{%d,}" % (MAX_QUOTED + 1))


def _shortened(value: str) -> str:
    return f"{value[:QUOTED_PREFIX]}... ({len(value)} characters)"


def capped_details(details: str | None) -> str | None:
    """Error details for people: a quoted value or a word longer than ``MAX_QUOTED``
    characters (an oversized id, skill or token from the request) is cut to its first
    ``QUOTED_PREFIX`` characters and its length, so no refusal repeats oversized input;
    then at most MAX_DETAILS characters, saying how much was left out."""
    if details is None:
        return details
    if len(details) > MAX_QUOTED:
        details = _QUOTED.sub(lambda m: f"'{_shortened(m.group(1))}'", details)
        details = _WORD.sub(lambda m: _shortened(m.group(0)), details)
    if len(details) <= MAX_DETAILS:
        return details
    cut = f"... ({len(details)} characters in all)"
    return details[:MAX_DETAILS - len(cut)] + cut


class PeopleContext:
    """The servicer context a handler gets: the same, except that the details it aborts with
    or sets are capped (``capped_details``)."""

    __slots__ = ("_context",)

    def __init__(self, context):
        self._context = context

    def __getattr__(self, name):
        return getattr(self._context, name)

    async def abort(self, code, details="", trailing_metadata=()):
        await self._context.abort(code, capped_details(details), trailing_metadata)

    def set_details(self, details) -> None:
        self._context.set_details(capped_details(details))


class Undecodable:
    """Stands in for a request body that did not decode (see ``safe_deserializer``)."""

    __slots__ = ("type_name",)

    def __init__(self, type_name: str):
        self.type_name = type_name

    @property
    def message(self) -> str:
        return f"the request body is not a valid {self.type_name} message"


def safe_deserializer(deserialize, method: str):
    if deserialize is None:
        return None
    owner = getattr(deserialize, "__self__", None)
    type_name = getattr(getattr(owner, "DESCRIPTOR", None), "full_name", None) or f"request for {method}"

    def deserializer(raw: bytes):
        try:
            return deserialize(raw)
        except Exception:  # noqa: BLE001 - any parse failure is the caller's bad body
            return Undecodable(type_name)

    return deserializer


def _capped(value: str, limit: int = AUDIT_FIELD_MAX) -> str:
    value = str(value)
    return value if len(value) <= limit else f"{value[:limit]}...({len(value)} chars)"


def _peer_host(context) -> str:
    peer = context.peer() if hasattr(context, "peer") else ""
    peer = peer or "unknown"
    head, sep, tail = peer.rpartition(":")  # ipv4:10.0.0.1:5000, ipv6:[::1]:5000 -> without the port
    return _capped(head if sep and tail.isdigit() else peer, 64)


class CallGuard:
    def __init__(self, service: str, settings: Settings, redis):
        self.service = service
        self.settings = settings
        self.redis = redis
        self.limiter = RateLimiter(settings.rate_limit_per_s, settings.rate_limit_burst)
        self.audit_stream = settings.key("audit")
        self.refusal_limiter = RateLimiter(settings.audit_refusals_per_s, settings.audit_refusals_burst,
                                           max_identities=10_000)
        self.suppressed: dict[str, int] = {}
        self.slots = asyncio.Semaphore(settings.max_concurrent_calls)
        self.waiting = 0

    # -- 1-3: admission ----------------------------------------------------------------
    async def admit(self, method: str, request, context) -> bool:
        """Decoded, authenticated, within the rate limit and the generic limits (else aborts)."""
        if isinstance(request, Undecodable):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.message)
        if method.startswith(PUBLIC_METHOD_PREFIXES):
            return True
        if self.settings.auth_required:
            try:
                metadata = context.invocation_metadata()
                if self.settings.auth_jwks_url:  # may fetch keys: keep the loop free
                    ident = await asyncio.to_thread(identity_from_metadata, self.settings, metadata)
                else:
                    ident = identity_from_metadata(self.settings, metadata)
            except AuthError as exc:
                await context.abort(grpc.StatusCode.UNAUTHENTICATED, _capped(str(exc), 300))
            current_identity.set(ident)
            if ident.role != "service" and (wait := self.limiter.allow(ident.subject)):
                RATE_LIMITED.labels(self.service).inc()
                await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED,
                                    f"rate limit of {self.settings.rate_limit_per_s:g} calls/s for "
                                    f"{_capped(ident.subject, 64)}; retry in {wait:.2f}s")
        if isinstance(request, Message):
            try:
                check_request(request)
            except Invalid as exc:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        return True

    # -- 4: the bound on calls in progress -------------------------------------------------
    @contextlib.asynccontextmanager
    async def slot(self, context):
        if self.slots.locked() and self.waiting >= self.settings.max_queued_calls:
            OVERLOADED.labels(self.service).inc()
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED,
                                f"this instance is busy ({self.settings.max_concurrent_calls} calls in progress, "
                                f"{self.waiting} waiting); retry with backoff")
        self.waiting += 1
        try:
            await self.slots.acquire()
        finally:
            self.waiting -= 1
        try:
            yield
        finally:
            self.slots.release()

    # -- 5: what escaped the handler -----------------------------------------------------------
    async def fail(self, method: str, exc: Exception, context) -> None:
        code, message, reference = status_for(exc)
        if reference:
            log.error("call failed", exc_info=exc, extra={"method": method, "reference": reference})
        else:
            log.warning("call failed on a dependency", extra={"method": method, "error": repr(exc)[:300]})
        await context.abort(code, message)

    # -- 6: metrics and audit ------------------------------------------------------------------
    async def finish(self, method: str, request, context, started: float) -> None:
        code = _code_name(context)
        short = method.rsplit("/", 1)[-1]
        metrics.GRPC_REQUESTS.labels(self.service, short, code).inc()
        metrics.GRPC_LATENCY.labels(self.service, short).observe(time.perf_counter() - started)
        if method.startswith(PUBLIC_METHOD_PREFIXES):
            return
        if code in REFUSALS:
            peer = _peer_host(context)
            if self.refusal_limiter.allow(peer):
                self.suppressed[peer] = self.suppressed.get(peer, 0) + 1
                AUDIT_SUPPRESSED.inc()
                return
            await self.audit(short, request, code, peer, self.suppressed.pop(peer, 0))
        elif not short.startswith(READ_ONLY_PREFIXES):
            await self.audit(short, request, code, _peer_host(context))

    async def audit(self, method: str, request, code: str, peer: str = "", suppressed: int = 0) -> None:
        """Append who did what, when, on whose behalf, and how it ended (append-only, capped)."""
        ident = current_identity.get()
        target = ""
        if isinstance(request, Message):
            for name in AUDIT_TARGET_FIELDS:
                value = getattr(request, name, "")
                if value:
                    target = f"{name}={_capped(value)}"
                    break
        record = {
            "at": f"{time.time():.3f}", "service": self.service, "method": _capped(method),
            "subject": _capped(ident.subject), "role": ident.role, "on_behalf_of": _capped(ident.on_behalf_of),
            "target": target, "code": code, "peer": peer,
        }
        if suppressed:
            record["suppressed_before"] = str(suppressed)
        try:
            await self.redis.xadd(self.audit_stream, record, maxlen=self.settings.audit_max_len, approximate=True)
        except Exception as exc:  # noqa: BLE001 - the call already happened; count and log the gap
            AUDIT_WRITE_FAILURES.inc()
            log.warning("audit record not written", extra={**record, "error": repr(exc)[:200]})
        if len(self.suppressed) > 10_000:
            self.suppressed.clear()  # bounded memory; the metric still counts them


def _code_name(context) -> str:
    code = context.code() if hasattr(context, "code") else None
    if code is None:
        return "OK"
    return code.name if isinstance(code, grpc.StatusCode) else str(code)


async def _checked_stream(requests: AsyncIterator, method: str, context) -> AsyncIterator:
    """A request stream whose undecodable or out-of-range messages end the call."""
    async for request in requests:
        if isinstance(request, Undecodable):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.message)
        if isinstance(request, Message) and not method.startswith(PUBLIC_METHOD_PREFIXES):
            try:
                check_request(request)
            except Invalid as exc:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        yield request


def _is_abort(exc: BaseException) -> bool:
    return isinstance(exc, grpc.aio.AbortError)


@contextlib.asynccontextmanager
async def _guarded(guard: CallGuard, method: str, request, context, request_streaming: bool):
    """One call behind the guard: the request (a checked stream when streaming) once admitted;
    any failure inside mapped to its status (never UNKNOWN); the call counted when it ends."""
    started = time.perf_counter()
    first = None if request_streaming else request
    try:
        if request_streaming:
            request = _checked_stream(request, method, context)
        await guard.admit(method, first, context)
        yield request
    except Exception as exc:  # noqa: BLE001 - mapped to a status, never UNKNOWN
        if _is_abort(exc):
            raise
        await guard.fail(method, exc, context)
    finally:
        await guard.finish(method, first, context, started)


def wrap(handler: grpc.RpcMethodHandler, method: str, guard: CallGuard) -> grpc.RpcMethodHandler:
    """The handler behind the guard, with its shape kept (see the module's docstring)."""
    deserializer = safe_deserializer(handler.request_deserializer, method)
    serializer = handler.response_serializer
    public = method.startswith(PUBLIC_METHOD_PREFIXES)
    streaming_in = handler.request_streaming

    if not handler.response_streaming:
        inner = handler.stream_unary if streaming_in else handler.unary_unary

        async def unary_response(request, context):
            async with _guarded(guard, method, request, context, streaming_in) as request:
                if public:
                    return await inner(request, PeopleContext(context))
                async with guard.slot(context):
                    return await inner(request, PeopleContext(context))

        if streaming_in:
            return grpc.stream_unary_rpc_method_handler(unary_response, deserializer, serializer)
        return grpc.unary_unary_rpc_method_handler(unary_response, deserializer, serializer)

    inner = handler.stream_stream if streaming_in else handler.unary_stream
    make = grpc.stream_stream_rpc_method_handler if streaming_in else grpc.unary_stream_rpc_method_handler

    if inspect.iscoroutinefunction(inner):  # writes with context.write() and returns

        async def writing_response(request, context):
            async with _guarded(guard, method, request, context, streaming_in) as request:
                await inner(request, PeopleContext(context))

        return make(writing_response, deserializer, serializer)

    async def streamed_response(request, context):
        async with _guarded(guard, method, request, context, streaming_in) as request:
            result = inner(request, PeopleContext(context))
            if inspect.isawaitable(result):
                result = await result
            if result is None:
                return
            if hasattr(result, "__aiter__"):
                async for item in result:
                    yield item
            else:
                for item in result:
                    yield item

    return make(streamed_response, deserializer, serializer)


class Interceptor(grpc.aio.ServerInterceptor):
    def __init__(self, guard: CallGuard):
        self.guard = guard

    async def intercept_service(self, continuation, details):
        handler = await continuation(details)
        if handler is None:
            return None
        return wrap(handler, details.method, self.guard)
