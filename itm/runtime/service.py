"""The process skeleton every service runs in.

It owns settings, logging, Redis, the gRPC server (with health, metrics and
auth interceptors), the HTTP side (/metrics, /healthz and service routes),
background tasks, a dependency monitor that drives grpc.health.v1, and a
graceful shutdown on SIGTERM/SIGINT.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Awaitable, Callable

import grpc
from aiohttp import web
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, generate_latest
from tenacity import AsyncRetrying, wait_exponential

from itm.runtime import kafka_compat, metrics
from itm.runtime.auth import PUBLIC_METHOD_PREFIXES, AuthError, RateLimiter, current_identity, identity_from_metadata
from itm.runtime.kpi import KpiBook, KpiCollector
from itm.runtime.logs import configure_logging
from itm.runtime.redisx import connect
from itm.runtime.settings import Settings, load_settings
from itm.runtime.topics import ensure_topics

log = logging.getLogger(__name__)

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


READ_ONLY_PREFIXES = ("Get", "List", "Find", "My", "Best", "Subscribe", "Check", "Watch")
AUDIT_TARGET_FIELDS = ("employee_id", "opportunity_id", "course_id", "application_id", "request_id")
AUDIT_WRITE_FAILURES = Counter("itm_audit_write_failures_total", "Audit records that could not be written")
RATE_LIMITED = Counter("itm_rate_limited_total", "Calls refused by the per-identity rate limit", ["service"])


class CallGuard:
    """What every RPC goes through, in the handler's own task: authentication,
    the per-identity rate limit, metrics, and the audit record of state changes."""

    def __init__(self, service: str, settings: Settings, redis):
        self.service = service
        self.settings = settings
        self.redis = redis
        self.limiter = RateLimiter(settings.rate_limit_per_s, settings.rate_limit_burst)
        self.audit_stream = settings.key("audit")

    async def admit(self, method: str, context) -> bool:
        if method.startswith(PUBLIC_METHOD_PREFIXES) or not self.settings.auth_required:
            return True
        try:
            metadata = context.invocation_metadata()
            if self.settings.auth_jwks_url:  # may fetch keys: keep the loop free
                ident = await asyncio.to_thread(identity_from_metadata, self.settings, metadata)
            else:
                ident = identity_from_metadata(self.settings, metadata)
        except AuthError as exc:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, str(exc))
            return False
        current_identity.set(ident)
        if ident.role != "service" and (wait := self.limiter.allow(ident.subject)):
            RATE_LIMITED.labels(self.service).inc()
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED,
                                f"rate limit of {self.settings.rate_limit_per_s:g} calls/s for {ident.subject}; "
                                f"retry in {wait:.2f}s")
            return False
        return True

    async def finish(self, method: str, request, context, started: float) -> None:
        code = _code_name(context)
        short = method.rsplit("/", 1)[-1]
        metrics.GRPC_REQUESTS.labels(self.service, short, code).inc()
        metrics.GRPC_LATENCY.labels(self.service, short).observe(time.perf_counter() - started)
        if not method.startswith(PUBLIC_METHOD_PREFIXES) and not short.startswith(READ_ONLY_PREFIXES):
            await self.audit(short, request, code)

    async def audit(self, method: str, request, code: str) -> None:
        """Append who did what, when, on whose behalf, and how it ended (append-only)."""
        ident = current_identity.get()
        target = ""
        for name in AUDIT_TARGET_FIELDS:
            value = getattr(request, name, "") if request is not None else ""
            if value:
                target = f"{name}={value}"
                break
        record = {
            "at": f"{time.time():.3f}", "service": self.service, "method": method, "subject": ident.subject,
            "role": ident.role, "on_behalf_of": ident.on_behalf_of, "target": target, "code": code,
        }
        try:
            await self.redis.xadd(self.audit_stream, record)
        except Exception:  # noqa: BLE001 - the call already happened; count and log the gap
            AUDIT_WRITE_FAILURES.inc()
            log.exception("audit record not written", extra=record)


def _code_name(context) -> str:
    code = context.code() if hasattr(context, "code") else None
    if code is None:
        return "OK"
    return code.name if isinstance(code, grpc.StatusCode) else str(code)


def _wrap(handler: grpc.RpcMethodHandler, method: str, guard: CallGuard):
    if handler.unary_unary:
        inner = handler.unary_unary

        async def unary_unary(request, context):
            started = time.perf_counter()
            try:
                if await guard.admit(method, context):
                    return await inner(request, context)
            finally:
                await guard.finish(method, request, context, started)

        return grpc.unary_unary_rpc_method_handler(
            unary_unary, handler.request_deserializer, handler.response_serializer
        )
    if handler.unary_stream:
        inner_stream = handler.unary_stream

        async def unary_stream(request, context):
            started = time.perf_counter()
            try:
                if await guard.admit(method, context):
                    async for item in inner_stream(request, context):
                        yield item
            finally:
                await guard.finish(method, request, context, started)

        return grpc.unary_stream_rpc_method_handler(
            unary_stream, handler.request_deserializer, handler.response_serializer
        )
    return handler


class _Interceptor(grpc.aio.ServerInterceptor):
    def __init__(self, guard: CallGuard):
        self.guard = guard

    async def intercept_service(self, continuation, details):
        handler = await continuation(details)
        if handler is None:
            return None
        return _wrap(handler, details.method, self.guard)


Check = Callable[[], Awaitable[bool]]


def server_options(settings: Settings) -> list[tuple[str, int]]:
    """gRPC server options: the request size limit, and keepalive so a peer that
    vanished without closing (a dead pod, a cut network, a suspended laptop) does
    not hold its streams, e.g. a notifier Subscribe, until TCP gives up."""
    options = [("grpc.max_receive_message_length", settings.max_request_bytes)]
    if settings.grpc_keepalive_s > 0:
        options += [
            ("grpc.keepalive_time_ms", int(settings.grpc_keepalive_s * 1000)),
            ("grpc.keepalive_timeout_ms", int(settings.grpc_keepalive_timeout_s * 1000)),
            # grpcio 1.85 times the keepalive ping out with the ping timeout (default 1 minute):
            # measured, a frozen peer was dropped only with this set
            ("grpc.http2.ping_timeout_ms", int(settings.grpc_keepalive_timeout_s * 1000)),
            ("grpc.keepalive_permit_without_calls", 1),
            # otherwise a connection with no data moving gets one ping per 5 minutes at most
            ("grpc.http2.min_sent_ping_interval_without_data_ms", int(settings.grpc_keepalive_s * 1000)),
            # clients may ping too, but not more often than every 10 s
            ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
            ("grpc.http2.max_pings_without_data", 0),
        ]
    return options


class Service:
    """One ITM process. Subclass or compose: register servicers, tasks, checks."""

    def __init__(self, name: str, settings: Settings | None = None):
        self.name = name
        self.settings = settings or load_settings(service=name)
        configure_logging(name, self.settings.log_level, self.settings.log_format)
        kafka_compat.install()  # Tansu's ListOffsets(latest) answer; harmless on Kafka
        metrics.BUILD_INFO.info({"service": name, "version": "0.1.0", "scoring_version": str(self.settings.scoring_version)})
        # grpc.aio binds to the loop current at construction: the process owns one loop
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        self.redis = connect(self.settings.redis_url)
        self.guard = CallGuard(name, self.settings, self.redis)
        self.grpc = grpc.aio.server(interceptors=[_Interceptor(self.guard)], options=server_options(self.settings))
        self.health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.grpc)
        self.kpi = KpiBook(self.settings)
        self.kpi_export = KpiCollector(self.kpi)
        REGISTRY.register(self.kpi_export)
        self.http = web.Application()
        self.http.router.add_get("/metrics", self._metrics)
        self.http.router.add_get("/healthz", self._healthz)
        self.checks: dict[str, Check] = {"redis": self._redis_ok}
        self.required: set[str] = {"redis"}
        self.tasks: list[Callable[[], Awaitable[None]]] = []
        self.on_shutdown: list[Callable[[], Awaitable[None]]] = []
        self.dependency_state: dict[str, bool] = {}
        self._stopping = asyncio.Event()
        self.topics_ready = asyncio.Event()
        self.add_task(self._ensure_topics_forever)

    # -- composition -----------------------------------------------------------
    def add_task(self, fn: Callable[[], Awaitable[None]]) -> None:
        self.tasks.append(fn)

    def add_check(self, name: str, fn: Check, required: bool = False) -> None:
        """A dependency check; required ones decide SERVING for the whole service."""
        self.checks[name] = fn
        if required:
            self.required.add(name)

    async def _redis_ok(self) -> bool:
        return bool(await asyncio.wait_for(self.redis.ping(), 2))

    @property
    def healthy(self) -> bool:
        return all(self.dependency_state.get(n, False) for n in self.required)

    # -- HTTP ----------------------------------------------------------------------
    async def _metrics(self, request: web.Request) -> web.Response:
        try:
            await self.kpi_export.refresh(self.redis)
        except Exception as exc:  # noqa: BLE001 - Redis down: serve the last KPI snapshot
            log.warning("KPI snapshot not refreshed", extra={"error": repr(exc)})
        return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _healthz(self, request: web.Request) -> web.Response:
        body = {"service": self.name, "healthy": self.healthy, "dependencies": self.dependency_state}
        return web.json_response(body, status=200 if self.healthy else 503)

    # -- lifecycle -------------------------------------------------------------
    async def _monitor(self) -> None:
        while True:
            for name, check in self.checks.items():
                try:
                    ok = bool(await asyncio.wait_for(check(), 3))
                except Exception:  # noqa: BLE001 - a failing check is a down dependency
                    ok = False
                if self.dependency_state.get(name) != ok:
                    log.info("dependency state", extra={"dependency": name, "up": ok})
                self.dependency_state[name] = ok
                metrics.DEPENDENCY_UP.labels(name).set(1 if ok else 0)
                await self.health.set(f"itm.{name}", SERVING if ok else NOT_SERVING)
            await self.health.set("", SERVING if self.healthy else NOT_SERVING)
            await self.health.set(self.name, SERVING if self.healthy else NOT_SERVING)
            await asyncio.sleep(1)

    async def _ensure_topics_forever(self) -> None:
        """Create the registry's topics, retrying while the broker is away."""
        retrying = AsyncRetrying(
            wait=wait_exponential(multiplier=0.2, max=self.settings.retry_max_backoff_s),
            before_sleep=lambda state: log.warning("cannot create topics yet; retrying",
                                                   extra={"error": repr(state.outcome.exception())}),
        )
        async for attempt in retrying:
            with attempt:
                await ensure_topics(self.settings.kafka_bootstrap, self.settings.topic_prefix,
                                    replication_factor=self.settings.topic_replication_factor)
        self.topics_ready.set()

    def add_consumer(self, consumer) -> None:
        """Run an IdempotentConsumer once the topics exist; close it on shutdown."""

        async def run_consumer():
            await self.topics_ready.wait()
            await consumer.run()

        run_consumer.__name__ = f"consumer:{consumer.name}"
        self.add_task(run_consumer)
        self.on_shutdown.append(consumer.close)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stopping.set)
        await self.health.set("", NOT_SERVING)
        addr = f"{self.settings.grpc_host}:{self.settings.grpc_port}"
        self.grpc.add_insecure_port(addr)
        await self.grpc.start()
        # handler_cancellation: a long-lived response (the notifier's SSE) ends when its client goes away
        runner = web.AppRunner(self.http, access_log=None, handler_cancellation=True)
        await runner.setup()
        site = web.TCPSite(runner, self.settings.http_host, self.settings.http_port)
        await site.start()
        log.info("started", extra={"grpc": addr, "http": f"{self.settings.http_host}:{self.settings.http_port}"})
        running = [asyncio.create_task(self._monitor(), name="monitor")]
        running += [asyncio.create_task(self._supervise(fn), name=getattr(fn, "__name__", "task")) for fn in self.tasks]
        await self._stopping.wait()
        log.info("stopping")
        await self.health.enter_graceful_shutdown()
        await self.grpc.stop(grace=5)
        for task in running:
            task.cancel()
        # bounded: a task stuck in a client library (seen under load: a Redis call
        # during reconnection) must not turn SIGTERM into SIGKILL
        _, stuck = await asyncio.wait(running, timeout=5)
        if stuck:
            log.warning("background tasks did not stop in 5 s; leaving them",
                        extra={"tasks": sorted(t.get_name() for t in stuck)})
        for fn in self.on_shutdown:
            try:
                await fn()
            except Exception:  # noqa: BLE001
                log.exception("shutdown hook failed")
        await runner.cleanup()
        await self.redis.aclose()
        log.info("stopped")

    async def _supervise(self, fn: Callable[[], Awaitable[None]]) -> None:
        """Run a background task forever, restarting it after a crash."""
        while True:
            try:
                await fn()
                return
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001
                log.exception("background task crashed; restarting in 1s", extra={"task": getattr(fn, "__name__", "")})
                await asyncio.sleep(1)

    def main(self) -> None:
        try:
            self.loop.run_until_complete(self.run())
        finally:
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()
