"""Issue 15 item 3: a request fuzz test over every gRPC method of the six services.

Requests are generated from the proto descriptors (``tests/proto_strategies.py``),
sent as raw bytes to the real processes with valid tokens of every role and with
invalid ones (garbage, expired, wrong secret, wrong scheme, none). Every answer
must carry a status from ``ALLOWED`` (never UNKNOWN, INTERNAL or UNIMPLEMENTED)
with details written for people (no stack internals, no install paths, nothing
huge echoed). The services every process serves are found through server
reflection, so a new service or method is fuzzed without editing this file.

``make test`` runs a few hundred cases; ``ITM_FUZZ_CASES=10000`` runs the full
round. The table of codes seen is printed at the end of the module.
"""

from __future__ import annotations

import collections
import contextlib
import importlib
import math
import os
import pkgutil
from pathlib import Path

import grpc
import pytest
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import itm
import itm.v1
from _stack import ModuleStack
from itm.runtime.auth import mint_token
from itm.runtime.settings import Settings
from itm.v1 import common_pb2, learning_pb2, opportunity_pb2, profile_pb2
from proto_strategies import requests

ALLOWED = {"OK", "INVALID_ARGUMENT", "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "UNAUTHENTICATED",
           "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "RESOURCE_EXHAUSTED", "UNAVAILABLE"}
STREAM_ALLOWED = ALLOWED | {"DEADLINE_EXCEEDED"}  # a valid Subscribe stays open: the client's wait ends it
INTERNALS = ("Traceback", "site-packages", 'File "', "<class '", "Exception", str(Path(itm.__file__).parents[1]))
MAX_DETAILS = 1000  # characters of error details, as itm.runtime.calls promises
CASES = int(os.environ.get("ITM_FUZZ_CASES", "400"))
SERVICES = ("profile", "opportunity", "learning", "matcher", "notifier", "webhooks")


def _methods() -> list:
    found = []
    for module in pkgutil.iter_modules(itm.v1.__path__):
        if module.name.endswith("_pb2"):
            for service in importlib.import_module(f"itm.v1.{module.name}").DESCRIPTOR.services_by_name.values():
                found += list(service.methods)
    return sorted(found, key=lambda m: m.full_name)


METHODS = _methods()
PER_METHOD = max(1, math.ceil(CASES / len(METHODS)))
CODES: collections.Counter = collections.Counter()
OK_METHODS: set[str] = set()
VALID_TOKENS = ["hr_admin", "service", "employee", "manager", "stranger"]


class Fuzzed:
    """The running stack as the fuzz test needs it: a channel per served gRPC service, the
    call metadata of each token kind, and the words (real ids, names) requests may use."""

    def __init__(self, stack: ModuleStack, words: list[str], employee: str, manager: str):
        self.stack = stack
        self.words = words
        self.channels: dict[str, grpc.Channel] = {}
        self.served: dict[str, grpc.Channel] = {}
        for name in SERVICES:
            channel = self.channels[name] = grpc.insecure_channel(stack.procs[name].grpc_target)
            for service in ProtoReflectionDescriptorDatabase(channel).get_services():
                self.served.setdefault(service, channel)
        s = stack.settings
        wrong = Settings(topic_prefix=s.topic_prefix, token_secret="a-wrong-secret-that-is-long-enough-0123")

        def bearer(token: str) -> tuple:
            return (("authorization", f"Bearer {token}"),)

        self.tokens = {
            "hr_admin": bearer(mint_token(s, "hr-fz", "hr_admin")),
            "service": bearer(mint_token(s, "fuzz", "service", on_behalf_of=employee)),
            "employee": bearer(mint_token(s, employee, "employee")),
            "manager": bearer(mint_token(s, manager, "manager")),
            "stranger": bearer(mint_token(s, "E-fz-stranger", "employee")),
            "expired": bearer(mint_token(s, employee, "employee", ttl_s=-60)),
            "wrong-secret": bearer(mint_token(wrong, "hr-fz", "hr_admin")),
            "garbage": bearer("not.a.jwt"),
            "basic": (("authorization", "Basic aHI6aHI="),),
            "none": (),
        }

    def close(self) -> None:
        for channel in self.channels.values():
            channel.close()


@pytest.fixture(scope="module")
async def fuzzed(infra, tmp_path_factory, request):
    stack = ModuleStack(infra, tmp_path_factory.mktemp("fuzz"))
    unlimited = {"rate_limit_per_s": 1_000_000, "rate_limit_burst": 1_000_000}
    fz = None
    try:
        await stack.start({name: unlimited for name in SERVICES}, [])
        c = stack.clients
        manager, employee, owner = "M-fz-1", "E-fz-1", "E-fz-owner"
        for emp, boss in ((manager, ""), (employee, manager), (owner, manager)):
            await c.profile.CreateEmployee(profile_pb2.CreateEmployeeRequest(
                employee_id=emp, name=emp, manager_id=boss), metadata=c.metadata)
        await c.profile.UpsertSkill(profile_pb2.UpsertSkillRequest(employee_id=employee, skill="sql", level=3),
                                    metadata=c.metadata)
        opp = await stack.as_(owner).opportunity.PostOpportunity(opportunity_pb2.PostOpportunityRequest(
            title="Fuzz gig", type=common_pb2.OPPORTUNITY_TYPE_GIG, hours_per_week=2, duration_weeks=2, seats=2,
            requirements=[opportunity_pb2.RequirementInput(skill="sql", min_level=2)]),
            metadata=stack.as_(owner).metadata)
        app = await stack.as_(employee).opportunity.Apply(opportunity_pb2.ApplyRequest(
            opportunity_id=opp.opportunity_id), metadata=stack.as_(employee).metadata)
        await c.learning.PublishCourse(learning_pb2.PublishCourseRequest(
            course_id="sql-101", title="SQL", hours=4, teaches=[learning_pb2.CourseSkillInput(skill="sql", level=2)]),
            metadata=c.metadata)
        words = [manager, employee, owner, opp.opportunity_id, app.application_id, "sql", "python", "sql-101",
                 "Europe/Berlin", "0-0", "1-0", "$", "id_token", "manager_id", "name"]
        fz = Fuzzed(stack, words, employee, manager)
        yield fz
    finally:
        if fz is not None:
            fz.close()
        await stack.close()
        _print_table(request)


def _print_table(request) -> None:
    total = sum(CODES.values())
    lines = [f"fuzz: {total} cases over {len(METHODS)} methods ({PER_METHOD} per method), codes seen:"]
    lines += [f"  {code:<20} {n:>7}" for code, n in CODES.most_common()]
    lines.append(f"  methods answering OK at least once: {len(OK_METHODS)} of {len(METHODS)}")
    capture = request.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        print("\n" + "\n".join(lines))


def _call(channel: grpc.Channel, path: str, body: bytes, metadata, streaming: bool) -> tuple[str, str]:
    try:
        if streaming:
            call = channel.unary_stream(path)(body, metadata=metadata, timeout=1.0)
            with contextlib.suppress(StopIteration):
                next(call)
            call.cancel()
        else:
            channel.unary_unary(path)(body, metadata=metadata, timeout=30)
        return "OK", ""
    except grpc.RpcError as exc:
        return exc.code().name, exc.details() or ""


@pytest.mark.timeout(900)
@pytest.mark.parametrize("method", METHODS, ids=lambda m: m.full_name.removeprefix("itm.v1."))
def test_every_method_answers_only_allowed_codes_with_details_for_people(fuzzed, method):
    channel = fuzzed.served.get(method.containing_service.full_name)
    assert channel is not None, f"no process serves {method.containing_service.full_name} (reflection)"
    path = f"/{method.containing_service.full_name}/{method.name}"
    allowed = STREAM_ALLOWED if method.server_streaming else ALLOWED

    valid = st.sampled_from(VALID_TOKENS)

    @settings(max_examples=PER_METHOD, deadline=None, database=None, derandomize=CASES <= 1000,
              suppress_health_check=list(HealthCheck))
    @given(body=requests(method.input_type, fuzzed.words),
           token=st.one_of(valid, valid, valid, st.sampled_from(sorted(fuzzed.tokens))))
    def case(body: bytes, token: str) -> None:
        code, details = _call(channel, path, body, fuzzed.tokens[token], method.server_streaming)
        CODES[code] += 1
        if code == "OK":
            OK_METHODS.add(method.full_name)
        assert code in allowed, f"{path} with a {token} token answered {code}: {details[:300]}"
        assert len(details) <= MAX_DETAILS, f"{path} answered {len(details)} characters of details"
        leaked = [w for w in INTERNALS if w in details]
        assert not leaked, f"{path} ({code}) shows {leaked}: {details[:300]}"

    case()


# --------------------------------------------------------------------------- oversized strings are not echoed

ECHO_RUN = 32  # a refusal may quote at most this many characters of an oversized value


def _string_paths(desc, prefix=(), depth=0):
    """(path of field descriptors) for every string field, one message level deep."""
    for field in desc.fields:
        if field.type == field.TYPE_STRING:
            yield prefix + (field,)
        elif field.type == field.TYPE_MESSAGE and depth < 1 and not field.message_type.GetOptions().map_entry \
                and not field.message_type.full_name.startswith("google.protobuf."):
            yield from _string_paths(field.message_type, prefix + (field,), depth + 1)


def _with(message_class, path, value: str) -> bytes:
    msg = message_class()
    target = msg
    for field in path[:-1]:
        target = getattr(target, field.name).add() if field.is_repeated else getattr(target, field.name)
    last = path[-1]
    if last.is_repeated:
        getattr(target, last.name).append(value)
    else:
        setattr(target, last.name, value)
    return msg.SerializeToString()


def _message_class(desc):
    from google.protobuf import message_factory

    return message_factory.GetMessageClass(desc)


@pytest.mark.timeout(600)
@pytest.mark.parametrize("method", [m for m in METHODS if not m.client_streaming],
                         ids=lambda m: m.full_name.removeprefix("itm.v1."))
def test_an_oversized_id_or_string_is_refused_naming_the_field_without_echoing_it(fuzzed, method):
    """Issue 16 item 5: ids and strings of 10-20 KB were echoed whole in the error. Every string
    field of every request (one level deep), as an HR admin and as an employee: a value far past
    every limit is INVALID_ARGUMENT naming the field; one past a service's own tighter limit (an
    id of 150 characters, a text of 5,000) may be refused by the service; neither is quoted."""
    channel = fuzzed.served.get(method.containing_service.full_name)
    path = f"/{method.containing_service.full_name}/{method.name}"
    cls = _message_class(method.input_type)
    problems = []
    for fields in _string_paths(method.input_type):
        dotted = ".".join(f.name for f in fields)
        is_id = fields[-1].name in ("page_token", "after_id", "skill", "skill_id", "request_id") or \
            fields[-1].name.endswith(("_id", "_ids"))
        unlimited = fields[-1].full_name == "itm.v1.ImportEmployeesRequest.csv"
        for size in ((20_000, 150) if is_id else (20_000, 5_000)):
            if unlimited:
                continue
            value = ("Zq" * size)[:size]
            for token in ("hr_admin", "employee"):
                code, details = _call(channel, path, _with(cls, fields, value), fuzzed.tokens[token],
                                      method.server_streaming)
                if "Zq" * (ECHO_RUN // 2) in details:
                    problems.append(f"{dotted} ({size} chars, {token}): {code} echoes it: {details[:160]}")
                if size == 20_000 and (code != "INVALID_ARGUMENT" or fields[-1].name not in details):
                    problems.append(f"{dotted} ({size} chars, {token}): {code} {details[:160]}")
    assert not problems, f"{path}\n  " + "\n  ".join(problems)
