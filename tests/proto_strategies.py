"""Hypothesis strategies generated from protobuf descriptors, for the request fuzz test.

``requests(descriptor, words)`` draws request bodies of any type, of three kinds:

* plausible messages: every field unset or set to a modest value for its type,
  strings mostly from ``words`` (values the running stack knows: real ids,
  skill names, time zones), so that requests get past the checks and reach
  the handlers and their rules;
* hostile messages: values at and beyond the edges the runtime's generic limits
  guard (``itm.runtime.validation``: ids of 200 characters and one more,
  strings of 10,000 and one more, 1,000 repeated items and one more, timestamps
  outside 1970..2200, NaN and infinities, undefined enum values, control
  characters, extreme integers), mixed with plausible ones;
* bytes that may not decode as the message at all.
"""

from __future__ import annotations

from hypothesis import strategies as st
from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from itm.runtime import validation

F = FieldDescriptor
INT_RANGES = {
    F.TYPE_INT32: (-(2**31), 2**31 - 1), F.TYPE_SINT32: (-(2**31), 2**31 - 1), F.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    F.TYPE_INT64: (-(2**63), 2**63 - 1), F.TYPE_SINT64: (-(2**63), 2**63 - 1), F.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    F.TYPE_UINT32: (0, 2**32 - 1), F.TYPE_FIXED32: (0, 2**32 - 1),
    F.TYPE_UINT64: (0, 2**64 - 1), F.TYPE_FIXED64: (0, 2**64 - 1),
}
EDGE_SECONDS = [-(2**62), -62135596801, -1, validation.MIN_TIME, 1_700_000_000, validation.MAX_TIME,
                validation.MAX_TIME + 1, 253402300800, 2**62]
MAX_DEPTH = 3


def _ints(field: FieldDescriptor, sane: bool) -> st.SearchStrategy[int]:
    lo, hi = INT_RANGES[field.type]
    if sane:
        return st.integers(max(lo, 0), min(hi, 100))
    edges = sorted({v for v in (lo, hi, -1, 0, 1, 2, 5, 100, 1000, 1001, 10**6) if lo <= v <= hi})
    return st.one_of(st.sampled_from(edges), st.integers(-3, 200).filter(lambda v: lo <= v <= hi),
                     st.integers(lo, hi))


def _strings(field: FieldDescriptor, words: list[str], sane: bool) -> st.SearchStrategy[str]:
    if sane:
        return st.one_of(st.sampled_from(words), st.text("abcdefghijklmnopqrstuvwxyz-_ 0123456789", min_size=1,
                                                         max_size=12))
    limit = validation.MAX_ID if validation._string_rule(field)[1] else validation.MAX_TEXT
    edges = [
        "", "x" * limit, "x" * (limit + 1), "9" * 40, "9" * 20 + "-" + "9" * 20, "0-0", "$", "-", "+",
        "a\x00b", "../../etc/passwd", "Europe", "é" * 50, "\u202e" + "x" * 10, "' OR 1=1 --", "E" * 20_000,
    ]
    plain = st.text(st.characters(codec="utf-8"), max_size=24)
    return st.one_of(st.sampled_from(words), st.sampled_from(edges), plain) if words else st.one_of(
        st.sampled_from(edges), plain)


