"""The contract check of `make test` (issue 14 item 4): buf lint and buf breaking of
proto/ against the previous release, with buf from npm (tools/buf, pinned). It passes
on proto/ as committed and fails on a copy with a deliberately renumbered field, a
renamed field and a removed RPC."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest

from external_tools import npm_install
from itm import protocheck


@pytest.fixture(scope="module")
def buf() -> None:
    npm_install(protocheck.BUF_PACKAGE)


@pytest.fixture
def proto_copy(tmp_path):
    copy = tmp_path / "proto"
    shutil.copytree(protocheck.PROTO_ROOT, copy, ignore=shutil.ignore_patterns("descriptors", "releases"))
    return copy


def _edit(path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def test_the_committed_contract_passes_lint_and_the_breaking_check(buf):
    protocheck.lint()
    assert protocheck.breaking() == protocheck.previous_release()
    run = subprocess.run([sys.executable, "-m", "itm.protocheck"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert f"nothing breaks the contract of release {protocheck.previous_release().stem}" in run.stdout


def test_a_renumbered_field_fails_the_breaking_check(buf, proto_copy):
    _edit(proto_copy / "itm/v1/events.proto", "string verified_by = 2;", "string verified_by = 12;")
    protocheck.lint(proto_copy)  # still well-formed: only the contract check catches it
    with pytest.raises(protocheck.ContractError) as err:
        protocheck.breaking(proto_copy)
    assert re.search(r'field "2" with name "verified_by" on message "SkillVerified" was deleted', str(err.value))
    run = subprocess.run([sys.executable, "-m", "itm.protocheck", "breaking", "--proto", str(proto_copy)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 1 and "SkillVerified" in run.stderr


def test_a_renamed_field_and_a_removed_rpc_fail_it_too(buf, proto_copy):
    _edit(proto_copy / "itm/v1/envelope.proto", "string subject = 5;", "string entity_id = 5;")
    opportunity = proto_copy / "itm/v1/opportunity.proto"
    rpc = re.search(r"^\s*rpc SearchOpportunities\(.*?\n", opportunity.read_text(), flags=re.M).group(0)
    _edit(opportunity, rpc, "")
    with pytest.raises(protocheck.ContractError) as err:
        protocheck.breaking(proto_copy)
    found = str(err.value)
    assert 'changed name from "subject" to "entity_id"' in found
    assert 'RPC "SearchOpportunities" on service "OpportunityService" was deleted' in found


def test_lint_names_a_field_that_breaks_the_naming_rules(buf, proto_copy):
    _edit(proto_copy / "itm/v1/envelope.proto", "string causation_id = 9;", "string causationId = 9;")
    with pytest.raises(protocheck.ContractError, match=r'Field name "causationId" should be lower_snake_case'):
        protocheck.lint(proto_copy)


def test_a_release_is_frozen_once_written(tmp_path, monkeypatch):
    monkeypatch.setattr(protocheck, "RELEASES", tmp_path)
    first = protocheck.release("0.2.0")
    assert first.read_bytes() == (protocheck.ROOT / protocheck.DESCRIPTOR_SET).read_bytes()
    with pytest.raises(FileExistsError):
        protocheck.release("0.2.0")
    protocheck.release("0.10.0")
    assert protocheck.previous_release(tmp_path).name == "0.10.0.binpb"  # by version, not by text
    with pytest.raises(ValueError):
        protocheck.release("next")
