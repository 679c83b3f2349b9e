"""ITM services as containers of ``itm:local``, with the interface of a ``ServiceProcess``.

``ContainerService`` is a drop-in for ``itm.devstack.ServiceProcess`` (the test
harness's ``start_service`` hands one out under ITM_TEST_CONTAINERS=1): same
ports, settings, health probe and ``stop``/``kill``/``restart``; plus ``pause``
and ``resume`` (``docker pause``/``unpause``). It runs as the images do in
production: uid 10001, read-only root, a tmpfs /tmp, no capabilities,
no-new-privileges; host networking, so its gRPC and HTTP ports are loopback
ports picked by the caller. ITM_DATA_DIR is bind-mounted at the same path (owned
by 10001); any other setting naming an existing host path is mounted read-only
at that path. The container's output is kept in ``log_path`` as a process's is.

Only the docker CLI is used (DOCKER_HOST from the environment or ``docker_env``).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from itm.containers.engine import docker_cli
from itm.containers.images import ITM_IMAGE
from itm.devstack import DevStackError, ServiceProcess

UID = 10001
HARDENING = [
    "--user", f"{UID}:{UID}",
    "--read-only",
    "--tmpfs", "/tmp:rw,nosuid,nodev,size=64m",
    "--cap-drop", "ALL",
    "--security-opt", "no-new-privileges",
    "--network", "host",
]  # fmt: skip

__all__ = ["ContainerService", "docker"]


def docker(*args: str, env: Mapping[str, str] | None = None, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [docker_cli() or "docker", *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and done.returncode != 0:
        raise DevStackError(f"docker {' '.join(args[:2])} failed ({done.returncode}): {done.stderr.strip()[-1000:]}")
    return done


class ContainerService(ServiceProcess):
    """``python -m services.<name>`` in a container of ``image`` (see the module doc)."""

    kind = "container"

    def __init__(self, *args: Any, image: str = ITM_IMAGE, docker_env: Mapping[str, str] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.image = image
        self.docker_env = dict(docker_env or {})
        self.container = f"itm-{self.name}-{uuid.uuid4().hex[:8]}"
        self._created = False
        self._exit: int | None = None

    # -- docker
    def _docker(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return docker(*args, env=self.docker_env, check=check, timeout=timeout)

    def _inspect(self) -> dict[str, Any] | None:
        done = self._docker("inspect", "--format", "{{json .State}}", self.container, check=False, timeout=30)
        if done.returncode != 0:
            return None
        return json.loads(done.stdout)

    def _mounts(self) -> list[str]:
        self.service_data_dir.mkdir(parents=True, exist_ok=True)
        os.chown(self.service_data_dir, UID, UID)
        mounts = ["--volume", f"{self.service_data_dir}:{self.service_data_dir}:rw"]
        seen = {str(self.service_data_dir)}
        for key, value in self.env.items():
            if key == "ITM_DATA_DIR" or not value.startswith("/") or value in seen:
                continue
            if Path(value).exists():
                seen.add(value)
                mounts += ["--volume", f"{value}:{value}:ro"]
        return mounts

    def command(self) -> list[str]:
        return ["python", "-m", self.module]

    # -- lifecycle (ManagedProcess's, for a container)
    def spawn(self) -> None:
        if self.running:
            raise DevStackError(f"{self.name} is already running (container {self.container})")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._exit = None
        if self._created:  # a restart: same container, same ports and data
            self._save_log()
            self._docker("start", self.container)
            return
        env_args: list[str] = []
        for key, value in {"PYTHONUNBUFFERED": "1", **self.env}.items():
            env_args += ["--env", f"{key}={value}"]
        self._docker(
            "run", "--detach", "--name", self.container,
            "--label", "org.itm.test=1",
            *HARDENING, *self._mounts(), *env_args,
            self.image, *self.command(),
        )  # fmt: skip
        self._created = True

    def _aborted_in_fork(self) -> bool:
        return False

    def wait_ready(self, timeout: float | None = None):
        # ManagedProcess.wait_ready polls self._proc; a container has none
        timeout = self.ready_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        detail = "not probed yet"
        while True:
            state = self._inspect()
            if state is None:
                raise DevStackError(f"{self.name} was never started")
            if not state.get("Running"):
                self._exit = state.get("ExitCode")
                raise self._startup_error(f"{self.name} (container) exited with code {self._exit} before becoming ready")
            ok, detail = self.probe()
            if ok:
                return self
            if time.monotonic() >= deadline:
                raise self._startup_error(f"{self.name} (container {self.container}) not ready after {timeout:g}s; last check: {detail}")
            time.sleep(0.2)

    def stop(self, timeout: float = 10.0) -> int | None:
        if not self._created:
            return None
        self._docker("stop", "--time", str(max(1, int(timeout))), self.container, check=False, timeout=timeout + 30)
        return self.returncode

    def kill(self) -> int | None:
        if not self._created:
            return None
        self._docker("kill", "--signal", "KILL", self.container, check=False, timeout=30)
        self._docker("wait", self.container, check=False, timeout=30)
        return self.returncode

    def pause(self) -> None:
        self._docker("pause", self.container)

    def resume(self) -> None:
        self._docker("unpause", self.container)

    def remove(self) -> None:
        """Keep its log in ``log_path`` and remove the container (stop first)."""
        if not self._created:
            return
        with contextlib.suppress(Exception):
            self._exit = self.returncode
        self._save_log()
        self._docker("rm", "--force", "--volumes", self.container, check=False, timeout=60)
        self._created = False

    def _save_log(self) -> None:
        done = self._docker("logs", self.container, check=False, timeout=60)
        if done.returncode == 0:
            with open(self.log_path, "a") as log:
                log.write(done.stdout + done.stderr)

    # -- info
    @property
    def pid(self) -> int | None:
        state = self._inspect() if self._created else None
        return (state or {}).get("Pid") or None

    @property
    def running(self) -> bool:
        state = self._inspect() if self._created else None
        return bool(state and state.get("Running"))

    @property
    def paused(self) -> bool:
        state = self._inspect() if self._created else None
        return bool(state and state.get("Paused"))

    @property
    def returncode(self) -> int | None:
        if not self._created:
            return self._exit
        state = self._inspect()
        if state is None or state.get("Running"):
            return None
        return state.get("ExitCode")

    def log_tail(self, lines: int = 40) -> str:
        if not self._created:
            return super().log_tail(lines)
        done = self._docker("logs", "--tail", str(lines), self.container, check=False, timeout=30)
        return (done.stdout + done.stderr).strip()

    def state(self) -> dict[str, Any]:
        return {**super().state(), "container": self.container, "image": self.image}
