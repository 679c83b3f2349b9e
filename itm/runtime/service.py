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
from grpc_reflection.v1alpha import reflection
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from tenacity import AsyncRetrying, wait_exponential

from itm import taxonomy_guard
from itm.runtime import kafka_compat, metrics, reports
from itm.runtime.calls import RATE_LIMITED, CallGuard, Interceptor  # noqa: F401 - RATE_LIMITED: used by services
from itm.runtime.kpi import KpiBook, KpiCollector
from itm.runtime.logs import configure_logging
from itm.runtime.redisx import connect
from itm.runtime.settings import Settings, load_settings
from itm.runtime.topics import ensure_topics

log = logging.getLogger(__name__)

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


Check = Callable[[], Awaitable[bool]]


class KafkaCheck:
    """Is the broker answering? One small metadata request (no topics) per check, on a
    client kept open between checks; a timeout or an error means down."""

    def __init__(self, settings: Settings, timeout_s: float = 2.0):
        self.settings = settings
        self.timeout_s = timeout_s
        self.client = None

    async def __call__(self) -> bool:
        from aiokafka.client import AIOKafkaClient
        from aiokafka.protocol.metadata import MetadataRequest

        try:
            if self.client is None:
                client = AIOKafkaClient(bootstrap_servers=self.settings.kafka_bootstrap,
                                        client_id=f"itm-{self.settings.service}-health",
                                        request_timeout_ms=int(self.timeout_s * 1000))
                try:
                    await asyncio.wait_for(client.bootstrap(), self.timeout_s)
                except BaseException:
                    await client.close()
                    raise
                self.client = client
            node = self.client.get_random_node()
            if node is None:
                raise ConnectionError("no broker known")
            response = await asyncio.wait_for(self.client.send(node, MetadataRequest([])), self.timeout_s)
            return bool(response.brokers)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - any failure is "down"; start over next time
            await self.close()
            return False

    async def close(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            try:
                await asyncio.wait_for(client.close(), 2)
            except Exception:  # noqa: BLE001
                pass



async def check_dependencies(checks: dict, state: dict[str, bool], health) -> None:
    """One pass over a process's dependency checks: ``state``, the gauge and the ``itm.<name>`` health entries follow."""
    for name, check in checks.items():
        try:
            ok = bool(await asyncio.wait_for(check(), 3))
        except Exception:  # noqa: BLE001 - a failing check is a down dependency
            ok = False
        if state.get(name) != ok:
            log.info("dependency state", extra={"dependency": name, "up": ok})
        state[name] = ok
        metrics.DEPENDENCY_UP.labels(name).set(1 if ok else 0)
        await health.set(f"itm.{name}", SERVING if ok else NOT_SERVING)


class ServiceCheck:
    """Is another ITM service this one calls SERVING? One grpc.health.v1 Check per probe on a
    channel kept open, reconnecting within a second of the peer's return."""

    def __init__(self, target: str, timeout_s: float = 2.0):
        self.target = target
        self.timeout_s = timeout_s
        self.channel: grpc.aio.Channel | None = None

    async def __call__(self) -> bool:
        if self.channel is None:
            self.channel = grpc.aio.insecure_channel(self.target, options=[
                ("grpc.initial_reconnect_backoff_ms", 200), ("grpc.max_reconnect_backoff_ms", 1000)])
        try:
            response = await health_pb2_grpc.HealthStub(self.channel).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=self.timeout_s)
        except grpc.aio.AioRpcError:
            return False
        return response.status == SERVING

    async def close(self) -> None:
        channel, self.channel = self.channel, None
        if channel is not None:
            await channel.close()


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
        if name != "matcher":  # the matcher publishes the taxonomy the others must run on
            taxonomy_guard.enforce(self.settings, name)
        kafka_compat.install()  # Tansu's ListOffsets(latest) answer; harmless on Kafka
        metrics.BUILD_INFO.info({"service": name, "version": "0.1.0", "scoring_version": str(self.settings.scoring_version)})
        # grpc.aio binds to the loop current at construction: the process owns one loop
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        self.redis = connect(self.settings.redis_url, self.settings.redis_pool_size, self.settings.redis_pool_timeout_s)
        self.guard = CallGuard(name, self.settings, self.redis)
        self.grpc = grpc.aio.server(interceptors=[Interceptor(self.guard)], options=server_options(self.settings))
        self.grpc_services: list[str] = []  # what servicers registered, for server reflection
        self._record_grpc_services()
        self.health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.grpc)
        self.kpi = KpiBook(self.settings)
        self.kpi_export = KpiCollector(self.kpi)
        REGISTRY.register(self.kpi_export)
        reports.add_to(self)  # its KPI book and the audit stream, for HR (the console's HR pages)
        self.http = web.Application()
        self.http.router.add_get("/metrics", self._metrics)
        self.http.router.add_get("/healthz", self._healthz)
        self.checks: dict[str, Check] = {"redis": self._redis_ok}
        self.required: set[str] = {"redis"}
        self.tasks: list[Callable[[], Awaitable[None]]] = []
        self.on_shutdown: list[Callable[[], Awaitable[None]]] = []
        self.dependency_state: dict[str, bool] = {}
        self.consumers: list = []
        self._stalled_series: set[tuple[str, str, str]] = set()
        self._stopping = asyncio.Event()
        self.topics_ready = asyncio.Event()
        self.add_task(self._ensure_topics_forever)

    # -- composition -----------------------------------------------------------
    def _record_grpc_services(self) -> None:
        """Note the name of every service added to the gRPC server (generated
        ``add_*Servicer_to_server`` functions go through ``add_generic_rpc_handlers``)."""
        add = self.grpc.add_generic_rpc_handlers

        def add_generic_rpc_handlers(handlers):
            for handler in handlers:
                name = handler.service_name() if hasattr(handler, "service_name") else None
                if name and name not in self.grpc_services:
                    self.grpc_services.append(name)
            return add(handlers)

        self.grpc.add_generic_rpc_handlers = add_generic_rpc_handlers

    def add_task(self, fn: Callable[[], Awaitable[None]]) -> None:
        self.tasks.append(fn)

    def add_check(self, name: str, fn: Check, required: bool = False) -> None:
        """A dependency check; required ones decide SERVING for the whole service."""
        self.checks[name] = fn
        if required:
            self.required.add(name)

    def add_kafka_check(self, required: bool = False) -> None:
        """Report the broker as dependency ``itm.kafka`` (services without an outbox relay,
        whose ``kafka`` check is the relay's own)."""
        probe = KafkaCheck(self.settings)
        self.add_check("kafka", probe, required)
        self.on_shutdown.append(probe.close)

    def add_service_check(self, name: str, target: str) -> None:
        """Report another ITM service this one calls (``itm.<name>``: is it SERVING at ``target``?).
        Not required: this service keeps serving what it can without it."""
        probe = ServiceCheck(target)
        self.add_check(name, probe)
        self.on_shutdown.append(probe.close)

    async def _consumers_progress(self) -> bool:
        """False while any consumer holds a record it cannot get past (see IdempotentConsumer)."""
        prefix = self.settings.topic_prefix
        now_stalled: set[tuple[str, str, str]] = set()
        for consumer in self.consumers:
            for tp, (offset, seconds) in consumer.stalled().items():
                series = (metrics.bare_topic(tp.topic, prefix), str(tp.partition), consumer.name)
                if series not in self._stalled_series:
                    log.error("consumer cannot get past a record", extra={
                        "consumer": consumer.name, "topic": series[0], "partition": tp.partition,
                        "offset": offset, "held_s": round(seconds, 1)})
                now_stalled.add(series)
        for consumer in self.consumers:  # every assigned partition has its series, at 0 while it progresses
            kafka_consumer = consumer.consumer
            for tp in (kafka_consumer.assignment() if kafka_consumer is not None else ()):
                series = (metrics.bare_topic(tp.topic, prefix), str(tp.partition), consumer.name)
                if series not in now_stalled:
                    metrics.CONSUMER_STALLED.labels(*series).set(0)
        for series in self._stalled_series - now_stalled:
            metrics.CONSUMER_STALLED.labels(*series).set(0)
        for series in now_stalled:
            metrics.CONSUMER_STALLED.labels(*series).set(1)
        self._stalled_series = now_stalled
        return not now_stalled

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
            await check_dependencies(self.checks, self.dependency_state, self.health)
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
        self.watch_progress(consumer)
        if "kafka" not in self.checks:
            self.add_kafka_check()

    def watch_progress(self, consumer) -> None:
        """Report a consumer's stalled partitions (``consumer.stalled()``, ``consumer.name``;
        an IdempotentConsumer or a PartitionProgress) on ``itm.consumers`` and ``itm_consumer_stalled``."""
        if not self.consumers:
            self.add_check("consumers", self._consumers_progress, required=True)
        self.consumers.append(consumer)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stopping.set)
        await self.health.set("", NOT_SERVING)
        # server reflection (grpcurl, grpcui, Postman) for every service this process serves
        reflection.enable_server_reflection([*self.grpc_services, reflection.SERVICE_NAME], self.grpc)
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
