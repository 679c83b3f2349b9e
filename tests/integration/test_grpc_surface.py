"""Issue 14 items 1-2 with stock clients against the six real services:
grpc.health.v1 Watch, each dependency reported, and server reflection (list and
describe every service through reflection alone, as grpcurl does)."""

from __future__ import annotations

import contextlib

import grpc
import pytest
from google.protobuf import descriptor_pool
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

from _stack import ModuleStack
from itm.v1 import learning_pb2, matcher_pb2, notifier_pb2, opportunity_pb2, profile_pb2, webhooks_pb2

SERVING = health_pb2.HealthCheckResponse.SERVING

# what each service must report on its own, besides the overall "" and its name
DEPENDENCIES = {
    "profile": {"itm.redis", "itm.kafka", "itm.consumers"},
    "opportunity": {"itm.redis", "itm.kafka", "itm.consumers", "itm.profile", "itm.matcher"},
    "learning": {"itm.redis", "itm.kafka", "itm.consumers", "itm.profile"},
    "matcher": {"itm.redis", "itm.kafka", "itm.matcher"},
    "notifier": {"itm.redis", "itm.kafka", "itm.consumers"},
    "webhooks": {"itm.redis", "itm.kafka", "itm.consumers"},
}
API = {
    "profile": profile_pb2.DESCRIPTOR.services_by_name["ProfileService"],
    "opportunity": opportunity_pb2.DESCRIPTOR.services_by_name["OpportunityService"],
    "learning": learning_pb2.DESCRIPTOR.services_by_name["LearningService"],
    "matcher": matcher_pb2.DESCRIPTOR.services_by_name["MatcherService"],
    "notifier": notifier_pb2.DESCRIPTOR.services_by_name["NotifierService"],
    "webhooks": webhooks_pb2.DESCRIPTOR.services_by_name["WebhookService"],
}


@pytest.fixture(scope="module")
async def stack(infra, tmp_path_factory):
    s = ModuleStack(infra, tmp_path_factory.mktemp("surface"))
    try:
        await s.start({name: {} for name in DEPENDENCIES}, [])
        yield s
    finally:
        await s.close()


@pytest.mark.parametrize("name", list(DEPENDENCIES))
def test_the_stock_health_clients_watch_streams_the_status(stack, name):
    with grpc.insecure_channel(stack.procs[name].grpc_target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for service in ["", name, *sorted(DEPENDENCIES[name])]:
            # a service checked by another may have turned SERVING a moment ago: Watch streams the change
            watch = stub.Watch(health_pb2.HealthCheckRequest(service=service), timeout=10)
            seen = [next(watch).status]
            while seen[-1] != SERVING and len(seen) < 3:
                seen.append(next(watch).status)
            watch.cancel()
            assert seen[-1] == SERVING, f"{name}: Watch({service!r}) said {seen}"
            assert stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5).status == SERVING
        watch = stub.Watch(health_pb2.HealthCheckRequest(service="no.such.dependency"), timeout=10)
        assert next(watch).status == health_pb2.HealthCheckResponse.SERVICE_UNKNOWN
        watch.cancel()


def _reflect(target: str):
    channel = grpc.insecure_channel(target)
    db = ProtoReflectionDescriptorDatabase(channel)
    return channel, db, descriptor_pool.DescriptorPool(db)


@pytest.mark.parametrize("name", list(DEPENDENCIES))
def test_reflection_lists_and_describes_every_service(stack, name):
    channel, db, pool = _reflect(stack.procs[name].grpc_target)
    with contextlib.closing(channel):
        listed = set(db.get_services())
        expected = API[name]
        assert {expected.full_name, "grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"} <= listed
        for service_name in listed:
            described = pool.FindServiceByName(service_name)
            assert described.methods, f"{service_name} described without methods"
            for method in described.methods:  # every request and response type resolves, fields and all
                for message in (method.input_type, method.output_type):
                    assert pool.FindMessageTypeByName(message.full_name).fields is not None
        described = pool.FindServiceByName(expected.full_name)
        assert [m.name for m in described.methods] == [m.name for m in expected.methods]
        for ours, theirs in zip(expected.methods, described.methods):
            assert (theirs.input_type.full_name, theirs.output_type.full_name,
                    theirs.server_streaming) == (ours.input_type.full_name, ours.output_type.full_name,
                                                 ours.server_streaming)
            assert [f.name for f in theirs.input_type.fields] == [f.name for f in ours.input_type.fields]
