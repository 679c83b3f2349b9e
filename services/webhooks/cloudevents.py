"""An ITM event as a CloudEvents 1.0 JSON document (structured content mode), pure.

Attributes (docs/webhooks.md):

* ``id``: the envelope's event id (also the ``webhook-id`` header: the dedupe key);
* ``source``: ``/itm/<writing service>``, e.g. ``/itm/profile``;
* ``type``: the topic, e.g. ``profile.skill-verified``;
* ``subject``: the entity id (the Kafka key); ``time``: when it happened (RFC 3339);
* ``datacontenttype``: ``application/json``; ``dataschema``: the payload message's
  full proto name as a URN (``urn:itm:proto:itm.v1.SkillVerified``);
* ``data``: the payload in the documented JSON mapping (docs/events/README.md:
  canonical proto3 JSON, proto field names, defaults left out, 64-bit integers as strings);
* extensions (lower-case letters only, as the spec asks): ``itmentityversion``,
  ``itmschemaversion``, ``itmcorrelationid``, ``itmcausationid`` (when set) and
  ``itmreplayed`` (true on replayed events).
"""

from __future__ import annotations

import json

from google.protobuf import json_format
from google.protobuf.message import Message

from itm.v1 import envelope_pb2

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"


def to_cloudevent(env: envelope_pb2.EventEnvelope, payload: Message) -> dict:
    event = {
        "specversion": SPEC_VERSION,
        "id": env.event_id,
        "source": f"/itm/{env.source}",
        "type": env.event_type,
        "subject": env.subject,
        "time": env.occurred_at.ToJsonString(),
        "datacontenttype": "application/json",
        "dataschema": f"urn:itm:proto:{payload.DESCRIPTOR.full_name}",
        "itmentityversion": int(env.entity_version),
        "itmschemaversion": int(env.schema_version),
        "itmcorrelationid": env.correlation_id,
        "data": json_format.MessageToDict(payload, preserving_proto_field_name=True),
    }
    if env.causation_id:
        event["itmcausationid"] = env.causation_id
    if env.replayed:
        event["itmreplayed"] = True
    return event


def body(env: envelope_pb2.EventEnvelope, payload: Message) -> bytes:
    """The request body: compact UTF-8 JSON (what the signature covers, byte for byte)."""
    return json.dumps(to_cloudevent(env, payload), separators=(",", ":"), ensure_ascii=False).encode()
