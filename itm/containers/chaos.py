"""A chaos backend for components that run as Docker containers.

``DockerBackend(containers, env)`` maps component names (``profile``, ``broker``,
``redis``, ...) to container names and injects faults with the docker CLI:

* ``kill(name)``: SIGKILL, no graceful shutdown; the container stays stopped
  until ``start(name)`` (a supervisor's restart, as ``restart: unless-stopped``).
* ``pause(name)`` / ``resume(name)``: ``docker pause`` / ``unpause`` (the cgroup
  freezer: the process keeps its sockets and stops answering).
* ``restart(name, timeout)``: ``docker restart`` (SIGTERM, then SIGKILL after
  ``timeout`` s); the container's volumes, and so a Redis AOF, are kept.

Every fault is recorded in ``.log`` as (monotonic time, action, name).
``ContainerBackend`` wraps it in ``itm chaos``'s backend interface.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import Mapping

from itm.containers.engine import docker_cli

__all__ = ["ContainerBackend", "DockerBackend"]


class DockerBackend:
    def __init__(self, containers: Mapping[str, str], env: Mapping[str, str] | None = None):
        self.containers = dict(containers)
        self.env = {**os.environ, **(env or {})}
        self.log: list[tuple[float, str, str]] = []

    def _docker(self, *args: str, timeout: float = 60) -> str:
        done = subprocess.run([docker_cli() or "docker", *args], env=self.env, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"docker {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout

    def _container(self, name: str) -> str:
        try:
            return self.containers[name]
        except KeyError:
            raise KeyError(f"no container for {name!r}; known: {sorted(self.containers)}") from None

    def _record(self, action: str, name: str) -> None:
        self.log.append((time.monotonic(), action, name))

    def kill(self, name: str) -> None:
        self._docker("kill", "--signal", "KILL", self._container(name))
        self._docker("wait", self._container(name))
        self._record("kill", name)

    def start(self, name: str) -> None:
        self._docker("start", self._container(name))
        self._record("start", name)

    def pause(self, name: str) -> None:
        self._docker("pause", self._container(name))
        self._record("pause", name)

    def resume(self, name: str) -> None:
        self._docker("unpause", self._container(name))
        self._record("resume", name)

    def restart(self, name: str, timeout: float = 10) -> None:
        self._docker("restart", "--time", str(int(timeout)), self._container(name), timeout=timeout + 60)
        self._record("restart", name)

    def status(self, name: str) -> str:
        """``running``, ``paused``, ``exited``, ... (docker's State.Status)."""
        return self._docker("inspect", "--format", "{{.State.Status}}", self._container(name)).strip()


class ContainerBackend:
    """``itm chaos``'s backend interface (``itm.chaos.backends.Backend``: async kill,
    start, pause, resume, restart, ``names()``, ``targets``, ``kafka_bootstrap``) over
    containers, by ``DockerBackend``. ``start`` and ``restart`` return once the
    service's gRPC health says SERVING again (the broker and Redis: once they answer)."""

    def __init__(self, containers: Mapping[str, str], targets: Mapping[str, str], kafka_bootstrap: str,
                 *, redis_url: str = "", topic_prefix: str = "", env: Mapping[str, str] | None = None,
                 ready_timeout: float = 120.0):
        self.docker = DockerBackend(containers, env)
        self.targets = dict(targets)
        self.kafka_bootstrap = kafka_bootstrap
        self.redis_url = redis_url
        self.topic_prefix = topic_prefix
        self.ready_timeout = ready_timeout

    def names(self) -> list[str]:
        return list(self.docker.containers)

    def _ready(self, name: str) -> None:
        from itm.devstack import grpc_health, kafka_ready, redis_ready

        deadline = time.monotonic() + self.ready_timeout
        while True:
            if name in self.targets:
                ok, detail = grpc_health(self.targets[name], timeout=2.0)
            elif name in ("kafka", "broker"):
                ok, detail = kafka_ready(self.kafka_bootstrap, timeout=2.0)
            elif name == "redis" and self.redis_url:
                ok, detail = redis_ready(self.redis_url, timeout=2.0)
            else:
                return
            if ok:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} not ready {self.ready_timeout:.0f} s after a start: {detail}")
            time.sleep(0.3)

    async def kill(self, name: str) -> None:
        await asyncio.to_thread(self.docker.kill, name)

    async def start(self, name: str) -> None:
        await asyncio.to_thread(self.docker.start, name)
        await asyncio.to_thread(self._ready, name)

    async def pause(self, name: str) -> None:
        await asyncio.to_thread(self.docker.pause, name)

    async def resume(self, name: str) -> None:
        await asyncio.to_thread(self.docker.resume, name)

    async def restart(self, name: str) -> None:
        await asyncio.to_thread(self.docker.restart, name)
        await asyncio.to_thread(self._ready, name)

    async def close(self) -> None:
        """The containers belong to whoever started them: nothing to undo."""


try:  # registered as an itm.chaos backend where that package is there
    from itm.chaos.backends import Backend as _Backend

    _Backend.register(ContainerBackend)
except ImportError:  # pragma: no cover
    pass
