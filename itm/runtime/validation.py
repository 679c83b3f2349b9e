"""Range checks derived from the proto descriptors, for requests and for events.

Every gRPC request passes ``check_request`` in the runtime's interceptor before
its handler runs, and every consumed event passes ``check_event`` before its
handler runs, so no service has to remember the checks that hold for every
message:

* strings: at most ``MAX_TEXT`` characters, ids (``*_id``, ``*_ids``, page
  tokens, stream cursors, ``skill``) at most ``MAX_ID`` and no control
  characters; a few fields have their own limit (``FIELD_LIMITS``);
* repeated fields: at most ``MAX_REPEATED`` items;
* timestamps: between ``MIN_TIME`` and ``MAX_TIME``, nanos within a second;
* floats: finite; enums: a value the enum defines;
* counters that cannot be negative (``expected_version``, ``page_size``, ``limit``).

Events get the semantic rules of the domain on top (``EVENT_RULES``: levels
1-5, positive weights, percentages 0-100, non-negative hours), so a record that
breaks them is dead-lettered with the reason instead of reaching a handler.

A problem is reported as a short sentence naming the field by its path
(``requirements[2].weight``) and never repeating the value when it is a string,
so huge or hostile input is not echoed back. The services keep the rules that
need their state or their vocabulary (known skills, who may do what, deadlines).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

MAX_TEXT = 10_000
MAX_ID = 200
MAX_REPEATED = 1_000
MIN_TIME = 0                 # 1970-01-01T00:00:00Z
MAX_TIME = 7_258_118_400     # 2200-01-01T00:00:00Z
TIME_RANGE = "between 1970-01-01 and 2200-01-01"

# fields whose strings are identifiers or cursors, whatever their name says
ID_NAMES = frozenset({"page_token", "after_id", "skill", "skill_id", "request_id", "notification_ids"})
NON_NEGATIVE = frozenset({"expected_version", "page_size", "limit"})

# full field name -> max characters (None: only the request size limit applies)
FIELD_LIMITS: dict[str, int | None] = {
    "itm.v1.ImportEmployeesRequest.csv": None,
    "itm.v1.QuietHours.timezone": 64,
    "google.protobuf.FieldMask.paths": MAX_ID,
    "itm.v1.EventEnvelope.subject": MAX_ID,
    "itm.v1.EventEnvelope.event_type": MAX_ID,
    "itm.v1.EventEnvelope.source": MAX_ID,
}

_FLOATS = (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT)
_INTS = (FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_SINT32,
         FieldDescriptor.TYPE_SINT64, FieldDescriptor.TYPE_SFIXED32, FieldDescriptor.TYPE_SFIXED64)


class Invalid(ValueError):
    """What is wrong with a message: ``str(exc)`` names the field; ``field`` is its path."""

    def __init__(self, field: str, problem: str):
        super().__init__(f"{field} {problem}")
        self.field = field


@dataclass(frozen=True)
class Rule:
    """A semantic rule for events: ``ok(value)`` must hold; ``says`` what it wants."""

    ok: Callable[[float], bool]
    says: str


def _between(lo: float, hi: float) -> Rule:
    return Rule(lambda v: lo <= v <= hi, f"must be between {lo:g} and {hi:g}")


_LEVEL = _between(1, 5)
_LEVEL_OR_UNSET = _between(0, 5)
_PERCENT = _between(0, 100)
_HOURS = Rule(lambda v: 0 <= v <= 10_000, "must be between 0 and 10000")

# field name -> rule, for events (the matcher's own checks come on top, in services/matcher)
EVENT_RULES: dict[str, Rule] = {
    "itm.v1.EmployeeSkill.level": _LEVEL,
    "itm.v1.CourseSkill.level": _LEVEL,
    "itm.v1.SkillFeedback.level": _LEVEL,
    "itm.v1.SkillEndorsed.level": _LEVEL_OR_UNSET,
    "itm.v1.Requirement.min_level": _LEVEL,
    "itm.v1.Requirement.weight": Rule(lambda v: 0 < v <= 1_000_000, "must be greater than 0 (at most 1000000)"),
    "itm.v1.EmployeeMatchProfile.threshold_percent": _PERCENT,
    "itm.v1.ThresholdCrossed.score_percent": _PERCENT,
    "itm.v1.ThresholdCrossed.previous_score_percent": _PERCENT,
    "itm.v1.ThresholdCrossed.threshold_percent": _PERCENT,
    "itm.v1.MatchUpdated.score_percent": _PERCENT,
    "itm.v1.MatchUpdated.previous_score_percent": _PERCENT,
    "itm.v1.PairScore.score_percent": _PERCENT,
    "itm.v1.PairScore.previous_score_percent": _PERCENT,
    "itm.v1.OpportunityMatchProfile.hours_per_week": _HOURS,
    "itm.v1.Application.hours_per_week": _HOURS,
    "itm.v1.Course.hours": _HOURS,
}


_CONTROL = re.compile("[\x00-\x1f\x7f]")


@lru_cache(maxsize=None)
def _string_rule(field: FieldDescriptor) -> tuple[int | None, bool]:
    """(length limit, is an id) of a string field, worked out once per field (every event and
    request walks its strings: this was a tenth of the notifier's time at 500 crossings/s)."""
    is_id = field.name in ID_NAMES or field.name.endswith(("_id", "_ids"))
    limit = FIELD_LIMITS[field.full_name] if field.full_name in FIELD_LIMITS else MAX_ID if is_id else MAX_TEXT
    return limit, is_id


def _check_string(value: str, field: FieldDescriptor, path: str) -> None:
    limit, is_id = _string_rule(field)
    if limit is not None and len(value) > limit:
        raise Invalid(path, f"is longer than {limit} characters ({len(value)})")
    if is_id and _CONTROL.search(value):
        raise Invalid(path, "must not contain control characters")


def _check_timestamp(ts: Message, path: str) -> None:
    if not MIN_TIME <= ts.seconds < MAX_TIME or not 0 <= ts.nanos < 1_000_000_000:
        raise Invalid(path, f"must lie {TIME_RANGE}")


def _check_scalar(value, field: FieldDescriptor, path: str, rules: dict[str, Rule] | None) -> None:
    t = field.type
    if t == FieldDescriptor.TYPE_STRING:
        _check_string(value, field, path)
        return
    if t in _FLOATS and not math.isfinite(value):
        raise Invalid(path, "must be a finite number")
    if t == FieldDescriptor.TYPE_ENUM and value not in field.enum_type.values_by_number:
        names = ", ".join(v.name for v in field.enum_type.values if v.number)[:300]
        raise Invalid(path, f"has no value {value}; use one of {names}")
    if t in _INTS and field.name in NON_NEGATIVE and value < 0:
        raise Invalid(path, f"must be >= 0, got {value}")
    if rules and (rule := rules.get(field.full_name)) is not None and not rule.ok(value):
        raise Invalid(path, f"{rule.says}, got {value:g}" if t in _FLOATS else f"{rule.says}, got {value}")


def _walk(msg: Message, path: str, rules: dict[str, Rule] | None, depth: int) -> None:
    if depth > 32:
        raise Invalid(path or msg.DESCRIPTOR.name, "is nested too deeply")
    desc: Descriptor = msg.DESCRIPTOR
    if desc.full_name == "google.protobuf.Timestamp":
        _check_timestamp(msg, path)
        return
    if desc.full_name == "google.protobuf.Any":
        return  # payloads are checked after they are unpacked
    for field, value in msg.ListFields():
        where = f"{path}.{field.name}" if path else field.name
        if field.is_repeated:
            if len(value) > MAX_REPEATED:
                raise Invalid(where, f"has more than {MAX_REPEATED} items ({len(value)})")
            if field.message_type is not None and field.message_type.GetOptions().map_entry:
                items = value.items() if hasattr(value, "items") else ()
                value_field = field.message_type.fields_by_name["value"]
                key_field = field.message_type.fields_by_name["key"]
                for k, v in items:
                    if key_field.type == FieldDescriptor.TYPE_STRING:
                        _check_string(k, key_field, f"{where} key")
                    if value_field.type == FieldDescriptor.TYPE_MESSAGE:
                        _walk(v, f"{where}[...]", rules, depth + 1)
                    else:
                        _check_scalar(v, value_field, f"{where}[...]", rules)
                continue
            for i, item in enumerate(value):
                if field.type == FieldDescriptor.TYPE_MESSAGE:
                    _walk(item, f"{where}[{i}]", rules, depth + 1)
                else:
                    _check_scalar(item, field, f"{where}[{i}]", rules)
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            _walk(value, where, rules, depth + 1)
        else:
            _check_scalar(value, field, where, rules)


def check_request(msg: Message) -> None:
    """Raise ``Invalid`` for the first field of a request outside the generic limits."""
    _walk(msg, "", None, 0)


def check_event(msg: Message) -> None:
    """Raise ``Invalid`` for the first field of an event payload (or envelope) that breaks
    the generic limits or the domain's semantic rules (``EVENT_RULES``)."""
    _walk(msg, "", EVENT_RULES, 0)


def problem(msg: Message, *, event: bool = False) -> str | None:
    """The first problem as a sentence, or None."""
    try:
        (check_event if event else check_request)(msg)
    except Invalid as exc:
        return str(exc)
    return None
