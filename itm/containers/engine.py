"""A Docker engine for builds and tests on a machine where none runs.

``engine_answers()`` says whether the engine at ``DOCKER_HOST`` (or the default
socket) answers. ``PrivateEngine(root)`` starts a dockerd of its own with every
file under ``root``: data root, exec root (containerd's state too), pid file and
socket ``root/docker.sock``; no bridge, no iptables, so containers run with
``--network host`` and every address is loopback. ``stop()`` removes its
containers, stops dockerd (then SIGKILL, then its process group) and unmounts
whatever it left mounted under ``root``: nothing keeps running.

``why_no_engine()`` is None when a private engine can be started here, else the
one-line reason (no dockerd, not root, ...).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

__all__ = ["PrivateEngine", "docker_cli", "engine", "engine_answers", "why_no_engine"]

# a unix socket path must fit sockaddr_un.sun_path (108 bytes with its NUL)
_MAX_SOCKET_PATH = 100


def docker_cli() -> str | None:
    return shutil.which("docker")


def engine_answers(env: Mapping[str, str] | None = None, timeout: float = 5.0) -> bool:
    """True if ``docker version`` reaches a server (DOCKER_HOST from ``env`` or os.environ)."""
    cli = docker_cli()
    if cli is None:
        return False
    full_env = {**os.environ, **(env or {})}
    try:
        done = subprocess.run(
            [cli, "version", "--format", "{{.Server.Version}}"],
            env=full_env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0 and bool(done.stdout.strip())


def why_no_engine() -> str | None:
    """None if ``PrivateEngine`` can run on this machine, else why not (one line)."""
    if docker_cli() is None:
        return "no docker CLI on PATH (Debian: apt-get install docker.io)"
    if shutil.which("dockerd") is None:
        return "no dockerd on PATH (Debian: apt-get install docker.io)"
    if os.geteuid() != 0:
        return "dockerd needs root and this is not root"
    if not Path("/sys/fs/cgroup").is_dir():
        return "no /sys/fs/cgroup: containers cannot run here"
    return None


class PrivateEngine:
    """dockerd with data, exec root and socket under ``root``; host networking only."""

    def __init__(self, root: str | os.PathLike[str], *, start_timeout: float = 60.0):
        self.root = Path(root).resolve()
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self._sock_dir: str | None = None
        sock = self.root / "docker.sock"
        if len(str(sock)) > _MAX_SOCKET_PATH:
            self._sock_dir = tempfile.mkdtemp(prefix="itm-docker-")
            sock = Path(self._sock_dir) / "docker.sock"
        self.socket = sock
        self.log_path = self.root / "dockerd.log"

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"

    @property
    def env(self) -> dict[str, str]:
        """Variables that point the docker CLI, docker-py and testcontainers at this engine."""
        return {"DOCKER_HOST": self.host, "TESTCONTAINERS_RYUK_DISABLED": "true"}

    def command(self) -> list[str]:
        return [
            shutil.which("dockerd") or "dockerd",
            "--data-root", str(self.root / "data"),
            "--exec-root", str(self.root / "exec"),
            "--pidfile", str(self.root / "docker.pid"),
            "--host", self.host,
            "--bridge=none",
            "--iptables=false",
            "--ip6tables=false",
            "--ip-forward=false",
            "--ip-masq=false",
            "--userland-proxy=false",
            "--storage-driver", "overlay2",
            "--log-level", "warn",
        ]  # fmt: skip

    def start(self) -> PrivateEngine:
        reason = why_no_engine()
        if reason:
            raise RuntimeError(f"cannot start a Docker engine: {reason}")
        self.root.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(
                self.command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        finally:
            log.close()
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                tail = self.log_tail()
                self.stop()
                raise RuntimeError(f"dockerd exited with {self.proc.returncode}: {tail}")
            if self.socket.exists() and engine_answers(self.env, timeout=3):
                return self
            time.sleep(0.2)
        tail = self.log_tail()
        self.stop()
        raise RuntimeError(f"dockerd did not answer within {self.start_timeout:.0f} s: {tail}")

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def docker(self, *args: str, check: bool = True, timeout: float | None = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [docker_cli() or "docker", *args],
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            check=check,
            timeout=timeout,
        )

    def stop(self, timeout: float = 30.0) -> None:
        """Remove every container, stop dockerd and its containerd, unmount leftovers."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(Exception):
                ids = self.docker("ps", "-aq", check=False, timeout=20).stdout.split()
                if ids:
                    self.docker("rm", "-f", "-v", *ids, check=False, timeout=60)
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
            # containerd (dockerd's child, same session) and any shim still there
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        _kill_under(self.root)
        _unmount_under(self.root)
        if self._sock_dir:
            shutil.rmtree(self._sock_dir, ignore_errors=True)
            self._sock_dir = None

    def __enter__(self) -> PrivateEngine:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def engine(root: str | os.PathLike[str]) -> Iterator[dict[str, str]]:
    """The environment of an engine that answers: the current one if it does, else a
    ``PrivateEngine`` under ``root`` for the duration of the block."""
    if engine_answers():
        yield {"TESTCONTAINERS_RYUK_DISABLED": "true"}
        return
    with PrivateEngine(root) as private:
        yield private.env


def _die_with_parent() -> None:
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def _kill_under(root: Path) -> None:
    """SIGKILL any process whose command line names ``root`` (a containerd or shim that
    left dockerd's process group)."""
    me = os.getpid()
    needle = str(root).encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if needle in cmdline:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(entry.name), signal.SIGKILL)


def _unmount_under(root: Path) -> None:
    prefix = str(root) + "/"
    try:
        mounts = [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()]
    except OSError:
        return
    for mount in sorted((m for m in mounts if m.startswith(prefix)), key=len, reverse=True):
        subprocess.run(["umount", "-l", mount], capture_output=True, check=False)
