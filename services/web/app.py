"""The console's process: aiohttp pages, /metrics, /healthz and grpc.health.v1, like every ITM service.

It serves HTTP (``ITM_HTTP_HOST:ITM_HTTP_PORT``: pages, static files, /metrics,
/healthz) and a gRPC port with grpc.health.v1 only (``ITM_GRPC_PORT``), so
`itm dev up`, Kubernetes probes and `itm status` watch it as they watch the
others. It has no storage: health reports each service it calls
(``itm.profile``, ``itm.opportunity``, ``itm.learning``, ``itm.matcher``,
``itm.notifier``), none required: a page whose service is down says so and the
rest keep working.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
import uuid
from http import HTTPStatus
from pathlib import Path
from urllib.parse import urlencode

import grpc
from aiohttp import web
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

from itm.runtime import metrics
from itm.runtime.logs import configure_logging
from itm.runtime.service import ServiceCheck, check_dependencies
from services.web import csrf, devauth, views
from services.web.clients import ServiceChannels
from services.web.keys import CHANNELS, NAV, SETTINGS, SIGNOUT_HOOKS, TEMPLATES
from services.web.render import environment, render
from services.web.session import NotSignedIn, session_middleware, sign_out
from services.web.settings import WebSettings, load_web_settings

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
SERVING = health_pb2.HealthCheckResponse.SERVING

WEB_REQUESTS = Counter("itm_web_requests_total", "Console HTTP requests", ["route", "method", "code"])
WEB_LATENCY = Histogram("itm_web_request_duration_seconds", "Console HTTP request latency (live streams excluded)",
                        ["route"], buckets=metrics.LATENCY_BUCKETS)
WEB_LIVE_STREAMS = Gauge("itm_web_live_streams", "Browsers connected to the console's notification stream")

# gRPC status -> (HTTP status, title) of the error page
GRPC_TO_HTTP = {
    grpc.StatusCode.INVALID_ARGUMENT: (400, "That request was not accepted"),
    grpc.StatusCode.FAILED_PRECONDITION: (409, "That cannot be done now"),
    grpc.StatusCode.ALREADY_EXISTS: (409, "That exists already"),
    grpc.StatusCode.ABORTED: (409, "Something changed meanwhile; try again"),
    grpc.StatusCode.OUT_OF_RANGE: (400, "That request was not accepted"),
    grpc.StatusCode.PERMISSION_DENIED: (403, "You may not open this"),
    grpc.StatusCode.NOT_FOUND: (404, "Not found"),
    grpc.StatusCode.RESOURCE_EXHAUSTED: (429, "Too many requests; slow down a little"),
    grpc.StatusCode.UNAVAILABLE: (503, "A service is not answering right now"),
    grpc.StatusCode.DEADLINE_EXCEEDED: (503, "A service did not answer in time"),
}
HTTP_TITLES = {400: "Bad request", 401: "Please sign in", 403: "Forbidden", 404: "Page not found",
               405: "Method not allowed", 413: "That is too large", 429: "Too many requests"}


def _route(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


def _wants_json(request: web.Request) -> bool:
    return request.path.startswith("/api/") or request.headers.get("Accept", "").startswith("application/json")


def signin_url(request: web.Request) -> str:
    return "/signin" if request.path_qs == "/" else f"/signin?{urlencode({'next': request.path_qs})}"


def error_response(request: web.Request, status: int, title: str, message: str, reference: str = "") -> web.Response:
    if _wants_json(request):
        return web.json_response({"error": message, "status": status, "reference": reference}, status=status)
    return render(request, "error.html", {"status": status, "title": title, "message": message,
                                          "reference": reference}, status=status)


@web.middleware
async def errors_middleware(request: web.Request, handler):
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except NotSignedIn:
        if request.method == "GET" and not _wants_json(request):
            status = 303
            raise web.HTTPSeeOther(signin_url(request)) from None
        status = 401
        return error_response(request, 401, HTTP_TITLES[401], "Your session has ended; sign in again.")
    except web.HTTPException as exc:
        status = exc.status
        if exc.status < 400:
            raise
        title = HTTP_TITLES.get(exc.status, exc.reason or "Error")
        message = exc.reason if exc.reason and exc.reason != HTTPStatus(exc.status).phrase else ""
        if exc.status == 404 and not message:
            message = "There is no page at this address."
        elif exc.status == 405 and not message:
            message = "This address does not take that kind of request."
        return error_response(request, exc.status, title, message or title)
    except grpc.aio.AioRpcError as err:
        if err.code() == grpc.StatusCode.UNAUTHENTICATED:
            sign_out(request)
            status = 401
            if request.method == "GET" and not _wants_json(request):
                status = 303
                raise web.HTTPSeeOther(signin_url(request)) from None
            return error_response(request, 401, HTTP_TITLES[401], "Your sign-in has expired; sign in again.")
        status, title = GRPC_TO_HTTP.get(err.code(), (502, "Something went wrong"))
        return error_response(request, status, title, err.details() or title)
    except (asyncio.CancelledError, ConnectionResetError):
        status = 499
        raise
    except Exception:
        reference = uuid.uuid4().hex[:12]
        log.exception("page failed", extra={"path": request.path, "reference": reference})
        return error_response(request, 500, "Something went wrong",
                              f"An internal error happened (reference {reference}); it was logged.", reference)
    finally:
        route = _route(request)
        WEB_REQUESTS.labels(route, request.method, str(status)).inc()
        if not request.get("itm.live"):
            WEB_LATENCY.labels(route).observe(time.perf_counter() - started)


@web.middleware
async def headers_middleware(request: web.Request, handler):
    response = await handler(request)
    h = response.headers
    h.setdefault("X-Content-Type-Options", "nosniff")
    h.setdefault("X-Frame-Options", "DENY")
    h.setdefault("Referrer-Policy", "same-origin")
    h.setdefault("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; "
                                            "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; "
                                            "base-uri 'self'; object-src 'none'")
    if response.content_type == "text/html":
        h.setdefault("Cache-Control", "no-store")
    return response


class WebConsole:
    """The console process: the aiohttp app, the gRPC health server, the dependency monitor."""

    name = "web"

    def __init__(self, settings: WebSettings | None = None):
        self.settings = settings or load_web_settings(service="web")
        configure_logging(self.name, self.settings.log_level, self.settings.log_format)
        metrics.BUILD_INFO.info({"service": self.name, "version": "0.1.0",
                                 "scoring_version": str(self.settings.scoring_version)})
        self.app = make_app(self.settings)
        self.health = health.aio.HealthServicer()
        self.checks = {name: ServiceCheck(target) for name, target in self.settings.targets.items()}
        self.dependency_state: dict[str, bool] = {}
        self.app.router.add_get("/metrics", self._metrics)
        self.app.router.add_get("/healthz", self._healthz)
        self._stopping = asyncio.Event()

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"service": self.name, "healthy": True, "dependencies": self.dependency_state})

    async def _monitor(self) -> None:
        while True:
            await check_dependencies(self.checks, self.dependency_state, self.health)
            await asyncio.sleep(1)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stopping.set)
        server = grpc.aio.server()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        addr = f"{self.settings.grpc_host}:{self.settings.grpc_port}"
        server.add_insecure_port(addr)
        await server.start()
        runner = web.AppRunner(self.app, access_log=None, handler_cancellation=True)
        await runner.setup()
        site = web.TCPSite(runner, self.settings.http_host, self.settings.http_port)
        await site.start()
        await self.health.set("", SERVING)
        await self.health.set(self.name, SERVING)
        log.info("started", extra={"grpc": addr, "http": f"{self.settings.http_host}:{self.settings.http_port}"})
        monitor = asyncio.create_task(self._monitor(), name="monitor")
        await self._stopping.wait()
        log.info("stopping")
        await self.health.enter_graceful_shutdown()
        monitor.cancel()
        await asyncio.gather(monitor, return_exceptions=True)
        await runner.shutdown()  # ends live streams (browsers reconnect with Last-Event-ID)
        await runner.cleanup()
        await server.stop(grace=2)
        for check in self.checks.values():
            await check.close()
        log.info("stopped")

    def main(self) -> None:
        asyncio.run(self.run())


def make_app(settings: WebSettings) -> web.Application:
    """The console's aiohttp application (pages only; ``WebConsole`` adds /metrics and /healthz)."""
    app = web.Application(middlewares=[headers_middleware, session_middleware, errors_middleware,
                                       csrf.csrf_middleware], client_max_size=settings.max_request_bytes * 8)
    app[SETTINGS] = settings
    app[TEMPLATES] = environment()
    app[NAV] = {}
    app[SIGNOUT_HOOKS] = []
    channels = ServiceChannels(settings)
    app[CHANNELS] = channels

    async def close_channels(_app):
        await channels.close()

    app.on_cleanup.append(close_channels)
    app.router.add_static("/static", STATIC_DIR, name="static", append_version=True)
    devauth.routes(app)
    views.register(app)
    return app


def build(settings: WebSettings | None = None) -> WebConsole:
    return WebConsole(settings)
