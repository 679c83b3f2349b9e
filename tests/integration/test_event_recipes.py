"""The recipes of docs/events/README.md, run as written against a real broker, and
`itm events tail` against the same records: protoc alone (raw, with the published
descriptor sets, with the .proto sources) and KafkaJS on Node.js.

Debian's protoc and libprotobuf-dev are installed when missing (or the test skips,
saying why); KafkaJS and @bufbuild/protobuf come pinned from the recipe's
package-lock.json."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from external_tools import npm_install, protoc
from itm.client import Clients
from itm.runtime.settings import Settings
from itm.v1 import profile_pb2

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "docs" / "events" / "README.md"
NODE_RECIPE = ROOT / "docs" / "events" / "recipes" / "node"
TOPIC = "profile.employee-registered"


def recipes() -> dict[str, str]:
    found = re.findall(r"<!-- recipe: ([\w-]+) -->\n```sh\n(.*?)```", README.read_text(), flags=re.S)
    return dict(found)


def run_recipe(name: str, work: Path, env: dict[str, str]) -> str:
    run = subprocess.run(["bash", "-euo", "pipefail", "-c", recipes()[name]], cwd=work, env=env, capture_output=True,
                         timeout=180)
    assert run.returncode == 0, f"recipe {name} failed:\n{run.stdout.decode(errors='replace')}\n{run.stderr.decode()}"
    out = run.stdout.decode()
    print(f"----- recipe {name} printed:\n{out}")
    return out


def tail_lines(cmd: list[str], env: dict[str, str]) -> list[dict]:
    run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, f"{cmd}:\n{run.stdout}\n{run.stderr}"
    return sorted((json.loads(line) for line in run.stdout.splitlines() if line.strip()),
                  key=lambda r: (r["partition"], r["offset"]))


@pytest.fixture
async def two_employees(start_service, topic_prefix):
    profile = start_service("profile")
    clients = Clients.connect({"profile": profile.grpc_target}, Settings(topic_prefix=topic_prefix))
    ids = [f"E{os.urandom(4).hex()}" for _ in range(2)]
    try:
        for emp in ids:
            await clients.profile.CreateEmployee(profile_pb2.CreateEmployeeRequest(
                request_id=f"req-{emp}", employee_id=emp, name=f"Name {emp}", department="Data",
                hours_available_per_week=40), metadata=clients.metadata)
    finally:
        await clients.close()
    return ids


def test_the_documented_recipes_decode_real_records(two_employees, kafka_bootstrap, topic_prefix, tmp_path):
    assert set(recipes()) == {"protoc-raw", "protoc-descriptor-set", "protoc-sources", "kafkajs"}
    protoc()
    npm_install(NODE_RECIPE)
    work = tmp_path / "repo"
    work.mkdir()
    for part in ("proto", "docs"):
        (work / part).symlink_to(ROOT / part)
    env = {k: v for k, v in os.environ.items() if k != "ITM_DATA_DIR"}
    env.update(ITM_KAFKA_BOOTSTRAP=kafka_bootstrap, ITM_TOPIC_PREFIX=topic_prefix,
               PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]))

    raw = run_recipe("protoc-raw", work, env)
    emp = re.search(r'^5: "(E[0-9a-f]+)"$', raw, flags=re.M).group(1)  # field 5: subject
    assert emp in two_employees and f'2: "{TOPIC}"' in raw

    typed = run_recipe("protoc-descriptor-set", work, env)
    records_part, envelope_part = typed.split("\nevent_id:", 1)
    assert f'subject: "{emp}"' in records_part and "  value {\n    profile {" in records_part
    assert f'employee_id: "{emp}"' in records_part  # the payload, decoded
    assert 'type_url: "type.googleapis.com/itm.v1.EmployeeRegistered"' in envelope_part
    assert "  value: \"" in envelope_part  # the plain envelope leaves the payload as bytes

    sources = run_recipe("protoc-sources", work, env)
    assert f'subject: "{emp}"' in sources and 'event_type: "profile.employee-registered"' in sources

    printed = [ln for ln in run_recipe("kafkajs", work, env).splitlines() if ln.startswith("{")]  # not npm's
    assert len(printed) == 1  # --limit 1, though partitions are fetched concurrently
    line = json.loads(printed[0])
    assert line["topic"] == TOPIC and line["key"] in two_employees
    assert line["value"]["payload"]["@type"] == "type.googleapis.com/itm.v1.EmployeeRegistered"
    assert line["value"]["payload"]["profile"]["employee_id"] == line["key"]


def test_itm_events_tail_and_kafkajs_print_the_same_json(two_employees, kafka_bootstrap, topic_prefix):
    npm_install(NODE_RECIPE)
    env = {k: v for k, v in os.environ.items() if k != "ITM_DATA_DIR"}
    env.update(ITM_KAFKA_BOOTSTRAP=kafka_bootstrap, ITM_TOPIC_PREFIX=topic_prefix)
    itm = [sys.executable, "-m", "itm.cli", "events", "tail", TOPIC, "--from-beginning"]
    node = ["node", str(NODE_RECIPE / "tail.mjs"), TOPIC, "--from-beginning"]

    ours = tail_lines([*itm, "--json", "--limit", "2"], env)
    theirs = tail_lines([*node, "--limit", "2"], env)
    assert ours == theirs
    assert sorted(r["key"] for r in ours) == sorted(two_employees)
    for r in ours:
        env_json = r["value"]
        assert env_json["event_type"] == TOPIC and env_json["subject"] == r["key"]
        assert env_json["entity_version"] == "1"  # int64 as a string
        assert env_json["payload"]["profile"]["employee_id"] == r["key"]

    one = two_employees[1]
    assert [r["key"] for r in tail_lines([*itm, "--json", "--limit", "1", "--key", one], env)] == [one]
    assert [r["key"] for r in tail_lines([*node, "--limit", "1", "--key", one], env)] == [one]

    human = subprocess.run([*itm, "--limit", "1", "--key", one], env=env, capture_output=True, text=True, timeout=60)
    assert human.returncode == 0, human.stderr
    head, body = human.stdout.split("\n", 1)
    assert head.startswith(f"# {TOPIC} [") and head.endswith(f"key={one}")
    assert json.loads(body)["subject"] == one

    missing = subprocess.run([*itm[:-2], TOPIC, "--prefix", "nosuch."], env=env, capture_output=True, text=True,
                             timeout=60)
    assert missing.returncode == 1 and f"topic 'nosuch.{TOPIC}' does not exist on {kafka_bootstrap}" in missing.stderr
    unreachable = subprocess.run([*itm[:-2], TOPIC, "--bootstrap", "127.0.0.1:9"], env=env, capture_output=True,
                                 text=True, timeout=60)
    assert unreachable.returncode == 1 and unreachable.stderr.startswith("Error: cannot reach Kafka at 127.0.0.1:9")
