"""Tests of the test harness itself (tests/conftest.py) and of itm.devstack.

The service-process tests use a small fake service (written to a tmp dir and put
on PYTHONPATH) that serves grpc.health.v1 and /healthz itself, so they do not
depend on the real services.
"""

from __future__ import annotations

import asyncio
import json
import os
import select
import signal
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import TopicPartition

from itm.devstack import (
    BrokerProcess,
    DevStack,
    DevStackError,
    RedisProcess,
    ServiceProcess,
    StartupError,
    free_port,
    pid_alive,
    status_from_state,
    stop_from_state,
)
from itm.runtime.topics import TOPICS

FAKE_MODULE = "itm_fake_service"

FAKE_SERVICE = textwrap.dedent(
    '''
    """A stand-in ITM service: gRPC health + /healthz, behaviour picked by FAKE_MODE."""
    import json, os, signal, sys, threading
    from concurrent import futures
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    mode = os.environ.get("FAKE_MODE", "healthy")
    print(f"fake service starting, mode={mode}", flush=True)
    if mode == "crash":
        print("boom: ITM_SOMETHING is missing", flush=True)
        sys.exit(3)

    import grpc
    from grpc_health.v1 import health, health_pb2, health_pb2_grpc

    servicer = health.HealthServicer()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    server.add_insecure_port(f"127.0.0.1:{os.environ['ITM_GRPC_PORT']}")
    server.start()
    serving = mode != "never"
    servicer.set("", health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path == "/healthz":
                code, body = (200, b"ok") if serving else (503, b"not serving")
            elif self.path == "/env":
                code = 200
                body = json.dumps({k: v for k, v in os.environ.items() if k.startswith("ITM_")}).encode()
            else:
                code, body = 404, b""
            self.send_response(code)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", int(os.environ["ITM_HTTP_PORT"])), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()

    stop = threading.Event()
    if mode == "stubborn":
        signal.signal(signal.SIGTERM, lambda *a: print("ignoring SIGTERM", flush=True))
    else:
        signal.signal(signal.SIGTERM, lambda *a: stop.set())
    print("fake service ready" if serving else "fake service never healthy", flush=True)
    while not stop.wait(0.05):
        pass
    print("fake service stopping", flush=True)
    servicer.enter_graceful_shutdown()
    server.stop(1).wait()
    httpd.shutdown()
    '''
)


@pytest.fixture(scope="session")
def fake_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    d = tmp_path_factory.mktemp("fake")
    (d / f"{FAKE_MODULE}.py").write_text(FAKE_SERVICE)
    return str(d)


def _fake_env(fake_path: str, mode: str = "healthy") -> dict[str, str]:
    return {"PYTHONPATH": os.pathsep.join([fake_path, os.environ.get("PYTHONPATH", "")]), "FAKE_MODE": mode}


