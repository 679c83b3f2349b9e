"""Where faults land: a backend kills, starts, pauses, resumes and restarts a named
service of the stack under test.

Names: the ITM services (``profile``, ``opportunity``, ``learning``, ``matcher``,
``notifier``, and ``matcher-2`` for a second matcher worker), ``kafka`` (the broker)
and ``redis``. A backend also says where the stack answers (gRPC targets, the broker's
bootstrap for poison records) and which of the names it has.
"""

from __future__ import annotations

import abc
import asyncio
import os
import shlex
import signal
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

ITM_SERVICES = ("profile", "opportunity", "learning", "matcher", "notifier")


class Backend(abc.ABC):
    """The fault interface. Every call returns once the action is done (``start`` and
    ``restart``: once the service answers again, as far as the backend can tell)."""

    #: gRPC target per ITM service (host:port)
    targets: dict[str, str]
    #: the broker, for poison records
    kafka_bootstrap: str
    #: the topic prefix of the stack (ITM_TOPIC_PREFIX)
    topic_prefix: str = ""

    @abc.abstractmethod
    def names(self) -> list[str]:
        """The services this backend can act on."""

    @abc.abstractmethod
    async def kill(self, name: str) -> None:
        """SIGKILL: no goodbye, no final commit, no flush."""

    @abc.abstractmethod
    async def start(self, name: str) -> None:
        """Start a killed service again."""

    @abc.abstractmethod
    async def pause(self, name: str) -> None:
        """Freeze (SIGSTOP / docker pause): sockets stay open, nothing answers."""

    @abc.abstractmethod
    async def resume(self, name: str) -> None:
        """Thaw a paused service."""

    @abc.abstractmethod
    async def restart(self, name: str) -> None:
        """A graceful stop, then a start."""

    async def close(self) -> None:
        """Undo what the backend started (the local stack); nothing for compose."""


# --------------------------------------------------------------------------- docker compose


