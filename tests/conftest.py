"""The test harness: broker, Redis, per-test topic prefixes and service processes.

Fixtures (all lazy: a session whose tests need none of them starts nothing):

* ``infra`` (session): ``.kafka_bootstrap`` / ``.redis_url``. Taken from the
  environment (KAFKA_BOOTSTRAP / REDIS_URL) when set; else, when
  ITM_TEST_CONTAINERS=1, ``container_infra``; else a throwaway Tansu +
  redis-server on free ports (``.broker`` / ``.redis`` are then the
  ``itm.devstack`` process handles, None otherwise).
* ``containers`` (session): a Docker engine and the images of ``make images``
  (``itm.containers``). The engine at DOCKER_HOST if one answers, else a private
  dockerd (data and socket under the session's tmp dir, no bridge, no iptables,
  host networking) stopped with every container at the end of the session. Skips
  (one line in the summary says why) where no engine can be started; fails if
  ITM_TEST_CONTAINERS=1 asked for containers.
* ``container_infra`` (session): Tansu (``itm-broker:local``) and redis-server
  (``itm-redis:local``) as containers by testcontainers (Ryuk disabled: its image
  cannot be pulled), on loopback ports below 32768.
* ``start_container``: like ``start_service``, but every service is an
  ``itm:local`` container (``itm.containers.run.ContainerService``: kill, pause,
  resume, restart) on ``container_infra``. Under ITM_TEST_CONTAINERS=1 the
  ``start_service`` of the modules in ``CONTAINERIZED_MODULES`` starts containers
  too, and ``service_class`` is ContainerService there.
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
# under ITM_TEST_CONTAINERS=1 these modules' services run as containers of itm:local
CONTAINERIZED_MODULES = frozenset({"test_e2e_path", "test_notifier", "test_notifier_workflow"})
# one line for the summary: what the container tests did, or why they did not run
_CONTAINERS_NOTE: list[str] = []


def containers_requested() -> bool:
    return os.environ.get("ITM_TEST_CONTAINERS") == "1"


# --------------------------------------------------------------------------- hooks


def pytest_configure(config: pytest.Config) -> None:
    # kafka-python 3.0 loads its protocol schemas through deprecated importlib.resources calls
    config.addinivalue_line("filterwarnings", "ignore:read_text is deprecated:DeprecationWarning")
    config.addinivalue_line("filterwarnings", "ignore:open_text is deprecated:DeprecationWarning")


# `make test` runs two pytest-xdist workers with --dist loadfile: a worker takes a whole module
# (its module-scoped stack starts once). The longest modules go first, so that neither worker is
# left with a long one at the end; the two that need the Docker engine are far apart, so the
# second finds the images built (itm.containers.images serialises builds with a lock anyway).
LONGEST_FIRST = ("test_containers", "test_matcher", "test_webhooks", "test_notifier_channels", "test_chaos_round",
                 "test_console_roles", "test_notifier", "test_compose", "test_web_console",
                 "test_hardening_consumers")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if INTEGRATION_DIR in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.integration)
    rank = {module: n for n, module in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda i: rank.get(Path(str(i.path)).stem, len(rank)))  # stable: a module keeps its order
    if containers_requested():
        # a worker's first integration test sets up the container infra (the engine, a build of the
        # images or a wait for the other worker's): any module's first one may be a worker's first
        seen: set[Path] = set()
        for item in items:
            if item.get_closest_marker("integration") and item.path not in seen:
                seen.add(item.path)
                item.add_marker(pytest.mark.timeout(1800), append=False)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    report = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    return report


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # noqa: ARG001
    for line in _CONTAINERS_NOTE:
        terminalreporter.write_line(line)


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


@pytest.fixture(scope="session")
def infra(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Infra]:
    kwargs: dict[str, Any] = {}
    cleanups: list[Any] = []
    if os.environ.get("KAFKA_BOOTSTRAP"):
        kwargs.update(kafka_bootstrap=os.environ["KAFKA_BOOTSTRAP"], kafka_source="env")
    if os.environ.get("REDIS_URL"):
        kwargs.update(redis_url=os.environ["REDIS_URL"], redis_source="env")
    need_kafka, need_redis = "kafka_bootstrap" not in kwargs, "redis_url" not in kwargs
    try:
        if (need_kafka or need_redis) and containers_requested():
            boxed: Infra = request.getfixturevalue("container_infra")
            if need_kafka:
                kwargs.update(kafka_bootstrap=boxed.kafka_bootstrap, kafka_source="containers")
            if need_redis:
                kwargs.update(redis_url=boxed.redis_url, redis_source="containers")
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


# --------------------------------------------------------------------------- containers


@dataclass
class ContainerLab:
    """An engine that answers and the four images of ``make images`` in it."""

    env: dict[str, str]  # DOCKER_HOST for the docker CLI, docker-py and testcontainers
    engine: Any = None  # itm.containers.engine.PrivateEngine when the harness started one
    images: dict[str, dict[str, Any]] = field(default_factory=dict)


def _images_note(images: dict[str, dict[str, Any]], engine: Any) -> str:
    parts = [f"{name} {row['size_mb']:.0f} MB{' built %.0f s' % row['seconds'] if row['built'] else ''}" for name, row in images.items()]
    where = "a private dockerd" if engine is not None else "the engine at DOCKER_HOST"
    return f"containers: {where}; images: " + ", ".join(parts)


@pytest.fixture(scope="session")
def containers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ContainerLab]:
    from itm.containers.engine import PrivateEngine, engine_answers, why_no_engine
    from itm.containers.images import build_all, why_no_images

    def unavailable(reason: str):
        line = f"containers: not run: {reason}"
        if line not in _CONTAINERS_NOTE:
            _CONTAINERS_NOTE.append(line)
        if containers_requested():
            pytest.fail(f"ITM_TEST_CONTAINERS=1 but {reason}", pytrace=False)
        pytest.skip(line)

    if os.environ.get("ITM_TEST_CONTAINERS") == "0":
        unavailable("ITM_TEST_CONTAINERS=0")
    engine = None
    if engine_answers():
        env = {"TESTCONTAINERS_RYUK_DISABLED": "true"}
    else:
        reason = why_no_engine()
        if reason:
            unavailable(f"no Docker engine answers and none can be started here: {reason}")
        if reason := why_no_images():
            unavailable(reason)
        engine = PrivateEngine(tmp_path_factory.mktemp("docker")).start()
        env = engine.env
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)  # testcontainers and docker-py read them from the environment
    try:
        from testcontainers.core.config import testcontainers_config

        testcontainers_config.ryuk_disabled = True
        images = build_all(env)
        _CONTAINERS_NOTE.append(_images_note(images, engine))
        yield ContainerLab(env=env, engine=engine, images=images)
    finally:
        if engine is not None:
            engine.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _run_container(image: str, command: list[str], **kwargs: Any) -> Any:
    from testcontainers.core.container import DockerContainer

    container = DockerContainer(image).with_command(command).with_kwargs(network_mode="host", labels={"org.itm.test": "1"}, **kwargs)
    container.start()
    return container


@pytest.fixture(scope="session")
def container_infra(containers: ContainerLab) -> Iterator[Infra]:
    from itm.containers.images import BROKER_IMAGE, REDIS_IMAGE
    from itm.devstack import free_port

    cleanups: list[Any] = []
    try:
        kafka_port, redis_port = free_port(), free_port()
        url = f"tcp://127.0.0.1:{kafka_port}"
        broker = _run_container(
            os.environ.get("ITM_TEST_BROKER_IMAGE", BROKER_IMAGE),
            ["broker", "--listener-url", url, "--advertised-listener-url", url, "--storage-engine", "memory://tansu/"],
            read_only=True,
        )
        cleanups.append(broker.stop)
        redis = _run_container(
            os.environ.get("ITM_TEST_REDIS_IMAGE", REDIS_IMAGE),
            ["--port", str(redis_port), "--bind", "127.0.0.1", "--dir", "/data", "--appendonly", "yes", "--appendfsync", "always", "--save", ""],
            read_only=True,
        )
        cleanups.append(redis.stop)
    except BaseException:
        for cleanup in reversed(cleanups):
            with contextlib.suppress(Exception):
                cleanup()
        raise
    infra = Infra(
        kafka_bootstrap=f"127.0.0.1:{kafka_port}",
        redis_url=f"redis://127.0.0.1:{redis_port}/0",
        kafka_source="containers",
        redis_source="containers",
        _cleanups=cleanups,
    )
    # the containers themselves, for chaos: .broker_container / .redis_container (testcontainers)
    infra.broker_container, infra.redis_container = broker, redis  # type: ignore[attr-defined]
    for what, (ok, detail) in {
        "Kafka (Tansu container)": kafka_ready(infra.kafka_bootstrap, timeout=30),
        "Redis (container)": redis_ready(infra.redis_url, timeout=30),
    }.items():
        if not ok:
            logs = [c.get_wrapped_container().logs(tail=20).decode(errors="replace") for c in (broker, redis)]
            infra.close()
            pytest.fail(f"{what} for the tests is not reachable: {detail}; logs: {logs}", pytrace=False)
    try:
        yield infra
    finally:
        infra.close()



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

    def __init__(self, infra: Infra, topic_prefix: str, root: Path, lab: ContainerLab | None = None):
        self.infra = infra
        self.topic_prefix = topic_prefix
        self.root = root
        self.lab = lab  # set: services run as itm:local containers (a custom ``module`` still as a process)
        self.started: list[ServiceProcess] = []
        self._counts: dict[str, int] = {}

    def base_env(self, name: str, instance: str | None) -> dict[str, str]:
        label = f"{name}-{instance}" if instance else name
        return {
            "ITM_KAFKA_BOOTSTRAP": self.infra.kafka_bootstrap,
            "ITM_REDIS_URL": self.infra.redis_url,
            "ITM_TOPIC_PREFIX": self.topic_prefix,
            "ITM_LOG_FORMAT": os.environ.get("ITM_TEST_LOG_FORMAT", "console"),  # json: with every field
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
        matcher = next((p for p in self.started if p.service == "matcher"), None)
        if matcher is not None:  # and ask this test's matcher for scores
            full_env["ITM_MATCHER_TARGET"] = matcher.grpc_target
        full_env.update({_env_name(k): _env_value(v) for k, v in env.items()})
        kind: Any = ServiceProcess
        extra: dict[str, Any] = {}
        if self.lab is not None and module is None:
            from itm.containers.run import ContainerService

            kind, extra = ContainerService, {"docker_env": self.lab.env}
        svc = kind(
            name,
            full_env,
            self.root,
            grpc_port=grpc_port,
            http_port=http_port,
            module=module,
            instance=instance,
            **extra,
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
        for svc in self.started:
            if hasattr(svc, "remove"):  # a container: keep its log, remove it
                with contextlib.suppress(Exception):
                    svc.remove()


def _containerized(request: pytest.FixtureRequest) -> bool:
    return containers_requested() and request.module is not None and request.module.__name__.rsplit(".", 1)[-1] in CONTAINERIZED_MODULES


@pytest.fixture
def start_service(
    infra: Infra, topic_prefix: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[_ServiceStarter]:
    lab = request.getfixturevalue("containers") if _containerized(request) else None
    starter = _ServiceStarter(infra, topic_prefix, tmp_path / "services", lab)
    try:
        yield starter
    finally:
        starter.stop_all(show_logs=_test_failed(request))


@pytest.fixture
async def start_container(
    containers: ContainerLab, container_infra: Infra, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[_ServiceStarter]:
    """``start_service`` with every service an ``itm:local`` container on ``container_infra``;
    ``.topic_prefix`` is this test's prefix (its topics exist)."""
    from itm.runtime.topics import ensure_topics

    prefix = f"c{uuid.uuid4().hex[:8]}."
    await ensure_topics(container_infra.kafka_bootstrap, prefix=prefix)
    starter = _ServiceStarter(container_infra, prefix, tmp_path / "services", containers)
    try:
        yield starter
    finally:
        starter.stop_all(show_logs=_test_failed(request))


@pytest.fixture(scope="module")
def service_class(request: pytest.FixtureRequest) -> Any:
    """What a module that builds its own services should use: ``ServiceProcess``, or
    under ITM_TEST_CONTAINERS=1 (for ``CONTAINERIZED_MODULES``) a ContainerService
    bound to the session's engine (call ``.remove()`` after ``.stop()``)."""
    if not _containerized(request):
        return ServiceProcess
    import functools

    from itm.containers.run import ContainerService

    lab = request.getfixturevalue("containers")
    return functools.partial(ContainerService, docker_env=lab.env)
