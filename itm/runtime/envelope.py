"""The event envelope: build, pack, unpack and the documented JSON mapping."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message

from itm.runtime.topics import TOPICS, payload_class, topic
from itm.runtime.validation import Invalid, check_event
from itm.v1 import envelope_pb2


class MalformedEvent(ValueError):
    """The record cannot be understood; it goes to the dead-letter topic."""


def new_envelope(
    event_type: str,
    source: str,
    subject: str,
    entity_version: int,
    payload: Message,
    correlation_id: str | None = None,
    causation_id: str = "",
    replayed: bool = False,
) -> envelope_pb2.EventEnvelope:
    spec = topic(event_type)
    if spec.payload is None or not isinstance(payload, spec.payload):
        expected = spec.payload.__name__ if spec.payload else "forwarded envelopes only"
        raise TypeError(f"{event_type} carries {expected}, not {type(payload).__name__}")
    if not subject:
        raise ValueError("an event needs a subject (the entity id)")
    env = envelope_pb2.EventEnvelope(
        event_id=str(uuid.uuid4()),
        event_type=event_type,
        source=source,
        subject=subject,
        entity_version=entity_version,
        schema_version=spec.schema_version,
        correlation_id=correlation_id or str(uuid.uuid4()),
        causation_id=causation_id,
        replayed=replayed,
    )
    env.occurred_at.GetCurrentTime()
    env.payload.Pack(payload)
    return env


@dataclass(slots=True)
class Event:
    envelope: envelope_pb2.EventEnvelope
    payload: Message

    @property
    def event_id(self) -> str:
        return self.envelope.event_id

    @property
    def type(self) -> str:
        return self.envelope.event_type

    @property
    def subject(self) -> str:
        return self.envelope.subject

    @property
    def version(self) -> int:
        return self.envelope.entity_version


def decode_payload(env: envelope_pb2.EventEnvelope) -> Message:
    """The payload message of an envelope built here (trusted: no checks)."""
    payload = payload_class(env.payload.TypeName())()
    env.payload.Unpack(payload)
    return payload


def decode(value: bytes, topic_name: str | None = None) -> Event:
    """Parse a record value; raises MalformedEvent saying what is wrong.

    Every step that can fail on bytes from the wire fails here, with the reason:
    the envelope, its required fields and their sizes, the payload type (and,
    given ``topic_name``, that it is the topic's payload), the payload bytes, and
    the generic and semantic checks of ``itm.runtime.validation``.
    """
    if not value:
        raise MalformedEvent("empty record value (tombstone or garbage), expected an EventEnvelope")
    env = envelope_pb2.EventEnvelope()
    try:
        env.ParseFromString(value)
    except DecodeError as exc:
        raise MalformedEvent(f"value is not an itm.v1.EventEnvelope protobuf: {exc}") from None
    if not env.event_id or not env.event_type or not env.subject:
        raise MalformedEvent("envelope lacks event_id, event_type or subject")
    if topic_name is not None and env.event_type != topic_name:
        raise MalformedEvent(f"envelope says event_type {env.event_type[:100]!r} on topic {topic_name!r}")
    full_name = env.payload.TypeName()
    cls = payload_class(full_name)
    if cls is None:
        raise MalformedEvent(f"unknown payload type {full_name[:200]!r} for event {env.event_type[:100]!r}")
    if topic_name is not None:
        spec = TOPICS.get(topic_name)
        if spec is not None and spec.payload is not None and cls is not spec.payload:
            raise MalformedEvent(f"{topic_name} carries {spec.payload.DESCRIPTOR.full_name}, not {full_name}")
    payload = cls()
    try:
        unpacked = env.payload.Unpack(payload)
    except DecodeError as exc:
        raise MalformedEvent(f"payload bytes do not decode as {full_name}: {exc}") from None
    if not unpacked:
        raise MalformedEvent(f"payload does not unpack as {full_name}")
    try:
        check_event(env)
        check_event(payload)
    except Invalid as exc:
        raise MalformedEvent(f"{full_name}: {exc}") from None
    return Event(env, payload)


def to_json(env: envelope_pb2.EventEnvelope) -> dict:
    """The JSON mapping (proto3 canonical JSON; payload as {"@type": ..., fields})."""
    return json_format.MessageToDict(env, preserving_proto_field_name=True)
