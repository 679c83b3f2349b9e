"""`itm status` against real processes, and what a failed broker or Redis start says.

The stack's services are the harness's fake service (tests/integration/test_harness.py):
gRPC health and /healthz, nothing else, so the test needs only seconds.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from itm.devstack import BrokerProcess, DevStack, RedisProcess, StartupError, free_port
from test_harness import FAKE_MODULE, FAKE_SERVICE, _fake_env


def _itm(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "itm.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=60)


@pytest.fixture
def fake_service_path(tmp_path: Path) -> str:
    (tmp_path / "fake").mkdir()
    (tmp_path / "fake" / f"{FAKE_MODULE}.py").write_text(FAKE_SERVICE)
    return str(tmp_path / "fake")


def test_status_finds_the_stack_from_any_directory(tmp_path: Path, fake_service_path: str, monkeypatch) -> None:
    state_home = tmp_path / "state"
    monkeypatch.setenv("XDG_STATE_HOME", str(state_home))  # where `itm dev up` announces stacks
    env = {k: v for k, v in os.environ.items() if k != "ITM_DATA_DIR"}
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    stack = DevStack(tmp_path / "stack", services=["profile"], modules={"profile": FAKE_MODULE},
                     env=_fake_env(fake_service_path), healthy_timeout=30, announce=True)
    try:
        stack.start()
        profile = stack.services["profile"]
        for how, extra_args, extra_env in [
            ("announced", [], {}),
            ("--data-dir", ["--data-dir", str(tmp_path / "stack")], {}),
            ("ITM_DATA_DIR", [], {"ITM_DATA_DIR": str(tmp_path / "stack")}),
        ]:
            run = _itm("status", *extra_args, cwd=elsewhere, env={**env, **extra_env})
            assert run.returncode == 0, (how, run.stdout, run.stderr)
            assert f"kafka {stack.kafka_bootstrap}" in run.stdout, how
            assert stack.redis_url in run.stdout, how
            assert f"grpc {profile.grpc_target}  http {profile.http_url}" in run.stdout, how
            assert "DOWN" not in run.stdout

        profile.kill()
        run = _itm("status", cwd=elsewhere, env=env)
        assert run.returncode == 1, run.stdout
        assert [line.split()[:2] for line in run.stdout.splitlines() if "DOWN" in line] == [["profile", "DOWN"]]
    finally:
        stack.stop()
    run = _itm("status", cwd=elsewhere, env=env)
    assert run.returncode == 1 and "no stack runs" in run.stderr, (run.stdout, run.stderr)
    assert list((state_home / "itm" / "stacks").glob("*.json")) == []


@pytest.mark.parametrize("kind", [BrokerProcess, RedisProcess])
def test_a_failed_start_says_why(tmp_path: Path, kind) -> None:
    port = free_port()
    with socket.socket() as holder:  # something else listens on the port already
        holder.bind(("127.0.0.1", port))
        holder.listen()
        with pytest.raises(StartupError) as err:
            kind(tmp_path, port).start(timeout=20)
    headline = str(err.value).splitlines()[0]
    assert f"address in use (127.0.0.1:{port})" in headline, headline
