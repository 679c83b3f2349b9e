from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from itm import protogen
from itm.runtime import topics
from itm.runtime.auth import AuthError, mint_token, verify_token
from itm.runtime.envelope import MalformedEvent, decode, new_envelope, to_json
from itm.runtime.settings import Settings
from itm.v1 import common_pb2, events_pb2


def test_bad_setting_stops_the_process_with_a_message_naming_the_variable():
    env = {"ITM_GRPC_PORT": "not-a-port", "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-c", "from itm.runtime.settings import load_settings; load_settings()"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "ITM_GRPC_PORT" in proc.stderr and "not-a-port" in proc.stderr


def test_bootstrap_and_redis_url_are_validated():
    with pytest.raises(ValueError, match="host:port"):
        Settings(kafka_bootstrap="localhost")
    with pytest.raises(ValueError, match="redis://"):
        Settings(redis_url="http://x")


def test_prefix_applies_to_topics_groups_and_keys():
    s = Settings(topic_prefix="t1.")
    assert (s.topic("match.updated"), s.group("g"), s.key("k")) == ("t1.match.updated", "t1.g", "t1.k")


def test_registry_topics_are_past_tense_facts_with_one_writer_and_copartitioned_employee_topics():
    employee_keyed = [t for t in topics.TOPICS.values() if t.key == "employee_id"]
    assert {t.partitions for t in employee_keyed} == {topics.EMPLOYEE_PARTITIONS}
    assert topics.TOPICS["matcher.opportunity-broadcast"].partitions == topics.EMPLOYEE_PARTITIONS
    for name, t in topics.TOPICS.items():
        assert name.split(".")[0] in {"profile", "opportunity", "learning", "match", "itm", "matcher"}
        assert t.writer


def test_envelope_round_trip_and_json_mapping():
    profile = common_pb2.EmployeeMatchProfile(employee_id="E1")
    env = new_envelope("profile.employee-registered", "profile", "E1", 3,
                       events_pb2.EmployeeRegistered(profile=profile), correlation_id="corr-1")
    event = decode(env.SerializeToString())
    assert event.subject == "E1" and event.version == 3 and event.envelope.schema_version == 1
    assert event.payload.profile.employee_id == "E1" and event.envelope.correlation_id == "corr-1"
    doc = to_json(env)
    assert doc["payload"]["@type"].endswith("itm.v1.EmployeeRegistered") and doc["entity_version"] == "3"


def test_envelope_refuses_a_payload_that_does_not_belong_to_the_topic():
    with pytest.raises(TypeError, match="EmployeeRegistered"):
        new_envelope("profile.employee-registered", "profile", "E1", 1, events_pb2.GigPosted())
    with pytest.raises(KeyError, match="registry"):
        new_envelope("profile.nope", "profile", "E1", 1, events_pb2.GigPosted())


@pytest.mark.parametrize("value,reason", [(b"", "empty"), (b"\xff\xff\xff", "not an itm.v1.EventEnvelope"),
                                          (b"\x0a\x01x", "lacks")])
def test_malformed_records_say_what_is_wrong(value, reason):
    with pytest.raises(MalformedEvent, match=reason):
        decode(value)


def test_tokens_verify_and_fail_with_reasons():
    s = Settings()
    ident = verify_token(s, mint_token(s, "E1", "employee"))
    assert (ident.subject, ident.role) == ("E1", "employee")
    with pytest.raises(AuthError, match="expired"):
        verify_token(s, mint_token(s, "E1", "employee", ttl_s=-10))
    other = Settings(token_secret="another-secret-that-is-long-enough-0123")
    with pytest.raises(AuthError, match="invalid token"):
        verify_token(s, mint_token(other, "E1", "employee"))


def test_committed_generated_code_matches_a_fresh_generation():
    assert protogen.drift() == []


def test_drift_check_fails_when_a_generated_file_is_hand_edited(tmp_path, monkeypatch):
    copy = tmp_path / "v1"
    shutil.copytree(protogen.GENERATED_DIR, copy)
    edited = copy / "events_pb2.py"
    edited.write_text(edited.read_text() + "\n# hand edit\n")
    monkeypatch.setattr(protogen, "GENERATED_DIR", copy)
    assert protogen.drift() == ["events_pb2.py: differs from a fresh generation (run `make proto`)"]
    assert protogen.main(["--check"]) == 1


def test_rate_limiter_refills_at_its_rate_and_buckets_are_per_identity():
    from itm.runtime.auth import RateLimiter

    limiter = RateLimiter(rate_per_s=2, burst=2)
    assert [limiter.allow("a", now=0.0) for _ in range(3)] == [0.0, 0.0, 0.5]
    assert limiter.allow("b", now=0.0) == 0.0
    assert limiter.allow("a", now=0.5) == 0.0  # one token back after half a second at 2/s
    assert limiter.allow("a", now=0.5) > 0


def test_on_behalf_of_claim_round_trips():
    s = Settings()
    ident = verify_token(s, mint_token(s, "matcher", "service", on_behalf_of="E7"))
    assert (ident.subject, ident.role, ident.on_behalf_of, ident.privileged) == ("matcher", "service", "E7", True)


@pytest.mark.parametrize("role", ["employee", "manager", "hr_admin"])
def test_with_a_jwks_the_shared_secret_signs_service_tokens_only(role):
    """Production: people's tokens come from the identity provider; an HS256 token a person could be
    given (or mint from a leaked secret) is refused, a service's is accepted without asking the provider."""
    prod = Settings(auth_jwks_url="http://127.0.0.1:9/unreachable-jwks")  # any fetch would fail the call
    with pytest.raises(AuthError, match="service role only"):
        verify_token(prod, mint_token(prod, "E1", role))
    ident = verify_token(prod, mint_token(prod, "web", "service", on_behalf_of="E7"))
    assert (ident.subject, ident.role, ident.on_behalf_of) == ("web", "service", "E7")
    other = Settings(token_secret="another-secret-that-is-long-enough-0123")
    with pytest.raises(AuthError, match="Signature verification failed"):
        verify_token(prod, mint_token(other, "web", "service"))
    assert verify_token(Settings(), mint_token(Settings(), "E1", role)).role == role  # dev: anyone's


def test_a_child_aborted_by_the_fork_hazard_is_started_again_and_other_deaths_are_reported(tmp_path):
    """ServiceProcess-style start: a child that dies of SIGABRT with gRPC's poller
    message (the fork-before-exec hazard) is spawned again; any other early death is
    a StartupError at once."""
    import sys

    from itm.devstack import ManagedProcess, StartupError

    marker = tmp_path / "ready"

    class Child(ManagedProcess):
        def __init__(self, name, script):
            super().__init__(name, tmp_path / name)
            self.script = script
            self.spawned = 0

        def spawn(self):
            self.spawned += 1
            super().spawn()

        def command(self):
            return [sys.executable, "-c", self.script, str(marker), str(self.spawned)]

        def probe(self):
            return marker.exists(), "waiting for the marker"

    # the first run prints the hazard's message and aborts; the second becomes ready
    hazard = ("import os, sys, time\n"
              "if sys.argv[2] == '1':\n"
              "    print('E1122 ev_epoll1_linux.cc:373] epoll_wait error: Bad file descriptor', flush=True)\n"
              "    os.abort()\n"
              "open(sys.argv[1], 'w').close()\n"
              "time.sleep(30)\n")
    child = Child("hazard", hazard)
    try:
        child.start(timeout=20)
        assert child.spawned == 2 and child.running
    finally:
        child.kill()
    # an abort without that message is the child's own failure: reported, not retried
    marker.unlink()
    other = Child("crash", "import os; os.abort()")
    with pytest.raises(StartupError, match="exited with code -6"):
        other.start(timeout=20)
    assert other.spawned == 1
