"""Deployment files: Dockerfile, docker-compose.yml, Prometheus, Grafana, kustomize.

Fast and offline. The compose file is validated against the official Compose
Specification schema (../shared/schemas/compose-spec.json), every object that
`kubectl kustomize` renders against the Kubernetes schemas of kubernetes-validate
(strict: unknown fields fail). Custom resources those schemas do not know
(ServiceMonitor, PrometheusRule, Strimzi Kafka/KafkaNodePool) get structural checks
instead. Tests that need `kubectl` or `promtool` skip, with the reason, when the
tool is absent.

The check functions return lists of problems so that the `*_bites` tests can
break a copy of a file and prove each check notices.
"""

from __future__ import annotations

import functools
import json
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml
from external_tools import promtool
from kubernetes_validate.utils import SchemaNotFoundError, all_versions

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
COMPOSE_SCHEMA_CANDIDATES = [ROOT.parent / "shared" / "schemas" / "compose-spec.json", Path("/work/shared/schemas/compose-spec.json")]
PROM_DIR = ROOT / "deploy" / "prometheus"
GRAFANA_DIR = ROOT / "deploy" / "grafana"
K8S_DIR = ROOT / "deploy" / "k8s"
OVERLAYS = ["dev", "prod"]

SERVICES = ["profile", "opportunity", "learning", "matcher", "notifier", "web", "webhooks"]  # web: the console (issue 11)
GRPC_PORT = 50051
HTTP_PORT = 8080
UID = 10001
# kubectl here is 1.32; kubernetes-validate 1.37 ships schemas 1.25 .. 1.37
K8S_VERSION = "1.32"
STRIMZI_API = "kafka.strimzi.io/v1beta2"
MONITORING_API = "monitoring.coreos.com/v1"
# kinds kubernetes-validate has no schema for: checked structurally below
CUSTOM_KINDS = {
    (MONITORING_API, "ServiceMonitor"),
    (MONITORING_API, "PrometheusRule"),
    (STRIMZI_API, "Kafka"),
    (STRIMZI_API, "KafkaNodePool"),
}
ALERT_METRICS = [
    "itm_consumer_lag",
    "itm_outbox_backlog",
    "itm_dead_letters_total",
    "itm_grpc_requests_total",
    "itm_notification_deliveries_total",
    "itm_notification_delivery_overdue_seconds",
    "itm_notifications_stored_total",
    "itm_match_crossings_total",
]
DASHBOARD_METRICS = ALERT_METRICS + [
    "itm_grpc_request_duration_seconds_bucket",
    "itm_events_consumed_total",
    "itm_events_produced_total",
    "itm_e2e_latency_seconds_bucket",
    "itm_notifier_connected_clients",
    "itm_notifications_delivered_total",
    "up",
]
DASHBOARD_ROWS = ["Service health", "Pipeline", "KPI"]

KUBECTL = shutil.which("kubectl")
needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not on PATH: cannot render the kustomize overlays")


