"""Each overlay's rendered configuration is a configuration the services accept,
and production refuses to start without a JWKS URL and a public base URL."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from pydantic import ValidationError

from itm.runtime.settings import Settings
from test_deploy import ROOT, _break_and_render, by_kind, needs_kubectl, rendered


def container_settings(objs: list[dict]) -> dict[str, Settings | str]:
    """What each Deployment's container would load: itm-config plus its own env
    (secrets stand in as a 32-character value); the error text where it would not start."""
    config = next(c["data"] for c in by_kind(objs, "ConfigMap") if c["metadata"]["name"].startswith("itm-config"))
    out: dict[str, Settings | str] = {}
    for dep in by_kind(objs, "Deployment"):
        for c in dep["spec"]["template"]["spec"]["containers"]:
            env = dict(config)
            for e in c.get("env", []):
                env[e["name"]] = e.get("value", "x" * 32 if "valueFrom" in e else "")
            fields = {k.removeprefix("ITM_").lower(): v for k, v in env.items() if k.startswith("ITM_")}
            fields.pop("matcher_advertise_address", None)  # $(POD_IP): the kubelet fills it in
            try:
                out[f"{dep['metadata']['name']}/{c['name']}"] = Settings(**fields)
            except ValidationError as exc:
                out[f"{dep['metadata']['name']}/{c['name']}"] = str(exc)
    return out


@needs_kubectl
def test_prod_overlay_is_production_with_jwks_and_public_base_url():
    loaded = container_settings(rendered("prod"))
    assert len(loaded) == 7  # the six services and the web console
    for name, s in loaded.items():
        assert isinstance(s, Settings), f"{name} would not start: {s}"
        assert s.environment == "production", name
        assert s.auth_jwks_url.startswith("https://") and s.public_base_url.startswith("https://"), name


@needs_kubectl
def test_dev_overlay_sets_the_public_base_url():
    config = next(c["data"] for c in by_kind(rendered("dev"), "ConfigMap") if c["metadata"]["name"].startswith("itm-config"))
    assert config.get("ITM_PUBLIC_BASE_URL", "").startswith("http")
    for name, s in container_settings(rendered("dev")).items():
        assert isinstance(s, Settings), f"{name} would not start: {s}"
        assert s.environment == "dev", name


@needs_kubectl
def test_prod_without_a_jwks_url_would_not_start(tmp_path):
    objs = _break_and_render(tmp_path, "prod", "overlays/prod/config.env", "ITM_AUTH_JWKS_URL=", "# ITM_AUTH_JWKS_URL=")
    problems = container_settings(objs)
    assert all("ITM_AUTH_JWKS_URL" in str(p) for p in problems.values()), problems


@pytest.mark.parametrize("missing", ["ITM_AUTH_JWKS_URL", "ITM_PUBLIC_BASE_URL"])
def test_a_production_service_refuses_to_start_without(missing):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ITM_")}
    env.update(ITM_ENVIRONMENT="production", ITM_AUTH_JWKS_URL="https://login.example.com/jwks",
               ITM_PUBLIC_BASE_URL="https://itm.example.com")
    del env[missing]
    run = subprocess.run([sys.executable, "-m", "services.learning"], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 2, run.stderr
    assert f"ITM_ENVIRONMENT=production needs {missing}" in run.stderr


def test_dev_needs_neither():
    s = Settings()
    assert s.environment == "dev" and s.auth_jwks_url == "" and s.public_base_url