def _scalar(field: FieldDescriptor, words: list[str], depth: int, sane: bool) -> st.SearchStrategy:
    t = field.type
    if t in INT_RANGES:
        return _ints(field, sane)
    if t == F.TYPE_BOOL:
        return st.booleans()
    if sane and t in (F.TYPE_DOUBLE, F.TYPE_FLOAT):
        return st.sampled_from([0.0, 0.5, 1.0, 2.0, 4.0, 10.0, 40.0, 100.0])
    if t == F.TYPE_DOUBLE:
        return st.one_of(st.sampled_from([0.0, -1.0, 0.5, 1.0, 100.0, 1e308, float("nan"), float("inf"),
                                          float("-inf")]), st.floats())
    if t == F.TYPE_FLOAT:
        return st.one_of(st.sampled_from([0.0, -1.0, 1.0, float("nan"), float("inf")]), st.floats(width=32))
    if t == F.TYPE_STRING:
        return _strings(field, words, sane)
    if t == F.TYPE_BYTES:
        return st.binary(max_size=64)
    if t == F.TYPE_ENUM:
        defined = [v.number for v in field.enum_type.values]
        if sane:
            return st.sampled_from(defined)
        return st.one_of(st.sampled_from(defined), st.sampled_from([-1, max(defined) + 1, 2**31 - 1]))
    if t == F.TYPE_MESSAGE:
        return _message(field.message_type, words, depth + 1, sane)
    raise AssertionError(f"no strategy for {field.full_name} (type {t})")


def _timestamp(desc: Descriptor, sane: bool) -> st.SearchStrategy:
    cls = message_factory.GetMessageClass(desc)
    if sane:
        return st.builds(lambda s: cls(seconds=s), st.integers(1_700_000_000, 1_900_000_000))
    seconds = st.one_of(st.sampled_from(EDGE_SECONDS), st.integers(validation.MIN_TIME, validation.MAX_TIME))
    nanos = st.one_of(st.just(0), st.sampled_from([-1, 999_999_999, 1_000_000_000]), st.integers(0, 999_999_999))
    return st.builds(lambda s, n: cls(seconds=s, nanos=n), seconds, nanos)


def _message(desc: Descriptor, words: list[str], depth: int = 0, sane: bool = False) -> st.SearchStrategy:
    cls = message_factory.GetMessageClass(desc)
    if desc.full_name in ("google.protobuf.Timestamp", "google.protobuf.Duration"):
        return _timestamp(desc, sane)
    if depth > MAX_DEPTH:
        return st.just(cls())
    fields = {}
    for field in desc.fields:
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            key, value = field.message_type.fields_by_name["key"], field.message_type.fields_by_name["value"]
            values = st.dictionaries(_scalar(key, words, depth, sane), _scalar(value, words, depth, sane), max_size=3)
        elif field.is_repeated:
            one = _scalar(field, words, depth, sane)
            many = st.sampled_from([validation.MAX_REPEATED, validation.MAX_REPEATED + 1])
            values = st.lists(one, max_size=3) if sane else st.one_of(
                st.lists(one, max_size=3), st.tuples(one, many).map(lambda vn: [vn[0]] * vn[1]))
        else:
            values = _scalar(field, words, depth, sane)
            if not sane:  # hostile messages keep most fields plausible, so each edge is met on its own
                values = st.one_of(_scalar(field, words, depth, True), values)
        fields[field.name] = values if sane and depth == 0 else st.one_of(st.none(), values)

    def build(drawn: dict) -> object:
        msg = cls()
        for name, value in drawn.items():
            if value is None:
                continue
            field = desc.fields_by_name[name]
            if field.message_type is not None and field.message_type.GetOptions().map_entry:
                target = getattr(msg, name)
                for k, v in value.items():
                    if field.message_type.fields_by_name["value"].message_type is not None:
                        target[k].CopyFrom(v)
                    else:
                        target[k] = v
            elif field.is_repeated:
                getattr(msg, name).extend(value)
            elif field.type == F.TYPE_MESSAGE:
                getattr(msg, name).CopyFrom(value)
            else:
                setattr(msg, name, value)
        return msg

    return st.fixed_dictionaries(fields).map(build)


def requests(desc: Descriptor, words: list[str]) -> st.SearchStrategy[bytes]:
    """Request bodies for ``desc``: half plausible messages, the rest hostile ones or raw bytes."""
    plausible = _message(desc, words, sane=True).map(lambda m: m.SerializeToString())
    hostile = _message(desc, words).map(lambda m: m.SerializeToString())
    raw = st.binary(min_size=1, max_size=48)
    return st.one_of(plausible, plausible, plausible, hostile, hostile, raw)