# --------------------------------------------------------------------------- helpers


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys (PyYAML keeps the last one silently)."""


def _construct_mapping(loader, node, deep=False):
    seen = set()
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    loader.flatten_mapping(node)
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml(path: Path):
    return yaml.load(path.read_text(), Loader=_StrictLoader)


def as_list(value) -> list[str]:
    """Compose accepts a command as a string or a list."""
    return value.split() if isinstance(value, str) else list(value or [])


def env_dict(env) -> dict[str, str]:
    """Compose accepts environment as a mapping or a list of KEY=VALUE."""
    if isinstance(env, dict):
        return {k: "" if v is None else str(v) for k, v in env.items()}
    return dict(item.split("=", 1) if "=" in item else (item, "") for item in env or [])


@functools.lru_cache(maxsize=1)
def compose_schema() -> dict:
    for path in COMPOSE_SCHEMA_CANDIDATES:
        if path.exists():
            return json.loads(path.read_text())
    pytest.fail(f"compose-spec.json not found at any of {COMPOSE_SCHEMA_CANDIDATES}")


def parse_quantity(q) -> float:
    """Kubernetes quantity -> float (cpu in cores, memory in bytes)."""
    s = str(q)
    suffixes = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
    for suf in sorted(suffixes, key=len, reverse=True):
        if s.endswith(suf):
            return float(s[: -len(suf)]) * suffixes[suf]
    return float(s)


def selects(selector: dict, labels: dict) -> bool:
    """Does a LabelSelector (matchLabels + matchExpressions) select these labels?"""
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def promql_exprs_of_dashboard(dash: dict) -> list[str]:
    return [t["expr"] for p in dash["panels"] if p.get("type") != "row" for t in p.get("targets", [])]


def mentions_metric(expr: str, metric: str) -> bool:
    return re.search(rf"(?<![\w:]){re.escape(metric)}(?![\w:])", expr) is not None


# --------------------------------------------------------------------------- Dockerfile


def dockerfile_problems(text: str, dockerignore: str) -> list[str]:
    problems = []
    args = dict(re.findall(r"^ARG\s+(\w+)=(\S+)", text, flags=re.M))
    stages = set(re.findall(r"^FROM\s+\S+\s+AS\s+(\S+)", text, flags=re.M | re.I))
    froms = [re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), f) for f in re.findall(r"^FROM\s+(\S+)", text, flags=re.M)]
    froms = [f for f in froms if f not in stages]  # FROM an earlier stage
    if not froms or not all(f == "python:3.11-slim" for f in froms):
        problems.append(f"every stage should build FROM python:3.11-slim, got {froms}")
    users = re.findall(r"^USER\s+(\S+)", text, flags=re.M)
    if not users or users[-1].split(":")[0] != str(UID):
        problems.append(f"the image must end as USER {UID}, got {users}")
    if not re.search(r"pip install (--no-deps )?\.(\s|$)", text):
        problems.append("the project must be installed with `pip install .`")
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    for pattern in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]:
        pkg = pattern.rstrip("*")
        if not re.search(rf"^COPY\s+{re.escape(pkg)}\s", text, flags=re.M):
            problems.append(f"package {pkg}/ (pyproject packages.find) is not copied into the build")
    ignored = {line.strip() for line in dockerignore.splitlines() if line.strip() and not line.startswith("#")}
    for must in [".venv", ".itm", ".git", ".pytest_cache", "**/__pycache__"]:
        if must not in ignored:
            problems.append(f".dockerignore does not exclude {must}")
    for needed in ["pyproject.toml", "itm", "services"]:
        if needed in ignored:
            problems.append(f".dockerignore excludes {needed}, which the build needs")
    return problems


def test_dockerfile():
    assert dockerfile_problems((ROOT / "Dockerfile").read_text(), (ROOT / ".dockerignore").read_text()) == []


def test_every_service_command_names_a_package():
    for name in SERVICES:
        assert (ROOT / "services" / name / "__init__.py").exists(), f"services/{name} is not a package"


# --------------------------------------------------------------------------- docker-compose


def compose_problems(compose: dict) -> list[str]:
    problems = []
    # the spec declares draft-07 (by a URL jsonschema does not recognise)
    for err in jsonschema.Draft7Validator(compose_schema()).iter_errors(compose):
        problems.append(f"compose-spec: {'/'.join(map(str, err.absolute_path))}: {err.message}")
    services = compose.get("services", {})
    for needed in ["kafka", "redis", *SERVICES, "prometheus", "grafana"]:
        if needed not in services:
            problems.append(f"service {needed} missing")
    if problems:
        return problems

    # Kafka: KRaft single node, healthy before the services start
    kafka = services["kafka"]
    kenv = env_dict(kafka.get("environment"))
    if not str(kafka.get("image", "")).startswith("apache/kafka:3.9"):
        problems.append(f"kafka image should be apache/kafka:3.9.x, got {kafka.get('image')}")
    if set(kenv.get("KAFKA_PROCESS_ROLES", "").split(",")) != {"broker", "controller"}:
        problems.append("kafka is not a KRaft broker+controller (KAFKA_PROCESS_ROLES)")
    for key in ["KAFKA_NODE_ID", "KAFKA_CONTROLLER_QUORUM_VOTERS", "KAFKA_CONTROLLER_LISTENER_NAMES", "CLUSTER_ID"]:
        if not kenv.get(key):
            problems.append(f"kafka lacks {key} (KRaft)")
    if any("ZOOKEEPER" in k for k in kenv):
        problems.append("kafka must not use ZooKeeper")
    if "healthcheck" not in kafka:
        problems.append("kafka has no healthcheck")
    advertised = {a.split("://", 1)[1] for a in kenv.get("KAFKA_ADVERTISED_LISTENERS", "").split(",") if "://" in a}

    # Redis 7 with AOF fsynced on every write, on a volume
    redis = services["redis"]
    cmd = as_list(redis.get("command"))
    pairs = {(cmd[i], cmd[i + 1]) for i in range(len(cmd) - 1)}
    if not str(redis.get("image", "")).startswith("redis:7"):
        problems.append(f"redis image should be redis:7.x, got {redis.get('image')}")
    if ("--appendonly", "yes") not in pairs:
        problems.append("redis runs without --appendonly yes")
    if ("--appendfsync", "always") not in pairs:
        problems.append("redis runs without --appendfsync always")
    if not any(str(v).split(":")[1:2] == ["/data"] for v in redis.get("volumes", [])):
        problems.append("redis /data is not on a volume")
    if "healthcheck" not in redis:
        problems.append("redis has no healthcheck")

    # the five services: one image, one build, their own command, env and volumes
    builds = {json.dumps(services[n].get("build"), sort_keys=True) for n in SERVICES}
    images = {services[n].get("image") for n in SERVICES}
    if len(builds) != 1 or None in [services[n].get("build") for n in SERVICES]:
        problems.append(f"the five services must share one build, got {builds}")
    else:
        build = services[SERVICES[0]]["build"]
        context = build if isinstance(build, str) else build.get("context")
        if (ROOT / context).resolve() != ROOT or not (ROOT / (build.get("dockerfile", "Dockerfile") if isinstance(build, dict) else "Dockerfile")).exists():
            problems.append(f"build must be the repo's Dockerfile, got {build}")
    if len(images) != 1:
        problems.append(f"the five services must share one image tag, got {images}")
    for name in SERVICES:
        svc = services[name]
        env = env_dict(svc.get("environment"))
        if as_list(svc.get("command")) != ["python", "-m", f"services.{name}"]:
            problems.append(f"{name}: command should be python -m services.{name}, got {svc.get('command')}")
        deps = svc.get("depends_on") or {}
        for dep in ["kafka", "redis"]:
            if not isinstance(deps, dict) or (deps.get(dep) or {}).get("condition") != "service_healthy":
                problems.append(f"{name}: must depend on {dep} with condition service_healthy")
        expected = {
            "ITM_SERVICE": name,
            "ITM_GRPC_HOST": "0.0.0.0",
            "ITM_GRPC_PORT": str(GRPC_PORT),
            "ITM_HTTP_HOST": "0.0.0.0",
            "ITM_HTTP_PORT": str(HTTP_PORT),
            "ITM_LOG_FORMAT": "json",
        }
        for key, value in expected.items():
            if env.get(key) != value:
                problems.append(f"{name}: {key} should be {value!r}, got {env.get(key)!r}")
        if env.get("ITM_KAFKA_BOOTSTRAP") not in advertised:
            problems.append(f"{name}: ITM_KAFKA_BOOTSTRAP {env.get('ITM_KAFKA_BOOTSTRAP')!r} is not a listener kafka advertises {advertised}")
        if not re.fullmatch(r"redis://redis:6379(/\d+)?", env.get("ITM_REDIS_URL", "")):
            problems.append(f"{name}: ITM_REDIS_URL should point at the redis service, got {env.get('ITM_REDIS_URL')!r}")
        if not env.get("ITM_TOKEN_SECRET"):
            problems.append(f"{name}: ITM_TOKEN_SECRET unset")
        mounts = {str(v).split(":")[1] for v in svc.get("volumes", []) if isinstance(v, str)}
        if env.get("ITM_DATA_DIR") not in mounts:
            problems.append(f"{name}: ITM_DATA_DIR {env.get('ITM_DATA_DIR')!r} is not a mounted volume (the root fs is read-only)")
        if str(svc.get("user", "")).split(":")[0] != str(UID):
            problems.append(f"{name}: must run as user {UID}")
        if svc.get("read_only") is not True:
            problems.append(f"{name}: root filesystem should be read_only")
        if "healthcheck" not in svc:
            problems.append(f"{name}: no healthcheck")

    # Prometheus scrapes every service with the files from deploy/prometheus
    prom = services["prometheus"]
    binds = {}
    for v in prom.get("volumes", []) + services["grafana"].get("volumes", []):
        parts = str(v).split(":")
        if parts[0].startswith("."):
            binds[parts[1]] = (ROOT / parts[0]).resolve()
    for host in binds.values():
        if not host.exists():
            problems.append(f"bind mount source {host} does not exist")
    if binds.get("/etc/prometheus/prometheus.yml") != (PROM_DIR / "prometheus.yml").resolve():
        problems.append("prometheus does not mount deploy/prometheus/prometheus.yml")
    else:
        problems += prometheus_config_problems(load_yaml(PROM_DIR / "prometheus.yml"), binds)

    # Grafana: provisioning + dashboards where the provider looks for them
    grafana_binds = {c: h for c, h in binds.items() if "grafana" in c}
    prov = grafana_binds.get("/etc/grafana/provisioning")
    if prov != (GRAFANA_DIR / "provisioning").resolve():
        problems.append("grafana does not mount deploy/grafana/provisioning at /etc/grafana/provisioning")
    else:
        providers = [p for f in (prov / "dashboards").glob("*.y*ml") for p in load_yaml(f)["providers"]]
        for provider in providers:
            path = provider["options"]["path"]
            if grafana_binds.get(path) != (GRAFANA_DIR / "dashboards").resolve():
                problems.append(f"grafana dashboard provider path {path} is not where deploy/grafana/dashboards is mounted")
        datasources = [d for f in (prov / "datasources").glob("*.y*ml") for d in load_yaml(f)["datasources"]]
        if not any(d["type"] == "prometheus" and d["url"].rstrip("/") == "http://prometheus:9090" for d in datasources):
            problems.append("no Prometheus datasource at http://prometheus:9090")
    return problems


def prometheus_config_problems(config: dict, binds: dict[str, Path]) -> list[str]:
    problems = []
    targets = {}
    for job in config.get("scrape_configs", []):
        for sc in job.get("static_configs", []):
            for t in sc.get("targets", []):
                targets[t] = (job, sc.get("labels", {}))
    for name in SERVICES:
        if f"{name}:{HTTP_PORT}" not in targets:
            problems.append(f"prometheus does not scrape {name}:{HTTP_PORT}")
            continue
        job, labels = targets[f"{name}:{HTTP_PORT}"]
        if labels.get("service") != name:
            problems.append(f"target {name}:{HTTP_PORT} lacks the label service={name}")
        if job.get("metrics_path", "/metrics") != "/metrics":
            problems.append(f"job {job['job_name']} scrapes {job.get('metrics_path')} instead of /metrics")
    for rule_file in config.get("rule_files", []):
        if binds.get(rule_file) is None:
            problems.append(f"rule file {rule_file} is not mounted into the prometheus container")
    if not any(binds.get(f) == (PROM_DIR / "alerts.yml").resolve() for f in config.get("rule_files", [])):
        problems.append("prometheus does not load deploy/prometheus/alerts.yml")
    return problems


def test_compose_is_valid_and_complete():
    assert compose_problems(load_yaml(COMPOSE)) == []


def test_compose_checks_bite():
    good = load_yaml(COMPOSE)

    def broken(mutate):
        c = json.loads(json.dumps(good))
        mutate(c["services"])
        return compose_problems(c)

    assert any("appendfsync" in p for p in broken(lambda s: s["redis"].update(command=["redis-server", "--appendonly", "yes"])))
    assert any("KRaft" in p for p in broken(lambda s: s["kafka"]["environment"].pop("KAFKA_PROCESS_ROLES")))
    assert any("compose-spec" in p for p in broken(lambda s: s["matcher"].update(restart=["always"])))
    assert any("share one build" in p for p in broken(lambda s: s["notifier"].update(build={"context": "services/notifier"})))
    assert any("service_healthy" in p for p in broken(lambda s: s["learning"].update(depends_on=["kafka", "redis"])))
    assert any("service matcher missing" in p for p in broken(lambda s: s.pop("matcher")))


def test_compose_yaml_has_no_duplicate_keys():
    with pytest.raises(yaml.constructor.ConstructorError, match="duplicate key"):
        yaml.load("a: 1\nb: 2\na: 3\n", Loader=_StrictLoader)
    load_yaml(COMPOSE)  # merges (<<: *anchor) are fine


def test_prometheus_scrape_checks_bite():
    config = load_yaml(PROM_DIR / "prometheus.yml")
    config["scrape_configs"][0]["static_configs"] = [
        sc for sc in config["scrape_configs"][0]["static_configs"] if sc.get("labels", {}).get("service") != "web"]
    binds = {"/etc/prometheus/alerts.yml": (PROM_DIR / "alerts.yml").resolve()}
    assert "prometheus does not scrape web:8080" in prometheus_config_problems(config, binds)


# --------------------------------------------------------------------------- alerts


def alert_problems(rules_doc: dict) -> list[str]:
    problems = []
    rules = [r for g in rules_doc.get("groups", []) for r in g.get("rules", [])]
    if not rules:
        return ["no alert rules"]
    names = [r.get("alert") for r in rules]
    if len(set(names)) != len(names):
        problems.append(f"duplicate alert names: {names}")
    for r in rules:
        name = r.get("alert") or r.get("record") or "?"
        if not r.get("alert"):
            problems.append(f"{name}: not an alerting rule")
        if not isinstance(r.get("expr"), str) or not r["expr"].strip():
            problems.append(f"{name}: no expr")
        if not re.fullmatch(r"(\d+[smhdwy])+", str(r.get("for", ""))):
            problems.append(f"{name}: no valid `for`")
        if (r.get("labels") or {}).get("severity") not in {"warning", "critical"}:
            problems.append(f"{name}: labels.severity must be warning or critical")
        ann = r.get("annotations") or {}
        if not ann.get("summary") or not ann.get("description"):
            problems.append(f"{name}: annotations need summary and description")
    exprs = " ".join(str(r.get("expr", "")) for r in rules)
    for metric in ALERT_METRICS:
        if not mentions_metric(exprs, metric):
            problems.append(f"no alert uses {metric}")
    if 'itm_grpc_requests_total{code!="OK"' not in exprs.replace(" ", ""):
        problems.append('the gRPC error-rate alert must compare itm_grpc_requests_total{code!="OK"} with all requests')
    return problems


def test_alert_rules():
    assert alert_problems(load_yaml(PROM_DIR / "alerts.yml")) == []


def test_alert_checks_bite():
    doc = load_yaml(PROM_DIR / "alerts.yml")
    del doc["groups"][0]["rules"][0]["for"]
    doc["groups"][-1]["rules"][0]["labels"] = {}
    problems = alert_problems(doc)
    assert any("`for`" in p for p in problems) and any("severity" in p for p in problems)


def test_prometheusrule_mirrors_alerts_yml():
    rule = load_yaml(K8S_DIR / "base" / "prometheusrule.yaml")
    assert (rule["apiVersion"], rule["kind"]) == (MONITORING_API, "PrometheusRule")
    assert rule["spec"] == load_yaml(PROM_DIR / "alerts.yml"), (
        "deploy/k8s/base/prometheusrule.yaml drifted from deploy/prometheus/alerts.yml"
    )


@pytest.fixture(scope="module")
def promtool_path() -> str:
    """promtool on PATH, else unpacked from Debian's `prometheus` package (never installed)."""
    return promtool()


