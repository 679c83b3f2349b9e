"""The test harness: broker, Redis, per-test topic prefixes and service processes.

Fixtures (all lazy: a session whose tests need none of them starts nothing):

* ``infra`` (session): ``.kafka_bootstrap`` / ``.redis_url``. Taken from the
  environment (KAFKA_BOOTSTRAP / REDIS_URL) when set; else testcontainers (Apache
  Kafka + Redis 7) when ITM_TEST_CONTAINERS=1 and a Docker engine answers; else a
  throwaway Tansu + redis-server on free ports (``.broker`` / ``.redis`` are then
  the ``itm.devstack`` process handles, None otherwise).
* ``kafka_bootstrap``, ``redis_url`` (session): the strings.
* ``topic_prefix``: unique per test (``t<8 hex>.``); the registry's topics exist
  for it already. Use it for topics, consumer groups and Redis keys. Keys under
  it are deleted after the test.
* ``redis_client``: a ``redis.asyncio`` client on ``redis_url``.
* ``start_service``: ``start_service(name, **env) -> ServiceProcess``, already
  healthy, wired to infra + topic_prefix + a tmp ITM_DATA_DIR; stopped after the
  test (its log tail is printed when the test failed). See ``_ServiceStarter``.

Tests under tests/integration get the ``integration`` marker automatically.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from itm.devstack import (
    BrokerProcess,
    RedisProcess,
    ServiceProcess,
    kafka_ready,
    redis_ready,
)

INTEGRATION_DIR = Path(__file__).parent / "integration"
_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


# --------------------------------------------------------------------------- hooks


def pytest_configure(config: pytest.Config) -> None:
    # kafka-python 3.0 loads its protocol schemas through deprecated importlib.resources calls
    config.addinivalue_line("filterwarnings", "ignore:read_text is deprecated:DeprecationWarning")
    config.addinivalue_line("filterwarnings", "ignore:open_text is deprecated:DeprecationWarning")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if INTEGRATION_DIR in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.integration)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    report = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    return report


def _test_failed(request: pytest.FixtureRequest) -> bool:
    reports = request.node.stash.get(_REPORTS, {})
    return any(r.failed for r in reports.values())


# --------------------------------------------------------------------------- infra


@dataclass
class Infra:
    kafka_bootstrap: str
    redis_url: str
    # where each came from: "env" | "containers" | "embedded"
    kafka_source: str
    redis_source: str
    # itm.devstack handles when the harness started the processes itself
    broker: BrokerProcess | None = None
    redis: RedisProcess | None = None
    data_dir: Path | None = None
    _cleanups: list[Any] = field(default_factory=list, repr=False)

    def close(self) -> None:
        for cleanup in reversed(self._cleanups):
            with contextlib.suppress(Exception):
                cleanup()
        self._cleanups.clear()


def _docker_answers() -> bool:
    try:
        import docker

        client = docker.from_env(timeout=3)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


def _start_containers(infra_kwargs: dict[str, Any], cleanups: list[Any], need_kafka: bool, need_redis: bool) -> None:
    try:
        from testcontainers.community.kafka import KafkaContainer
        from testcontainers.community.redis import RedisContainer
    except ImportError:  # older layout
        from testcontainers.kafka import KafkaContainer  # type: ignore[no-redef]
        from testcontainers.redis import RedisContainer  # type: ignore[no-redef]

    if need_kafka:
        image = os.environ.get("ITM_TEST_KAFKA_IMAGE", "confluentinc/cp-kafka:7.6.0")
        kafka = KafkaContainer(image).with_kraft()
        kafka.start()
        cleanups.append(kafka.stop)
        infra_kwargs.update(kafka_bootstrap=kafka.get_bootstrap_server(), kafka_source="containers")
    if need_redis:
        image = os.environ.get("ITM_TEST_REDIS_IMAGE", "redis:7")
        redis = RedisContainer(image).with_command("redis-server --appendonly yes --appendfsync always")
        redis.start()
        cleanups.append(redis.stop)
        host, port = redis.get_container_host_ip(), redis.get_exposed_port(6379)
        infra_kwargs.update(redis_url=f"redis://{host}:{port}/0", redis_source="containers")


@pytest.fixture(scope="session")
def infra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Infra]:
    kwargs: dict[str, Any] = {}
    cleanups: list[Any] = []
    if os.environ.get("KAFKA_BOOTSTRAP"):
        kwargs.update(kafka_bootstrap=os.environ["KAFKA_BOOTSTRAP"], kafka_source="env")
    if os.environ.get("REDIS_URL"):
        kwargs.update(redis_url=os.environ["REDIS_URL"], redis_source="env")
    need_kafka, need_redis = "kafka_bootstrap" not in kwargs, "redis_url" not in kwargs
    try:
        if (need_kafka or need_redis) and os.environ.get("ITM_TEST_CONTAINERS") == "1" and _docker_answers():
            _start_containers(kwargs, cleanups, need_kafka, need_redis)
        data_dir = None
        broker = redis = None
        if "kafka_bootstrap" not in kwargs or "redis_url" not in kwargs:
            data_dir = tmp_path_factory.mktemp("infra")
        if "kafka_bootstrap" not in kwargs:
            broker = BrokerProcess(data_dir)
            cleanups.append(broker.stop)
            broker.start()
            kwargs.update(kafka_bootstrap=broker.bootstrap, kafka_source="embedded")
        if "redis_url" not in kwargs:
            redis = RedisProcess(data_dir)
            cleanups.append(redis.stop)
            redis.start()
            kwargs.update(redis_url=redis.url, redis_source="embedded")
    except BaseException:
        for cleanup in reversed(cleanups):
            with contextlib.suppress(Exception):
                cleanup()
        raise
    infra = Infra(**kwargs, broker=broker, redis=redis, data_dir=data_dir, _cleanups=cleanups)
    for what, (ok, detail) in {
        "Kafka": kafka_ready(infra.kafka_bootstrap, timeout=10),
        "Redis": redis_ready(infra.redis_url, timeout=5),
    }.items():
        if not ok:
            infra.close()
            pytest.fail(f"{what} for the tests is not reachable ({infra}): {detail}", pytrace=False)
    try:
        yield infra
    finally:
        infra.close()


@pytest.fixture(scope="session")
def kafka_bootstrap(infra: Infra) -> str:
    return infra.kafka_bootstrap


@pytest.fixture(scope="session")
def redis_url(infra: Infra) -> str:
    return infra.redis_url


@pytest.fixture
async def topic_prefix(infra: Infra) -> AsyncIterator[str]:
    from itm.runtime.topics import ensure_topics

    prefix = f"t{uuid.uuid4().hex[:8]}."
    await ensure_topics(infra.kafka_bootstrap, prefix=prefix)
    yield prefix
    # Redis keys are prefixed too; topics stay (an embedded broker dies with the session)
    import redis.asyncio as aioredis

    client = aioredis.from_url(infra.redis_url)
    try:
        batch = []
        async for key in client.scan_iter(match=f"{prefix}*", count=500):
            batch.append(key)
            if len(batch) >= 500:
                await client.unlink(*batch)
                batch.clear()
        if batch:
            await client.unlink(*batch)
    except Exception:
        pass
    finally:
        await client.aclose()


@pytest.fixture
async def redis_client(redis_url: str):
    import redis.asyncio as aioredis

    client = aioredis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


# --------------------------------------------------------------------------- services


def _env_name(key: str) -> str:
    """``consumer_max_attempts`` -> ``ITM_CONSUMER_MAX_ATTEMPTS``; upper-case keys
    (``ITM_X``, ``PYTHONPATH``) are taken as they are."""
    return key if key.isupper() else f"ITM_{key.upper()}"


def _env_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class _ServiceStarter:
    """``start_service(name, *, module=None, wait=True, timeout=60, grpc_port=None,
    http_port=None, **env) -> ServiceProcess``.

    ``env`` keys in lower case become ITM_* settings (``consumer_max_attempts=2``);
    upper-case keys are passed as they are (``PYTHONPATH=...``). A second process
    of the same service (e.g. two matcher workers) gets its own data dir and log.
    To start several in parallel pass ``wait=False`` and call ``wait_healthy()``
    on each (``await svc.wait_healthy_async()`` keeps the event loop running).
    """

    def __init__(self, infra: Infra, topic_prefix: str, root: Path):
        self.infra = infra
        self.topic_prefix = topic_prefix
        self.root = root
        self.started: list[ServiceProcess] = []
        self._counts: dict[str, int] = {}

    def base_env(self, name: str, instance: str | None) -> dict[str, str]:
        label = f"{name}-{instance}" if instance else name
        return {
            "ITM_KAFKA_BOOTSTRAP": self.infra.kafka_bootstrap,
            "ITM_REDIS_URL": self.infra.redis_url,
            "ITM_TOPIC_PREFIX": self.topic_prefix,
            "ITM_LOG_FORMAT": "console",
            "ITM_DATA_DIR": str(self.root / "data" / label),
        }

    def __call__(
        self,
        name: str,
        *,
        module: str | None = None,
        wait: bool = True,
        timeout: float = 60.0,
        grpc_port: int | None = None,
        http_port: int | None = None,
        **env: Any,
    ) -> ServiceProcess:
        n = self._counts[name] = self._counts.get(name, 0) + 1
        instance = str(n) if n > 1 else None
        full_env = self.base_env(name, instance)
        profile = next((p for p in self.started if p.service == "profile"), None)
        if profile is not None:  # as DevStack does: services look people up in this test's profile service
            full_env["ITM_PROFILE_TARGET"] = profile.grpc_target
        full_env.update({_env_name(k): _env_value(v) for k, v in env.items()})
        svc = ServiceProcess(
            name,
            full_env,
            self.root,
            grpc_port=grpc_port,
            http_port=http_port,
            module=module,
            instance=instance,
        )
        self.started.append(svc)
        svc.start(wait=wait, timeout=timeout)
        return svc

    def stop_all(self, show_logs: bool) -> None:
        for svc in reversed(self.started):
            try:
                svc.stop(timeout=10)
            except Exception as exc:  # keep stopping the others
                print(f"stopping {svc.name} failed: {exc!r}")
                with contextlib.suppress(Exception):
                    svc.kill()
        if show_logs:
            for svc in self.started:
                print(f"\n===== {svc.name} (exit {svc.returncode}): last lines of {svc.log_path} =====")
                print(svc.log_tail(80))


@pytest.fixture
def start_service(
    infra: Infra, topic_prefix: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[_ServiceStarter]:
    starter = _ServiceStarter(infra, topic_prefix, tmp_path / "services")
    try:
        yield starter
    finally:
        starter.stop_all(show_logs=_test_failed(request))