def _s(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _http_get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _wait_dead(pids: list[int], timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = [p for p in pids if pid_alive(p)]
        if not alive:
            return []
        time.sleep(0.05)
    return [p for p in pids if pid_alive(p)]


# --------------------------------------------------------------------------- broker


async def test_marker_added_automatically(request: pytest.FixtureRequest) -> None:
    assert request.node.get_closest_marker("integration") is not None


async def test_broker_produce_consume_with_registry_partitions(kafka_bootstrap: str, topic_prefix: str) -> None:
    spec = TOPICS["profile.skill-added"]
    topic = f"{topic_prefix}{spec.name}"
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=None, enable_auto_commit=False)
    await producer.start()
    await consumer.start()
    try:
        assert await producer.partitions_for(topic) == set(range(spec.partitions))
        sent = {}
        for i in range(12):
            key, value = f"emp-{i}".encode(), f"value-{i}".encode()
            md = await producer.send_and_wait(topic, value, key=key)
            sent[value] = md.partition
        assert len(set(sent.values())) > 1, "keys should spread over partitions"

        await consumer.topics()  # fetches metadata
        assert consumer.partitions_for_topic(topic) == set(range(spec.partitions))
        tps = [TopicPartition(topic, p) for p in range(spec.partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        got = {}
        deadline = asyncio.get_running_loop().time() + 10
        while len(got) < len(sent) and asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for tp, records in batch.items():
                for r in records:
                    got[r.value] = tp.partition
        assert got == sent
    finally:
        await consumer.stop()
        await producer.stop()


async def test_every_registry_topic_exists_with_its_partitions(kafka_bootstrap: str, topic_prefix: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        names = [f"{topic_prefix}{n}" for n in TOPICS]
        described = await admin.describe_topics(names)
    finally:
        await admin.close()
    partitions = {d["topic"]: len(d["partitions"]) for d in described}
    assert partitions == {f"{topic_prefix}{n}": t.partitions for n, t in TOPICS.items()}


# --------------------------------------------------------------------------- redis


async def test_redis_answers_with_aof_when_harness_started_it(infra, redis_client, topic_prefix: str) -> None:
    assert await redis_client.ping()
    await redis_client.set(f"{topic_prefix}k", b"v")
    assert await redis_client.get(f"{topic_prefix}k") == b"v"
    if infra.redis is None:
        pytest.skip(f"Redis comes from {infra.redis_source}; its config is not ours")
    config = {**await redis_client.config_get("appendonly"), **await redis_client.config_get("appendfsync")}
    config = {_s(k): _s(v) for k, v in config.items()}
    assert config == {"appendonly": "yes", "appendfsync": "always"}


def test_redis_process_keeps_data_across_sigkill(tmp_path: Path) -> None:
    import redis

    proc = RedisProcess(tmp_path).start()
    try:
        client = redis.Redis.from_url(proc.url)
        client.set("k", "v")
        client.close()
        port = proc.port
        assert proc.kill() == -signal.SIGKILL
        proc.start()  # same port, same dir: the AOF (fsync always) is replayed
        assert proc.port == port
        client = redis.Redis.from_url(proc.url)
        assert client.get("k") == b"v"
        client.close()
    finally:
        proc.stop()
    assert not pid_alive(proc.pid)
    assert (tmp_path / "logs" / "redis.log").exists()


async def test_broker_restart_starts_empty(tmp_path: Path) -> None:
    from itm.runtime.topics import ensure_topics

    broker = BrokerProcess(tmp_path).start()
    try:
        created = await ensure_topics(broker.bootstrap, prefix="x.", names=["itm.dead-letter"])
        assert created == ["x.itm.dead-letter"]
        broker.restart()  # Tansu keeps everything in memory
        assert await ensure_topics(broker.bootstrap, prefix="x.", names=["itm.dead-letter"]) == ["x.itm.dead-letter"]
    finally:
        assert broker.stop() == 0
    assert not pid_alive(broker.pid)


# --------------------------------------------------------------------------- prefixes

_SEEN_PREFIXES: list[str] = []


@pytest.mark.parametrize("n", [1, 2])
async def test_topic_prefix_is_fresh(topic_prefix: str, redis_client, n: int) -> None:
    assert topic_prefix.startswith("t") and topic_prefix.endswith(".")
    _SEEN_PREFIXES.append(topic_prefix)
    await redis_client.set(f"{topic_prefix}k", b"v")


async def test_two_tests_get_different_prefixes() -> None:
    if len(_SEEN_PREFIXES) < 2:
        pytest.skip("run together with test_topic_prefix_is_fresh")
    assert len(set(_SEEN_PREFIXES)) == len(_SEEN_PREFIXES)


async def test_prefixed_redis_keys_are_removed_after_the_test(redis_client) -> None:
    # the previous tests wrote "<prefix>k"; the topic_prefix fixture cleans up
    if not _SEEN_PREFIXES:
        pytest.skip("run together with test_topic_prefix_is_fresh")
    for prefix in _SEEN_PREFIXES:
        assert await redis_client.exists(f"{prefix}k") == 0


# --------------------------------------------------------------------------- services


def test_free_ports_are_distinct() -> None:
    ports = [free_port() for _ in range(50)]
    assert len(set(ports)) == 50


def test_start_service_fixture_wires_env_and_lifecycle(start_service, fake_path, topic_prefix, infra) -> None:
    svc = start_service("profile", module=FAKE_MODULE, consumer_max_attempts=2, **_fake_env(fake_path))
    assert svc.health() == "SERVING"
    assert svc.grpc_target == f"127.0.0.1:{svc.grpc_port}"
    assert _http_get(f"{svc.http_url}/healthz") == (200, b"ok")
    code, body = _http_get(f"{svc.http_url}/env")
    env = json.loads(body)
    assert env["ITM_SERVICE"] == "profile"
    assert env["ITM_TOPIC_PREFIX"] == topic_prefix
    assert env["ITM_KAFKA_BOOTSTRAP"] == infra.kafka_bootstrap
    assert env["ITM_REDIS_URL"] == infra.redis_url
    assert env["ITM_CONSUMER_MAX_ATTEMPTS"] == "2"
    assert env["ITM_GRPC_PORT"] == str(svc.grpc_port) and env["ITM_HTTP_PORT"] == str(svc.http_port)
    assert Path(env["ITM_DATA_DIR"]).is_dir()

    # a second worker of the same service: own ports, data dir and log
    other = start_service("profile", module=FAKE_MODULE, **_fake_env(fake_path))
    assert other.name == "profile-2" and other.grpc_port != svc.grpc_port
    assert other.log_path != svc.log_path

    # restart keeps the ports, replaces the process
    old_pid, ports = svc.pid, (svc.grpc_port, svc.http_port)
    svc.restart()
    assert svc.pid != old_pid and not pid_alive(old_pid)
    assert (svc.grpc_port, svc.http_port) == ports and svc.health() == "SERVING"

    assert svc.stop() == 0  # graceful
    assert not pid_alive(svc.pid) and not svc.running
    assert "fake service stopping" in svc.log_tail()
    assert other.kill() == -signal.SIGKILL
    assert not pid_alive(other.pid)


def test_never_healthy_service_fails_fast_with_log_tail(tmp_path: Path, fake_path: str) -> None:
    svc = ServiceProcess("matcher", _fake_env(fake_path, "never"), tmp_path, module=FAKE_MODULE)
    t0 = time.monotonic()
    with pytest.raises(StartupError) as err:
        svc.start(timeout=2)
    assert time.monotonic() - t0 < 5
    msg = str(err.value)
    assert "not ready after 2s" in msg and "NOT_SERVING" in msg
    assert "fake service never healthy" in msg  # the log tail
    assert err.value.log_path == tmp_path / "logs" / "matcher.log"
    assert not pid_alive(svc.pid)  # a failed start leaves no process behind


def test_crashing_service_reports_exit_code_and_output(tmp_path: Path, fake_path: str) -> None:
    svc = ServiceProcess("learning", _fake_env(fake_path, "crash"), tmp_path, module=FAKE_MODULE)
    t0 = time.monotonic()
    with pytest.raises(StartupError, match="exited with code 3") as err:
        svc.start(timeout=30)
    assert time.monotonic() - t0 < 5
    assert "boom: ITM_SOMETHING is missing" in str(err.value)


def test_missing_module_fails_with_python_error(tmp_path: Path) -> None:
    svc = ServiceProcess("nosuch", {}, tmp_path, module="itm_no_such_module_here")
    with pytest.raises(StartupError, match="No module named"):
        svc.start(timeout=10)


def test_stop_escalates_to_sigkill(tmp_path: Path, fake_path: str) -> None:
    svc = ServiceProcess("notifier", _fake_env(fake_path, "stubborn"), tmp_path, module=FAKE_MODULE).start(timeout=20)
    t0 = time.monotonic()
    assert svc.stop(timeout=1) == -signal.SIGKILL
    assert time.monotonic() - t0 < 4
    assert "ignoring SIGTERM" in svc.log_tail()
    assert not pid_alive(svc.pid)


_ORPHAN_SCRIPT = """
import json, sys, time
from itm.devstack import BrokerProcess, RedisProcess, ServiceProcess
d, fake_path = sys.argv[1], sys.argv[2]
b = BrokerProcess(d).start()
r = RedisProcess(d).start()
s = ServiceProcess("opportunity", {"PYTHONPATH": fake_path}, d, module="itm_fake_service").start(timeout=20)
print(json.dumps([b.pid, r.pid, s.pid]), flush=True)
time.sleep(120)
"""


def test_children_die_when_parent_is_sigkilled(tmp_path: Path, fake_path: str) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", _ORPHAN_SCRIPT, str(tmp_path), fake_path],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        ready, _, _ = select.select([parent.stdout], [], [], 30)
        assert ready, "the parent script did not start its children in time"
        line = parent.stdout.readline()
        assert line, parent.stderr.read().decode()
        pids = json.loads(line)
        assert all(pid_alive(p) for p in pids)
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        assert _wait_dead(pids, 10) == []
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()


# --------------------------------------------------------------------------- DevStack


def test_devstack_embedded_state_status_and_stop_from_state(tmp_path: Path, fake_path: str) -> None:
    stack = DevStack(
        tmp_path / "itm",
        services=["profile", "matcher"],
        modules={"profile": FAKE_MODULE, "matcher": FAKE_MODULE},
        topic_prefix="dev.",
        env=_fake_env(fake_path),
        healthy_timeout=20,
    )
    try:
        stack.start()
        state = DevStack.load_state(tmp_path / "itm")
        assert state["status"] == "up" and state["owner"]["pid"] == os.getpid()
        assert state["kafka_bootstrap"] == stack.kafka_bootstrap == stack.broker.bootstrap
        assert state["redis_url"] == stack.redis_url
        assert list(state["components"]) == ["broker", "redis", "profile", "matcher"]
        assert state["components"]["profile"]["grpc_target"] == stack.services["profile"].grpc_target

        status = status_from_state(tmp_path / "itm")
        assert {n: s["up"] for n, s in status.items()} == dict.fromkeys(state["components"], True)
        assert status["matcher"]["detail"] == "SERVING"

        # the registry's topics were created for the stack's prefix
        from kafka import KafkaAdminClient

        admin = KafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap)
        try:
            assert {f"dev.{n}" for n in TOPICS} <= set(admin.list_topics())
        finally:
            admin.close()

        with pytest.raises(DevStackError, match="already running"):
            DevStack(tmp_path / "itm", services=()).start()

        pids = [c.pid for c in stack.components().values()]
        result = stop_from_state(tmp_path / "itm", timeout=5, stop_owner=False)
        assert result == dict.fromkeys(["matcher", "profile", "redis", "broker"], "stopped")
        assert _wait_dead(pids, 5) == []
        assert DevStack.load_state(tmp_path / "itm") is None
        assert status_from_state(tmp_path / "itm") == {}
    finally:
        stack.stop()
    assert all(not c.running for c in stack.components().values())


def test_devstack_with_external_infra_and_context_manager(
    tmp_path: Path, fake_path: str, kafka_bootstrap: str, redis_url: str
) -> None:
    with DevStack(
        tmp_path / "itm",
        kafka_bootstrap=kafka_bootstrap,
        redis_url=redis_url,
        services=["notifier"],
        modules={"notifier": FAKE_MODULE},
        env=_fake_env(fake_path),
        topic_prefix="ext.",
    ) as stack:
        assert stack.broker is None and stack.redis is None
        svc = stack.services["notifier"]
        assert svc.health() == "SERVING"
        status = status_from_state(tmp_path / "itm")
        assert status["broker"]["external"] and status["broker"]["up"]
        assert status["redis"]["up"] and status["notifier"]["up"]
    assert not pid_alive(svc.pid)
    assert DevStack.load_state(tmp_path / "itm") is None


def test_devstack_failed_start_cleans_up(tmp_path: Path, fake_path: str) -> None:
    stack = DevStack(
        tmp_path / "itm",
        services=["profile", "opportunity"],
        modules={"profile": FAKE_MODULE, "opportunity": "itm_no_such_module_here"},
        env=_fake_env(fake_path),
        healthy_timeout=10,
    )
    with pytest.raises(StartupError, match="opportunity exited"):
        stack.start()
    assert all(not c.running for c in stack.components().values())
    assert DevStack.load_state(tmp_path / "itm") is None