class ComposeBackend(Backend):
    """``docker compose`` (or ``docker-compose``) on the project in ``project_dir``.

    The commands are plain and shown by ``command(action, name)``:
    ``kill -s SIGKILL``, ``start``, ``pause``, ``unpause``, ``restart``. ``service_names``
    maps ITM's names to the compose services (the shipped docker-compose.yml uses the
    same names). ``run`` executes a command (tests pass a recorder)."""

    ACTIONS = {
        "kill": ["kill", "-s", "SIGKILL"],
        "start": ["start"],
        "pause": ["pause"],
        "resume": ["unpause"],
        "restart": ["restart"],
    }

    def __init__(self, targets: dict[str, str], kafka_bootstrap: str, *, project_dir: str | os.PathLike[str] = ".",
                 project: str | None = None, files: Sequence[str] = (), compose: Sequence[str] = ("docker", "compose"),
                 service_names: dict[str, str] | None = None, topic_prefix: str = "",
                 run: Callable[[list[str]], None] | None = None):
        self.targets = dict(targets)
        self.kafka_bootstrap = kafka_bootstrap
        self.topic_prefix = topic_prefix
        self.project_dir = Path(project_dir)
        self.project = project
        self.files = list(files)
        self.compose = list(compose)
        self.service_names = {n: n for n in (*ITM_SERVICES, "kafka", "redis")} | dict(service_names or {})
        self._run = run or self._subprocess

    def names(self) -> list[str]:
        return list(self.service_names)

    def command(self, action: str, name: str) -> list[str]:
        """The exact command line for ``action`` on ``name``."""
        if name not in self.service_names:
            raise KeyError(f"{name!r} is not a service of this compose project ({', '.join(self.service_names)})")
        cmd = list(self.compose)
        for f in self.files:
            cmd += ["-f", f]
        if self.project:
            cmd += ["-p", self.project]
        return cmd + self.ACTIONS[action] + [self.service_names[name]]

    def _subprocess(self, cmd: list[str]) -> None:
        done = subprocess.run(cmd, cwd=self.project_dir, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{shlex.join(cmd)} failed ({done.returncode}): {done.stderr.strip()[-500:]}")

    async def _act(self, action: str, name: str) -> None:
        await asyncio.to_thread(self._run, self.command(action, name))

    async def kill(self, name: str) -> None:
        await self._act("kill", name)

    async def start(self, name: str) -> None:
        await self._act("start", name)

    async def pause(self, name: str) -> None:
        await self._act("pause", name)

    async def resume(self, name: str) -> None:
        await self._act("resume", name)

    async def restart(self, name: str) -> None:
        await self._act("restart", name)


# --------------------------------------------------------------------------- local processes


class LocalBackend(Backend):
    """The embedded stack (``itm.devstack.DevStack``: Tansu, redis-server and the five
    services as processes) started for the round in ``data_dir``, plus ``matcher_workers
    - 1`` more matcher workers (``matcher-2``, ...). Faults are signals to the processes.

    The processes are started without a ``preexec_fn`` (``die_with_parent=False``): the
    round forks them while its gRPC threads are busy, and a fork that runs Python code
    before its exec can crash the child (measured: a matcher started again after its
    SIGKILL died of SIGSEGV before its exec). So they do not die with the round by
    themselves: ``close()`` stops them, and every one is in ``<data_dir>/stack.json``
    (``itm dev down --data-dir DIR`` stops what a killed round left)."""

    def __init__(self, data_dir: str | os.PathLike[str], *, matcher_workers: int = 2,
                 env: dict[str, str] | None = None, start_attempts: int = 3):
        self.data_dir = Path(data_dir)
        self.matcher_workers = matcher_workers
        self.env = dict(env or {})
        self.start_attempts = start_attempts
        self.stack = None
        self.procs: dict = {}
        self.targets = {}
        self.kafka_bootstrap = ""
        self.topic_prefix = ""

    def names(self) -> list[str]:
        return list(self.procs)

    async def open(self) -> LocalBackend:
        await asyncio.to_thread(self._open)
        return self

    def _open(self) -> None:
        from itm.devstack import DevStack, ServiceProcess

        self.stack = DevStack(self.data_dir, env=self.env, die_with_parent=False)
        self.stack.start()
        matcher = self.stack.services["matcher"]
        for n in range(2, self.matcher_workers + 1):
            env = {**matcher.env, "ITM_DATA_DIR": str(self.data_dir / "data" / f"matcher-{n}")}
            env.pop("ITM_GRPC_PORT", None)
            env.pop("ITM_HTTP_PORT", None)
            worker = ServiceProcess("matcher", env, self.data_dir, instance=str(n), die_with_parent=False)
            self.stack.services[f"matcher-{n}"] = worker  # stopped with the stack, listed in its state file
            worker.start(wait=True, timeout=120)
            self.stack.write_state()
        self.procs = {"kafka": self.stack.broker, "redis": self.stack.redis, **self.stack.services}
        self.targets = {name: svc.grpc_target for name, svc in self.stack.services.items() if name in ITM_SERVICES}
        self.kafka_bootstrap = self.stack.kafka_bootstrap

    def _proc(self, name: str):
        try:
            return self.procs[name]
        except KeyError:
            raise KeyError(f"{name!r} is not a process of this stack ({', '.join(self.procs)})") from None

    def _started(self, start) -> None:
        """``start()`` until the process is ready (at most ``start_attempts``), then record its pid."""
        for attempt in range(1, self.start_attempts + 1):
            try:
                start()
                break
            except Exception:  # noqa: BLE001 - a start that died: again, the last failure is raised
                if attempt == self.start_attempts:
                    raise
        self.stack.write_state()

    async def kill(self, name: str) -> None:
        await asyncio.to_thread(self._proc(name).kill)

    async def start(self, name: str) -> None:
        proc = self._proc(name)
        await asyncio.to_thread(self._started, lambda: proc.start(wait=True, timeout=120))

    async def pause(self, name: str) -> None:
        os.kill(self._proc(name).pid, signal.SIGSTOP)

    async def resume(self, name: str) -> None:
        os.kill(self._proc(name).pid, signal.SIGCONT)

    async def restart(self, name: str) -> None:
        proc = self._proc(name)

        def again():
            if proc.running:
                proc.stop(15)
            proc.start(wait=True, timeout=120)

        await asyncio.to_thread(self._started, again)

    async def close(self) -> None:
        def stop():
            for proc in self.procs.values():  # a paused process cannot stop
                try:
                    if proc.pid:
                        os.kill(proc.pid, signal.SIGCONT)
                except (OSError, TypeError):
                    pass
            if self.stack is not None:
                self.stack.stop()

        await asyncio.to_thread(stop)
