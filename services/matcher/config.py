"""The matcher's own settings: the shared ``ITM_*`` settings plus a few ``ITM_MATCHER_*``."""

from __future__ import annotations

import sys

from pydantic import Field, ValidationError, field_validator

from itm.runtime.settings import Settings


class MatcherSettings(Settings):
    matcher_advertise_address: str = Field(
        "", description="host:port where the other matcher workers reach this worker's gRPC "
                        "(default: ITM_GRPC_HOST:ITM_GRPC_PORT; set it to the pod IP in Kubernetes)")
    matcher_rescore_batch: int = Field(
        500, ge=1, le=100_000, description="employees rescored per step after a scoring change (the partition's "
                                           "other events wait at most one step)")
    matcher_pair_floor_percent: int = Field(
        30, ge=0, le=100, description="pairs scoring below this (and below the employee's threshold) are not kept: "
                                      "not listed by MyMatches/BestCandidates, no match.updated; 0 keeps every "
                                      "non-zero pair. Keeps the state sparse (see services/matcher/README.md)")
    matcher_mentors_per_gap: int = Field(3, ge=0, le=20, description="mentors listed per gap in an explanation")
    matcher_registry_ttl_s: float = Field(
        10.0, ge=2, le=300, description="a worker's entry in the Redis worker registry expires this long after its "
                                        "last heartbeat (a SIGKILLed worker stops being asked)")
    matcher_forward_timeout_s: float = Field(5.0, gt=0, le=60, description="deadline of a query forwarded to another worker")
    matcher_legacy_match_updated: bool = Field(
        True, description="also write the deprecated match.updated (one record per changed pair) next to "
        "match.updated.v2 (one record per event and employee); off at scale, removed in the next release")

    @field_validator("matcher_advertise_address")
    @classmethod
    def _address(cls, v: str) -> str:
        if v:
            host, _, port = v.rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(f"expected host:port, got {v!r}")
            if ":" in host and not host.startswith("["):
                # an IPv6 pod IP in "$(POD_IP):50051": gRPC wants "[fd00::1]:50051"
                return f"[{host}]:{port}"
        return v

    @property
    def advertise_address(self) -> str:
        if self.matcher_advertise_address:
            return self.matcher_advertise_address
        host = self.grpc_host
        if host in ("", "0.0.0.0", "::", "[::]"):
            import socket

            host = socket.gethostname()
        return f"{host}:{self.grpc_port}"


def load_matcher_settings(**overrides) -> MatcherSettings:
    """Like ``itm.runtime.settings.load_settings``: a bad value exits with status 2
    and a message naming the variable."""
    try:
        return MatcherSettings(**overrides)
    except ValidationError as exc:
        lines = ["invalid ITM configuration:"]
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"])
            lines.append(f"  ITM_{field.upper()}: {err['msg']} (got {err.get('input')!r})")
        print("\n".join(lines), file=sys.stderr)
        raise SystemExit(2) from None
