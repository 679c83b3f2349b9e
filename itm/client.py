"""Authenticated gRPC clients for the six services (CLI, demo and tests)."""

from __future__ import annotations

from dataclasses import dataclass

import grpc

from itm.runtime.auth import bearer, mint_token
from itm.runtime.settings import Settings
from itm.v1 import (
    learning_pb2_grpc,
    matcher_pb2_grpc,
    notifier_pb2_grpc,
    opportunity_pb2_grpc,
    profile_pb2_grpc,
    taxonomy_pb2_grpc,
    webhooks_pb2_grpc,
)

STUBS = {
    "profile": profile_pb2_grpc.ProfileServiceStub,
    "opportunity": opportunity_pb2_grpc.OpportunityServiceStub,
    "learning": learning_pb2_grpc.LearningServiceStub,
    "matcher": matcher_pb2_grpc.MatcherServiceStub,
    "notifier": notifier_pb2_grpc.NotifierServiceStub,
    "webhooks": webhooks_pb2_grpc.WebhookServiceStub,
}
# services served by another service's process: stub name -> (stub, the process)
HOSTED = {"taxonomy": (taxonomy_pb2_grpc.TaxonomyServiceStub, "profile")}


@dataclass
class Clients:
    """Async stubs by service name, plus the call metadata for one identity."""

    channels: dict[str, grpc.aio.Channel]
    metadata: tuple

    @classmethod
    def connect(cls, targets: dict[str, str], settings: Settings, subject: str = "itm-cli", role: str = "service") -> Clients:
        channels = {name: grpc.aio.insecure_channel(target) for name, target in targets.items()}
        return cls(channels, bearer(mint_token(settings, subject, role)))

    def stub(self, name: str):
        if name in HOSTED:
            stub, host = HOSTED[name]
            return stub(self.channels[host])
        return STUBS[name](self.channels[name])

    @property
    def profile(self):
        return self.stub("profile")

    @property
    def opportunity(self):
        return self.stub("opportunity")

    @property
    def learning(self):
        return self.stub("learning")

    @property
    def matcher(self):
        return self.stub("matcher")

    @property
    def taxonomy(self):
        """``itm.v1.TaxonomyService``, served by the profile service."""
        return self.stub("taxonomy")

    @property
    def notifier(self):
        return self.stub("notifier")

    @property
    def webhooks(self):
        return self.stub("webhooks")

    def as_(self, settings: Settings, subject: str, role: str) -> Clients:
        """The same channels, acting as another identity."""
        return Clients(self.channels, bearer(mint_token(settings, subject, role)))

    async def close(self) -> None:
        for channel in self.channels.values():
            await channel.close()