def test_promtool_accepts_config_and_rules(tmp_path, promtool_path):
    for f in ["alerts.yml", "alerts.test.yml"]:
        shutil.copy(PROM_DIR / f, tmp_path / f)
    cfg = (PROM_DIR / "prometheus.yml").read_text().replace("/etc/prometheus/alerts.yml", str(tmp_path / "alerts.yml"))
    (tmp_path / "prometheus.yml").write_text(cfg)
    for args in (["check", "config", "prometheus.yml"], ["check", "rules", "alerts.yml"], ["test", "rules", "alerts.test.yml"]):
        run = subprocess.run([promtool_path, *args], cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, f"promtool {' '.join(args)}:\n{run.stdout}\n{run.stderr}"


# --------------------------------------------------------------------------- Grafana


def dashboard_problems(dash: dict) -> list[str]:
    problems = []
    panels = dash.get("panels") or []
    rows = [p.get("title") for p in panels if p.get("type") == "row"]
    if rows != DASHBOARD_ROWS:
        problems.append(f"rows should be {DASHBOARD_ROWS}, got {rows}")
    ids = [p.get("id") for p in panels]
    if len(set(ids)) != len(ids):
        problems.append("panel ids are not unique")
    ds_uids = {d["uid"] for f in (GRAFANA_DIR / "provisioning" / "datasources").glob("*.y*ml") for d in load_yaml(f)["datasources"]}
    current_row, per_row = None, {}
    for p in panels:
        if p.get("type") == "row":
            current_row = p.get("title")
            per_row[current_row] = 0
            if p.get("panels"):
                problems.append(f"row {current_row} hides panels (collapsed); keep them at top level")
            continue
        title = p.get("title", "?")
        if current_row is None:
            problems.append(f"panel {title} sits above the first row")
        else:
            per_row[current_row] += 1
        targets = p.get("targets") or []
        if not targets:
            problems.append(f"panel {title} has no targets")
        for t in targets:
            if not str(t.get("expr", "")).strip() or not t.get("refId"):
                problems.append(f"panel {title}: a target without expr or refId")
            if (t.get("datasource") or p.get("datasource") or {}).get("uid") not in ds_uids:
                problems.append(f"panel {title}: datasource is not the provisioned one {ds_uids}")
        gp = p.get("gridPos") or {}
        if not gp or gp.get("x", 0) + gp.get("w", 0) > 24:
            problems.append(f"panel {title}: gridPos missing or wider than 24")
    for row, count in per_row.items():
        if count == 0:
            problems.append(f"row {row} has no panels")
    exprs = " ".join(promql_exprs_of_dashboard(dash)) if panels else ""
    for metric in DASHBOARD_METRICS:
        if not mentions_metric(exprs, metric):
            problems.append(f"no panel shows {metric}")
    return problems


def test_dashboard():
    dash = json.loads((GRAFANA_DIR / "dashboards" / "itm.json").read_text())
    assert dash.get("uid") and dash.get("title")
    assert dashboard_problems(dash) == []


def test_dashboard_checks_bite():
    dash = json.loads((GRAFANA_DIR / "dashboards" / "itm.json").read_text())
    dash["panels"][1]["targets"] = []
    dash["panels"] = [p for p in dash["panels"] if p.get("title") != "KPI"]
    problems = dashboard_problems(dash)
    assert any("has no targets" in p for p in problems) and any("rows should be" in p for p in problems)


def test_dashboard_queries_parse(tmp_path, promtool_path):
    """Every panel query is valid PromQL: promtool checks them as recording rules."""
    dash = json.loads((GRAFANA_DIR / "dashboards" / "itm.json").read_text())
    rules = []
    for i, expr in enumerate(promql_exprs_of_dashboard(dash)):
        expr = expr.replace("$__rate_interval", "5m").replace("$__range", "1h").replace("$service", ".*")
        rules.append({"record": f"itm:dashboard_query_{i}", "expr": expr})
    (tmp_path / "q.yml").write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    run = subprocess.run([promtool_path, "check", "rules", "q.yml"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr


# --------------------------------------------------------------------------- Kubernetes


def kustomize(path: Path) -> list[dict]:
    run = subprocess.run([KUBECTL, "kustomize", str(path)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, f"kubectl kustomize {path} failed:\n{run.stderr}"
    return [d for d in yaml.safe_load_all(run.stdout) if d]


@functools.lru_cache(maxsize=None)
def _rendered(path: str) -> str:
    return json.dumps(kustomize(Path(path)))


def rendered(name: str) -> list[dict]:
    path = K8S_DIR / "base" if name == "base" else K8S_DIR / "overlays" / name
    return json.loads(_rendered(str(path)))


def schema_problems(objs: list[dict]) -> list[str]:
    problems = []
    for obj in objs:
        what = f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"
        if (obj.get("apiVersion"), obj.get("kind")) in CUSTOM_KINDS:
            continue  # no schema in kubernetes-validate: custom_resource_problems
        try:
            kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as e:
            problems.append(f"{what}: {'.'.join(map(str, e.path))}: {e.message}")
        except SchemaNotFoundError as e:
            problems.append(f"{what}: {e.message} (add it to CUSTOM_KINDS with structural checks, or fix apiVersion)")
    return problems


def by_kind(objs, kind):
    return [o for o in objs if o["kind"] == kind]


def deployment_problems(dep: dict) -> list[str]:
    """What every ITM Deployment must have."""
    name = dep["metadata"]["name"]
    problems = []
    pod = dep["spec"]["template"]["spec"]
    psc = pod.get("securityContext") or {}
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    if pod.get("automountServiceAccountToken") is not False:
        problems.append(f"{name}: mounts a service-account token")
    if len(pod.get("containers", [])) != 1:
        problems.append(f"{name}: expected one container")
    for c in pod.get("containers", []):
        csc = c.get("securityContext") or {}
        where = f"{name}/{c['name']}"
        for probe in ["readinessProbe", "livenessProbe", "startupProbe"]:
            if (c.get(probe) or {}).get("grpc", {}).get("port") != GRPC_PORT:
                problems.append(f"{where}: {probe} must be a gRPC probe on {GRPC_PORT}")
        for kind in ["requests", "limits"]:
            for res in ["cpu", "memory"]:
                if res not in (c.get("resources") or {}).get(kind, {}):
                    problems.append(f"{where}: no {kind}.{res}")
        if not (csc.get("runAsNonRoot") or psc.get("runAsNonRoot")):
            problems.append(f"{where}: runAsNonRoot is not set")
        if (csc.get("runAsUser", psc.get("runAsUser"))) != UID:
            problems.append(f"{where}: must run as uid {UID}")
        if csc.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{where}: root filesystem is not read-only")
        if csc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{where}: allowPrivilegeEscalation is not false")
        if (csc.get("capabilities") or {}).get("drop") != ["ALL"]:
            problems.append(f"{where}: capabilities do not drop ALL")
        if (csc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
            problems.append(f"{where}: seccompProfile is not RuntimeDefault")
        ports = {p["containerPort"] for p in c.get("ports", [])}
        if {GRPC_PORT, HTTP_PORT} - ports:
            problems.append(f"{where}: must expose {GRPC_PORT} and {HTTP_PORT}")
        env = {e["name"]: e for e in c.get("env", [])}
        component = dep["spec"]["template"]["metadata"]["labels"].get("app.kubernetes.io/component")
        if c.get("command") != ["python", "-m", f"services.{component}"]:
            problems.append(f"{where}: command should be python -m services.{component}")
        if (env.get("ITM_SERVICE") or {}).get("value") != component:
            problems.append(f"{where}: ITM_SERVICE should be {component}")
        ref = ((env.get("ITM_TOKEN_SECRET") or {}).get("valueFrom") or {}).get("secretKeyRef") or {}
        if not str(ref.get("name", "")).startswith("itm-secrets") or not ref.get("key"):
            problems.append(f"{where}: ITM_TOKEN_SECRET must come from a secretKeyRef to itm-secrets")
        mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
        for path in ["/var/lib/itm", "/tmp"]:
            vol = volumes.get(mounts.get(path, ""), {})
            if "emptyDir" not in vol:
                problems.append(f"{where}: {path} must be an emptyDir volume")
    return problems


def custom_resource_problems(objs: list[dict]) -> list[str]:
    problems = []
    services = by_kind(objs, "Service")
    for sm in [o for o in objs if o["kind"] == "ServiceMonitor"]:
        spec = sm.get("spec") or {}
        if not spec.get("selector") or not spec.get("endpoints"):
            problems.append(f"ServiceMonitor/{sm['metadata']['name']}: needs spec.selector and spec.endpoints")
            continue
        picked = [s for s in services if selects(spec["selector"], s["metadata"].get("labels", {}))]
        for name in SERVICES:
            svc = [s for s in picked if s["metadata"]["name"] == f"itm-{name}"]
            if not svc:
                problems.append(f"ServiceMonitor does not select the Service itm-{name}")
                continue
            port_names = {p.get("name") for p in svc[0]["spec"]["ports"]}
            for ep in spec["endpoints"]:
                if ep.get("port") not in port_names or ep.get("path", "/metrics") != "/metrics":
                    problems.append(f"ServiceMonitor endpoint {ep} does not match a port of itm-{name}")
    for pr in [o for o in objs if o["kind"] == "PrometheusRule"]:
        if alert_problems(pr.get("spec") or {}):
            problems.append(f"PrometheusRule/{pr['metadata']['name']}: {alert_problems(pr.get('spec') or {})}")
    kafkas = [o for o in objs if o["kind"] == "Kafka"]
    pools = [o for o in objs if o["kind"] == "KafkaNodePool"]
    for k in kafkas:
        ann = k["metadata"].get("annotations") or {}
        spec = (k.get("spec") or {}).get("kafka") or {}
        if ann.get("strimzi.io/kraft") != "enabled" or ann.get("strimzi.io/node-pools") != "enabled":
            problems.append("Strimzi Kafka must be KRaft with node pools (annotations)")
        if "zookeeper" in (k.get("spec") or {}):
            problems.append("Strimzi Kafka must not define zookeeper")
        if not spec.get("version") or not spec.get("listeners"):
            problems.append("Strimzi Kafka needs spec.kafka.version and listeners")
        mine = [p for p in pools if (p["metadata"].get("labels") or {}).get("strimzi.io/cluster") == k["metadata"]["name"]]
        roles = {r for p in mine for r in p["spec"].get("roles", [])}
        if roles != {"broker", "controller"}:
            problems.append(f"Kafka {k['metadata']['name']}: node pools must provide broker and controller roles, got {roles}")
        for p in mine:
            if not p["spec"].get("storage") or p["spec"].get("replicas", 0) < 3:
                problems.append(f"KafkaNodePool/{p['metadata']['name']}: needs storage and at least 3 replicas")
    return problems


def bootstrap_problems(objs: list[dict]) -> list[str]:
    """ITM_KAFKA_BOOTSTRAP and ITM_REDIS_URL point at something the render provides."""
    problems = []
    cms = [c for c in by_kind(objs, "ConfigMap") if c["metadata"]["name"].startswith("itm-config")]
    if len(cms) != 1:
        return [f"expected one itm-config ConfigMap, got {len(cms)}"]
    data = cms[0]["data"]
    service_ports = {(s["metadata"]["name"], p["port"]) for s in by_kind(objs, "Service") for p in s["spec"]["ports"]}
    for k in [o for o in objs if o["kind"] == "Kafka"]:
        for lst in k["spec"]["kafka"]["listeners"]:
            if lst.get("type") == "internal" and not lst.get("tls"):
                service_ports.add((f"{k['metadata']['name']}-kafka-bootstrap", lst["port"]))
    for hostport in data["ITM_KAFKA_BOOTSTRAP"].split(","):
        host, _, port = hostport.rpartition(":")
        if (host, int(port)) not in service_ports:
            problems.append(f"ITM_KAFKA_BOOTSTRAP {hostport} is no Service/Kafka listener of this render")
    m = re.fullmatch(r"redis://([\w.-]+):(\d+)(/\d+)?", data.get("ITM_REDIS_URL", ""))
    if not m or (m.group(1), int(m.group(2))) not in service_ports:
        problems.append(f"ITM_REDIS_URL {data.get('ITM_REDIS_URL')} is no Service of this render")
    for key, value in {"ITM_GRPC_HOST": "0.0.0.0", "ITM_GRPC_PORT": str(GRPC_PORT), "ITM_HTTP_HOST": "0.0.0.0",
                       "ITM_HTTP_PORT": str(HTTP_PORT), "ITM_DATA_DIR": "/var/lib/itm", "ITM_LOG_FORMAT": "json"}.items():
        if data.get(key) != value:
            problems.append(f"itm-config {key} should be {value!r}, got {data.get(key)!r}")
    for dep in by_kind(objs, "Deployment"):
        refs = [e["configMapRef"]["name"] for c in dep["spec"]["template"]["spec"]["containers"] for e in c.get("envFrom", []) if "configMapRef" in e]
        if refs != [cms[0]["metadata"]["name"]]:
            problems.append(f"{dep['metadata']['name']}: envFrom should reference {cms[0]['metadata']['name']}, got {refs}")
    return problems


def wiring_problems(objs: list[dict]) -> list[str]:
    """Services, PDBs, HPAs and NetworkPolicies that each Deployment needs."""
    problems = []
    deps = {d["metadata"]["name"]: d for d in by_kind(objs, "Deployment")}
    if sorted(deps) != sorted(f"itm-{n}" for n in SERVICES):
        problems.append(f"Deployments should be the five services, got {sorted(deps)}")
    policies = by_kind(objs, "NetworkPolicy")
    if not any(p["spec"].get("podSelector") == {} and p["spec"].get("policyTypes") == ["Ingress"] and not p["spec"].get("ingress") for p in policies):
        problems.append("no default-deny ingress NetworkPolicy")

    def allowed(labels, port, peer_ok):
        for p in policies:
            if "Ingress" not in p["spec"].get("policyTypes", []) or not selects(p["spec"].get("podSelector", {}), labels):
                continue
            for rule in p["spec"].get("ingress", []):
                if any(pt.get("port") == port for pt in rule.get("ports", [])) and any(peer_ok(peer) for peer in rule.get("from", [])):
                    return True
        return False

    for name, dep in deps.items():
        labels = dep["spec"]["template"]["metadata"]["labels"]
        if not selects(dep["spec"]["selector"], labels):
            problems.append(f"{name}: selector does not match its pod labels")
        if not any(s["spec"].get("selector") and selects({"matchLabels": s["spec"]["selector"]}, labels) and {GRPC_PORT, HTTP_PORT} <= {p["port"] for p in s["spec"]["ports"]} for s in by_kind(objs, "Service")):
            problems.append(f"{name}: no Service exposes {GRPC_PORT} and {HTTP_PORT}")
        if not any(selects(p["spec"]["selector"], labels) for p in by_kind(objs, "PodDisruptionBudget")):
            problems.append(f"{name}: no PodDisruptionBudget")
        if not allowed(labels, GRPC_PORT, lambda peer: peer == {"podSelector": {}}):
            problems.append(f"{name}: gRPC {GRPC_PORT} is not allowed from the namespace")
        if not allowed(labels, HTTP_PORT, lambda peer: "namespaceSelector" in peer and "podSelector" not in peer):
            problems.append(f"{name}: metrics on {HTTP_PORT} cannot be scraped from the monitoring namespace")
    notifier = deps.get("itm-notifier")
    if notifier and not allowed(notifier["spec"]["template"]["metadata"]["labels"], HTTP_PORT,
                                lambda peer: "ingress" in json.dumps(peer.get("namespaceSelector", {}))):
        problems.append("itm-notifier: HTTP is not allowed from the ingress controller's namespace")
    for stateful in by_kind(objs, "StatefulSet"):
        labels = stateful["spec"]["template"]["metadata"]["labels"]
        if not any(selects(p["spec"].get("podSelector", {}), labels) and p["spec"].get("ingress") for p in policies):
            problems.append(f"StatefulSet/{stateful['metadata']['name']}: nothing may reach it past default-deny")

    hpas = {h["spec"]["scaleTargetRef"]["name"]: h for h in by_kind(objs, "HorizontalPodAutoscaler")}
    for name in ["itm-matcher", "itm-notifier"]:
        h = hpas.get(name)
        if not h or h["apiVersion"] != "autoscaling/v2" or h["spec"]["scaleTargetRef"]["kind"] != "Deployment":
            problems.append(f"{name}: needs an autoscaling/v2 HorizontalPodAutoscaler")
        elif h["spec"]["minReplicas"] > h["spec"]["maxReplicas"]:
            problems.append(f"{name}: HPA minReplicas > maxReplicas")
    for target in hpas:
        if target not in deps:
            problems.append(f"HPA targets missing Deployment {target}")
    from itm.runtime.topics import EMPLOYEE_PARTITIONS

    if "itm-matcher" in hpas and hpas["itm-matcher"]["spec"]["maxReplicas"] > EMPLOYEE_PARTITIONS:
        problems.append(f"matcher HPA maxReplicas exceeds the {EMPLOYEE_PARTITIONS} employee partitions: extra workers would idle")
    images = {c["image"] for d in deps.values() for c in d["spec"]["template"]["spec"]["containers"]}
    if len(images) != 1:
        problems.append(f"the five Deployments should run one image, got {images}")
    return problems


def namespace_labels(objs: list[dict], ns: str | None) -> dict:
    """A namespace's labels as NetworkPolicy namespaceSelectors see them (with the automatic name label)."""
    labels = next((dict(n["metadata"].get("labels") or {}) for n in by_kind(objs, "Namespace") if n["metadata"]["name"] == ns), {})
    labels["kubernetes.io/metadata.name"] = ns
    return labels


def ingress_allowed(objs: list[dict], dst: dict, src: dict, port: int, port_name: str, protocol: str = "TCP") -> bool:
    """Does some NetworkPolicy admit TCP from the pod template `src` to `port` (named `port_name`) of `dst`?

    Pod templates are rendered objects (metadata.namespace, spec.template.metadata.labels);
    peers are evaluated as the API defines them: a podSelector alone means the policy's own
    namespace, a namespaceSelector is matched against the namespace's labels, an ipBlock
    never matches pod IPs here (they are not known in advance), no `from` or no `ports` means any.
    """
    src_ns, dst_ns = src["metadata"].get("namespace"), dst["metadata"].get("namespace")
    src_labels = src["spec"]["template"]["metadata"]["labels"]
    dst_labels = dst["spec"]["template"]["metadata"]["labels"]

    def peer_ok(peer: dict) -> bool:
        if "ipBlock" in peer:
            return False
        if "namespaceSelector" in peer:
            if not selects(peer["namespaceSelector"], namespace_labels(objs, src_ns)):
                return False
        elif src_ns != dst_ns:
            return False
        return "podSelector" not in peer or selects(peer["podSelector"], src_labels)

    def port_ok(p: dict) -> bool:
        if p.get("protocol", "TCP") != protocol:
            return False
        if "port" not in p:
            return True
        if isinstance(p["port"], str):
            return p["port"] == port_name
        return p["port"] <= port <= p.get("endPort", p["port"])

    for pol in by_kind(objs, "NetworkPolicy"):
        spec = pol["spec"]
        if pol["metadata"].get("namespace") != dst_ns or not selects(spec.get("podSelector", {}), dst_labels):
            continue
        if "Ingress" not in spec.get("policyTypes", ["Ingress"]):
            continue
        for rule in spec.get("ingress") or []:
            if ("ports" not in rule or any(port_ok(p) for p in rule["ports"])) and (
                    "from" not in rule or any(peer_ok(peer) for peer in rule["from"])):
                return True
    return False


def matcher_forwarding_problems(objs: list[dict]) -> list[str]:
    """Matcher workers forward queries to the worker owning a partition, at the address it
    registered (ITM_MATCHER_ADVERTISE_ADDRESS): each pod must advertise its own pod IP and the
    gRPC port it listens on, and the NetworkPolicies must let matcher pods reach each other there."""
    from services.matcher.config import MatcherSettings

    deps = {d["metadata"]["name"]: d for d in by_kind(objs, "Deployment")}
    dep = deps.get("itm-matcher")
    if dep is None:
        return ["no Deployment itm-matcher"]
    problems = []
    container = dep["spec"]["template"]["spec"]["containers"][0]
    env = container.get("env") or []
    names = [e["name"] for e in env]
    grpc_ports = [p["containerPort"] for p in container.get("ports", []) if p.get("name") == "grpc"]
    cms = [c for c in by_kind(objs, "ConfigMap") if c["metadata"]["name"].startswith("itm-config")]
    listen = cms[0]["data"].get("ITM_GRPC_PORT") if cms else None
    if grpc_ports != [GRPC_PORT] or listen != str(GRPC_PORT):
        problems.append(f"itm-matcher: the container port `grpc` {grpc_ports} and ITM_GRPC_PORT {listen!r} should both be {GRPC_PORT}")

    adv = next((e for e in env if e["name"] == "ITM_MATCHER_ADVERTISE_ADDRESS"), None)
    m = re.fullmatch(r"\$\((\w+)\):(\d+)", str((adv or {}).get("value", "")))
    if adv is None or not m:
        problems.append(f"itm-matcher: ITM_MATCHER_ADVERTISE_ADDRESS should be \"$(POD_IP):{GRPC_PORT}\", got {adv}")
    else:
        var, port = m.group(1), int(m.group(2))
        src = next((e for e in env if e["name"] == var), None)
        field = (((src or {}).get("valueFrom") or {}).get("fieldRef") or {}).get("fieldPath")
        if field != "status.podIP":
            problems.append(f"itm-matcher: {var} in ITM_MATCHER_ADVERTISE_ADDRESS should come from fieldRef status.podIP, got {src}")
        elif names.index(var) > names.index("ITM_MATCHER_ADVERTISE_ADDRESS"):
            problems.append(f"itm-matcher: {var} must be defined before ITM_MATCHER_ADVERTISE_ADDRESS, or $({var}) is not expanded")
        if port not in grpc_ports or str(port) != listen:
            problems.append(f"itm-matcher: advertised port {port} is not the gRPC port the worker listens on ({listen})")
        sample = f"10.1.2.3:{port}"
        try:
            if MatcherSettings(matcher_advertise_address=sample).advertise_address != sample:
                problems.append("itm-matcher: MatcherSettings does not advertise ITM_MATCHER_ADVERTISE_ADDRESS as given")
        except ValueError as exc:
            problems.append(f"itm-matcher: MatcherSettings rejects the advertised address {sample}: {exc}")

    if not ingress_allowed(objs, dep, dep, GRPC_PORT, "grpc"):
        problems.append(f"itm-matcher: NetworkPolicies do not let matcher pods reach each other's gRPC {GRPC_PORT} (forwarded queries)")
    return problems


def all_k8s_problems(objs: list[dict]) -> list[str]:
    problems = schema_problems(objs) + custom_resource_problems(objs) + wiring_problems(objs)
    problems += matcher_forwarding_problems(objs)
    for dep in by_kind(objs, "Deployment"):
        problems += deployment_problems(dep)
    return problems


def test_k8s_version_is_shipped_by_kubernetes_validate():
    assert K8S_VERSION in {".".join(v.split(".")[:2]) for v in all_versions()}


@needs_kubectl
def test_base_renders_and_validates_without_the_secret():
    objs = rendered("base")
    assert schema_problems(objs) + custom_resource_problems(objs) == []
    assert not by_kind(objs, "Secret"), "the base must not contain itm-secrets"
    assert not by_kind(objs, "Namespace"), "overlays choose the namespace"
    for dep in by_kind(objs, "Deployment"):
        assert deployment_problems(dep) == []
        refs = [e["valueFrom"]["secretKeyRef"]["name"] for c in dep["spec"]["template"]["spec"]["containers"] for e in c["env"] if "valueFrom" in e and "secretKeyRef" in e["valueFrom"]]
        assert set(refs) == {"itm-secrets"}


@needs_kubectl
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_renders_and_validates(overlay):
    objs = rendered(overlay)
    assert all_k8s_problems(objs) == []
    assert bootstrap_problems(objs) == []
    namespaces = by_kind(objs, "Namespace")
    assert len(namespaces) == 1
    ns = namespaces[0]["metadata"]["name"]
    for o in objs:
        if o["kind"] != "Namespace":
            assert o["metadata"].get("namespace") == ns, f"{o['kind']}/{o['metadata']['name']} is not in {ns}"


@needs_kubectl
def test_dev_overlay_brings_its_own_kafka_redis_and_secret():
    objs = rendered("dev")
    sts = {s["metadata"]["name"]: s for s in by_kind(objs, "StatefulSet")}
    assert {"kafka", "redis"} <= set(sts)
    kenv = {e["name"]: e.get("value") for e in sts["kafka"]["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert set(kenv["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    args = sts["redis"]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--appendfsync" in args and args[args.index("--appendfsync") + 1] == "always"
    assert args[args.index("--appendonly") + 1] == "yes"
    secret_names = {s["metadata"]["name"] for s in by_kind(objs, "Secret")}
    for dep in by_kind(objs, "Deployment"):
        for c in dep["spec"]["template"]["spec"]["containers"]:
            for e in c["env"]:
                ref = (e.get("valueFrom") or {}).get("secretKeyRef")
                if ref:
                    assert ref["name"] in secret_names


@needs_kubectl
def test_prod_overlay_uses_strimzi_and_scales_up():
    dev, prod = rendered("dev"), rendered("prod")
    assert not by_kind(prod, "Secret"), "prod must not ship itm-secrets: it is created out of band"
    assert {(o["apiVersion"], o["kind"]) for o in prod} >= {(STRIMZI_API, "Kafka"), (STRIMZI_API, "KafkaNodePool")}
    cm = [c for c in by_kind(prod, "ConfigMap") if c["metadata"]["name"].startswith("itm-config")][0]
    assert cm["data"]["ITM_KAFKA_BOOTSTRAP"] == "itm-kafka-kafka-bootstrap:9092"
    assert not [s for s in by_kind(prod, "StatefulSet") if s["metadata"]["name"] == "kafka"], "prod must not run the dev Kafka"
    dev_deps = {d["metadata"]["name"]: d for d in by_kind(dev, "Deployment")}
    for dep in by_kind(prod, "Deployment"):
        name = dep["metadata"]["name"]
        assert dep["spec"]["replicas"] > dev_deps[name]["spec"]["replicas"], f"{name}: prod should run more replicas than dev"
        p_lim = dep["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
        d_lim = dev_deps[name]["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
        for res in ["cpu", "memory"]:
            assert parse_quantity(p_lim[res]) > parse_quantity(d_lim[res]), f"{name}: prod {res} limit should be larger than dev"
    hpa = {h["metadata"]["name"]: h for h in by_kind(prod, "HorizontalPodAutoscaler")}
    for name, h in hpa.items():
        replicas = {d["metadata"]["name"]: d["spec"]["replicas"] for d in by_kind(prod, "Deployment")}[h["spec"]["scaleTargetRef"]["name"]]
        assert h["spec"]["minReplicas"] <= replicas <= h["spec"]["maxReplicas"], name


# ----------------------------------------------------- the checks above bite (tmp copies)


def _break_and_render(tmp_path: Path, overlay: str, rel: str, old: str, new: str) -> list[dict]:
    tree = tmp_path / "k8s"
    shutil.copytree(K8S_DIR, tree)
    target = tree / rel
    text = target.read_text()
    assert old in text, f"{old!r} not in {rel}"
    target.write_text(text.replace(old, new, 1))
    return kustomize(tree / "overlays" / overlay)


@needs_kubectl
def test_k8s_checks_bite_on_an_insecure_deployment(tmp_path):
    objs = _break_and_render(tmp_path, "prod", "base/matcher.yaml", "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false")
    assert "itm-matcher/matcher: root filesystem is not read-only" in all_k8s_problems(objs)


@needs_kubectl
def test_k8s_checks_bite_on_a_missing_probe(tmp_path):
    objs = _break_and_render(tmp_path, "dev", "base/notifier.yaml", "          livenessProbe:\n            grpc:\n              port: 50051\n",
                             "          livenessProbe:\n            tcpSocket:\n              port: 50051\n")
    assert "itm-notifier/notifier: livenessProbe must be a gRPC probe on 50051" in all_k8s_problems(objs)


@needs_kubectl
def test_k8s_checks_bite_on_a_schema_error(tmp_path):
    objs = _break_and_render(tmp_path, "dev", "base/profile.yaml", "  revisionHistoryLimit: 5\n", "  revisionHistoryLimit: 5\n  replica: 2\n")
    problems = schema_problems(objs)
    assert any(p.startswith("Deployment/itm-profile") and "replica" in p for p in problems), problems


@needs_kubectl
def test_k8s_checks_bite_on_a_missing_network_policy(tmp_path):
    objs = _break_and_render(tmp_path, "prod", "base/networkpolicies.yaml", "      app.kubernetes.io/component: notifier\n", "      app.kubernetes.io/component: nobody\n")
    assert "itm-notifier: HTTP is not allowed from the ingress controller's namespace" in all_k8s_problems(objs)


@needs_kubectl
def test_k8s_checks_bite_on_a_wrong_bootstrap(tmp_path):
    objs = _break_and_render(tmp_path, "prod", "overlays/prod/kustomization.yaml", "itm-kafka-kafka-bootstrap:9092", "kafka:9092")
    assert any("ITM_KAFKA_BOOTSTRAP kafka:9092" in p for p in bootstrap_problems(objs))


@needs_kubectl
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_matcher_workers_advertise_their_pod_ip_and_reach_each_other(overlay):
    objs = rendered(overlay)
    assert matcher_forwarding_problems(objs) == []
    dep = [d for d in by_kind(objs, "Deployment") if d["metadata"]["name"] == "itm-matcher"][0]
    env = {e["name"]: e for e in dep["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["POD_IP"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"
    assert env["ITM_MATCHER_ADVERTISE_ADDRESS"]["value"] == f"$(POD_IP):{GRPC_PORT}"


def test_ingress_allowed_follows_networkpolicy_semantics():
    def pod(ns, component):
        return {"metadata": {"namespace": ns}, "spec": {"template": {"metadata": {"labels": {"app": "itm", "c": component}}}}}

    def policy(ingress, selector=None, ns="a"):
        return {"kind": "NetworkPolicy", "metadata": {"name": "p", "namespace": ns},
                "spec": {"podSelector": selector or {}, "policyTypes": ["Ingress"], "ingress": ingress}}

    m_a, m_b, n_a = pod("a", "matcher"), pod("b", "matcher"), pod("a", "notifier")
    same_ns = policy([{"from": [{"podSelector": {}}], "ports": [{"protocol": "TCP", "port": 50051}]}])
    assert ingress_allowed([same_ns], m_a, m_a, 50051, "grpc")
    assert not ingress_allowed([same_ns], m_a, m_b, 50051, "grpc"), "a bare podSelector is the policy's namespace only"
    assert not ingress_allowed([same_ns], m_a, m_a, 8080, "http")
    assert not ingress_allowed([], m_a, m_a, 50051, "grpc")
    only_notifier = policy([{"from": [{"podSelector": {"matchLabels": {"c": "notifier"}}}], "ports": [{"port": "grpc"}]}])
    assert ingress_allowed([only_notifier], m_a, n_a, 50051, "grpc")
    assert not ingress_allowed([only_notifier], m_a, m_a, 50051, "grpc")
    other_target = policy([{"from": [{"podSelector": {}}]}], selector={"matchLabels": {"c": "notifier"}})
    assert not ingress_allowed([other_target], m_a, m_a, 50051, "grpc")
    by_ns = policy([{"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "b"}}}]}])
    assert ingress_allowed([by_ns], m_a, m_b, 50051, "grpc") and not ingress_allowed([by_ns], m_a, m_a, 50051, "grpc")
    udp = policy([{"ports": [{"protocol": "UDP", "port": 50051}]}])
    assert not ingress_allowed([udp], m_a, m_a, 50051, "grpc")


@needs_kubectl
@pytest.mark.parametrize("rel, old, new, expected", [
    ("base/matcher.yaml", 'value: "$(POD_IP):50051"', 'value: "$(POD_IP):50052"', "advertised port 50052 is not the gRPC port"),
    ("base/matcher.yaml", "fieldPath: status.podIP", "fieldPath: status.hostIP", "POD_IP in ITM_MATCHER_ADVERTISE_ADDRESS should come from fieldRef status.podIP"),
    ("base/matcher.yaml", 'value: "$(POD_IP):50051"', 'value: "itm-matcher:50051"', "ITM_MATCHER_ADVERTISE_ADDRESS should be"),
    ("base/networkpolicies.yaml", "        - podSelector: {}\n",
     "        - podSelector:\n            matchLabels:\n              app.kubernetes.io/component: notifier\n",
     "NetworkPolicies do not let matcher pods reach each other's gRPC"),
], ids=["wrong-port", "host-ip", "service-name", "policy-without-matchers"])
def test_k8s_checks_bite_on_matcher_forwarding(tmp_path, rel, old, new, expected):
    objs = _break_and_render(tmp_path, "prod", rel, old, new)
    assert any(expected in p for p in matcher_forwarding_problems(objs)), matcher_forwarding_problems(objs)


@needs_kubectl
def test_k8s_checks_bite_on_pod_ip_defined_after_its_use():
    objs = json.loads(json.dumps(rendered("dev")))
    dep = [d for d in by_kind(objs, "Deployment") if d["metadata"]["name"] == "itm-matcher"][0]
    env = dep["spec"]["template"]["spec"]["containers"][0]["env"]
    pod_ip = next(e for e in env if e["name"] == "POD_IP")
    env.remove(pod_ip)
    env.append(pod_ip)
    assert "itm-matcher: POD_IP must be defined before ITM_MATCHER_ADVERTISE_ADDRESS, or $(POD_IP) is not expanded" in matcher_forwarding_problems(objs)
