"""make images and the local compose override, offline (issue 18): the apt mirror the base
image is bootstrapped from, the engine's command line, the override's shape."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from itm.containers.engine import PrivateEngine
from itm.containers.images import apt_mirror

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ["profile", "opportunity", "learning", "matcher", "notifier", "web", "webhooks"]


def test_the_mirror_comes_from_the_apt_sources_in_either_format(tmp_path):
    deb822 = tmp_path / "debian.sources"
    deb822.write_text(
        "Types: deb\n# a comment: with a colon\nURIs: http://security.example/debian-security\nSuites: bookworm-security\n"
        "Components: main\n\nTypes: deb deb-src\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\n"
        "Components: main\n"
    )
    assert apt_mirror([deb822]) == "http://mirror.example/debian"
    one_line = tmp_path / "sources.list"
    one_line.write_text(
        "# deb http://old.example/debian bookworm main\ndeb-src http://src.example/debian bookworm main\n"
        "deb [arch=amd64 signed-by=/k.gpg] http://line.example/debian bookworm main contrib\n"
    )
    assert apt_mirror([one_line]) == "http://line.example/debian"
    assert apt_mirror([tmp_path / "missing.list", one_line, deb822]) == "http://line.example/debian"


def test_the_private_engine_has_no_bridge_and_keeps_everything_under_its_root(tmp_path):
    engine = PrivateEngine(tmp_path / "e")
    cmd = engine.command()
    for flag in ("--bridge=none", "--iptables=false", "--ip6tables=false"):
        assert flag in cmd
    for opt in ("--data-root", "--exec-root", "--pidfile"):
        assert cmd[cmd.index(opt) + 1].startswith(str(tmp_path))
    assert engine.host == f"unix://{tmp_path / 'e' / 'docker.sock'}"
    assert engine.env["TESTCONTAINERS_RYUK_DISABLED"] == "true"
    deep = PrivateEngine(tmp_path / ("x" * 120))  # past sun_path's 108 bytes: the socket moves to a short tmp dir
    assert len(str(deep.socket)) < 100
    deep.stop()


def test_the_local_override_uses_local_images_host_networking_and_distinct_ports():
    text = (ROOT / "docker-compose.local.yml").read_text()
    override = yaml.safe_load(text)
    base = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert "name" not in base, "docker-compose 1.29 refuses a top-level name"
    services = override["services"]
    assert services["kafka"]["image"] == "itm-broker:local" and services["redis"]["image"] == "itm-redis:local"
    # the production file keeps Apache Kafka and Redis 7
    assert base["services"]["kafka"]["image"].startswith("apache/kafka:") and base["services"]["redis"]["image"].startswith("redis:7")
    ports = []
    for name in ["kafka", "redis", *SERVICES]:
        svc = services[name]
        assert svc["network_mode"] == "host", name
        assert "healthcheck" in svc, name
    for name in SERVICES:
        svc = services[name]
        assert svc["image"] == "itm:local"
        env = svc["environment"]
        for key in ("ITM_GRPC_PORT", "ITM_HTTP_PORT"):
            var, default = re.fullmatch(r"\$\{(\w+):-(\d+)\}", env[key]).groups()
            assert var.startswith(f"ITM_LOCAL_{name.upper()}_")
            ports.append(int(default))
        assert "ITM_HTTP_PORT" in str(svc["healthcheck"]["test"])  # each service's own port, not 8080
    ports += [int(p) for p in re.findall(r"ITM_LOCAL_(?:KAFKA|REDIS)_PORT:-(\d+)", text)][:2]
    assert len(ports) == len(set(ports)) == 2 * len(SERVICES) + 2
    assert all(15000 <= p < 32768 for p in ports)
    for name in ("prometheus", "grafana"):
        assert services[name]["profiles"] == ["observability"]


async def test_the_container_backend_is_an_itm_chaos_backend_and_says_what_it_runs(monkeypatch):
    from itm.chaos.backends import Backend
    from itm.containers.chaos import ContainerBackend

    calls = []
    backend = ContainerBackend({"profile": "c-profile", "kafka": "c-broker"}, {"profile": "127.0.0.1:1"}, "127.0.0.1:2")
    monkeypatch.setattr(backend.docker, "_docker", lambda *args, **kw: calls.append(args) or "")
    monkeypatch.setattr(backend, "_ready", lambda name: calls.append(("ready", name)))
    assert isinstance(backend, Backend) and backend.names() == ["profile", "kafka"]
    await backend.kill("profile")
    await backend.start("profile")
    await backend.pause("kafka")
    await backend.resume("kafka")
    await backend.restart("kafka")
    assert calls == [
        ("kill", "--signal", "KILL", "c-profile"), ("wait", "c-profile"), ("start", "c-profile"), ("ready", "profile"),
        ("pause", "c-broker"), ("unpause", "c-broker"), ("restart", "--time", "10", "c-broker"), ("ready", "kafka"),
    ]
    assert [a for _, a, _ in backend.docker.log] == ["kill", "start", "pause", "resume", "restart"]
