"""Compose smoke test (issue 18 item 4): docker-compose.yml with docker-compose.local.yml
(the images of ``make images``, Tansu in place of Kafka, host networking) comes up on the
harness's engine, every healthcheck turns healthy, the demo is driven against it and
its push arrives; then it is brought down with its volumes.

Uses compose v2 (``docker compose``) where present, else Debian's docker-compose 1.29.
Skipped with the container tests (one line in the summary says why).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from itm.client import Clients
from itm.containers import compose as local_compose
from itm.demo import scenario
from itm.devstack import free_port
from itm.runtime.settings import Settings

pytestmark = pytest.mark.timeout(1800)  # the first container test pays for the engine and the images

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ["profile", "opportunity", "learning", "matcher", "notifier", "web", "webhooks"]
DEMO = ["profile", "opportunity", "learning", "matcher", "notifier"]


def test_compose_comes_up_healthy_and_pushes_the_demo_notification(containers):
    env = {**os.environ, **containers.env}
    compose = local_compose.compose_command(env)
    if compose is None:
        pytest.skip("no docker compose v2 and no docker-compose (Debian: apt-get install docker-compose)")
    ports = {"ITM_LOCAL_KAFKA_PORT": free_port(), "ITM_LOCAL_REDIS_PORT": free_port()}
    for name in SERVICES:
        ports[f"ITM_LOCAL_{name.upper()}_GRPC"] = free_port()
        ports[f"ITM_LOCAL_{name.upper()}_HTTP"] = free_port()
    secret = f"smoke-{uuid.uuid4().hex}"
    env.update({k: str(v) for k, v in ports.items()})
    env["ITM_TOKEN_SECRET"] = secret
    project = f"itmsmoke{uuid.uuid4().hex[:6]}"

    def run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return local_compose.run(list(args), env=env, project=project, capture_output=True, timeout=timeout)

    def states() -> dict[str, str]:
        ids = subprocess.run(["docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={project}"],
                             env=env, capture_output=True, text=True).stdout.split()
        if not ids:
            return {}
        out = subprocess.run(["docker", "inspect", *ids], env=env, capture_output=True, text=True).stdout
        return {c["Config"]["Labels"]["com.docker.compose.service"]:
                (c["State"].get("Health") or {}).get("Status") or c["State"]["Status"] for c in json.loads(out)}

    started = time.monotonic()
    try:
        up = run("up", "-d", "--no-build")
        assert up.returncode == 0, up.stdout + up.stderr
        deadline = time.monotonic() + 600
        while True:
            now = states()
            if set(now) >= {"kafka", "redis", *SERVICES} and all(s == "healthy" for s in now.values()):
                break
            bad = {k: s for k, s in now.items() if s in ("exited", "dead", "unhealthy")}
            assert not bad and time.monotonic() < deadline, f"not healthy: {now}\n{run('logs', '--tail', '40').stdout}"
            time.sleep(2)
        healthy_after = time.monotonic() - started
        assert set(states()) == {"kafka", "redis", *SERVICES}  # Prometheus and Grafana only with their profile

        targets = {name: f"127.0.0.1:{ports[f'ITM_LOCAL_{name.upper()}_GRPC']}" for name in DEMO}
        settings = Settings(token_secret=secret, kafka_bootstrap=f"127.0.0.1:{ports['ITM_LOCAL_KAFKA_PORT']}")

        async def drive():
            clients = Clients.connect(targets, settings)
            try:
                return await scenario(clients, timeout_s=120)
            finally:
                await clients.close()

        note = asyncio.run(drive())
        assert note.match.score_percent == 80 and note.title.startswith("You're 80% qualified for Data Analyst")
        print(f"compose smoke ({' '.join(compose[-1:])}): healthy after {healthy_after:.0f} s, push "
              f"{note.title!r} after {time.monotonic() - started:.0f} s")
    finally:
        down = run("down", "--volumes", "--remove-orphans", "--timeout", "10")
        left = states()
        assert down.returncode == 0 and not left, down.stdout + down.stderr + str(left)
