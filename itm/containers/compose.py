"""docker-compose.yml + docker-compose.local.yml on a machine without a registry.

``python -m itm.containers.compose [compose arguments]``, e.g. ``up -d --no-build``,
``ps``, ``logs``, ``down --volumes``: renders the two files into one
(``compose config``), drops the published ``ports`` of every host-networked service
(Debian's docker-compose 1.29 refuses ports with host networking, and an override
cannot remove a list the base file sets), writes it to ``.itm/compose/local.yml`` and
runs compose on it. Compose v2 (``docker compose``) where present, else
``docker-compose``. The project is ``itm-local`` unless ``-p``/COMPOSE_PROJECT_NAME
says otherwise.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
FILES = (ROOT / "docker-compose.yml", ROOT / "docker-compose.local.yml")

__all__ = ["compose_command", "render", "run"]


def compose_command(env: Mapping[str, str] | None = None) -> list[str] | None:
    full = {**os.environ, **(env or {})}
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], env=full, capture_output=True).returncode == 0:
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


def render(env: Mapping[str, str] | None = None, target: Path | None = None) -> Path:
    """The merged file with no ports on host-networked services; returns its path."""
    compose = compose_command(env)
    if compose is None:
        raise RuntimeError("no docker compose v2 and no docker-compose (Debian: apt-get install docker-compose)")
    args = [*compose, "--project-directory", str(ROOT)]
    for f in FILES:
        args += ["-f", str(f)]
    done = subprocess.run([*args, "config"], env={**os.environ, **(env or {})}, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"compose config failed: {done.stderr.strip()}")
    config = yaml.safe_load(done.stdout)
    config.pop("name", None)  # v2 adds one; 1.29 refuses it
    for svc in config.get("services", {}).values():
        if svc.get("network_mode") == "host":
            svc.pop("ports", None)
            svc.pop("hostname", None)  # conflicts with host networking too
    target = target or ROOT / ".itm" / "compose" / "local.yml"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(yaml.safe_dump(config, sort_keys=False))
    return target


def run(args: list[str], env: Mapping[str, str] | None = None, project: str | None = None, **kwargs) -> subprocess.CompletedProcess[str]:
    compose = compose_command(env)
    if compose is None:
        raise RuntimeError("no docker compose v2 and no docker-compose (Debian: apt-get install docker-compose)")
    rendered = render(env)
    project = project or os.environ.get("COMPOSE_PROJECT_NAME") or "itm-local"
    cmd = [*compose, "--project-directory", str(ROOT), "-p", project, "-f", str(rendered), *args]
    return subprocess.run(cmd, env={**os.environ, **(env or {})}, text=True, **kwargs)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    project = None
    if len(argv) >= 2 and argv[0] in ("-p", "--project-name"):
        project, argv = argv[1], argv[2:]
    try:
        return run(argv or ["ps"], project=project).returncode
    except RuntimeError as exc:
        print(f"compose: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
