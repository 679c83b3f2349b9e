"""Events for any language, without a broker: the published descriptor sets, the
generated topic reference and its drift check, internal topics, the JSON lines of
`itm events tail`. The recipes against a real broker are tests/integration/test_event_recipes.py."""

from __future__ import annotations

import json
import shutil

from click.testing import CliRunner
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from itm import cli, eventdocs, events, protogen
from itm.runtime.envelope import new_envelope
from itm.runtime.topics import INTERNAL_TOPICS, TOPICS
from itm.v1 import common_pb2, events_pb2


def _registered(emp: str = "E7") -> bytes:
    payload = events_pb2.EmployeeRegistered(profile=common_pb2.EmployeeMatchProfile(employee_id=emp, department="Data"))
    return new_envelope("profile.employee-registered", "profile", emp, 3, payload).SerializeToString()


def _pool(path) -> descriptor_pool.DescriptorPool:
    pool = descriptor_pool.DescriptorPool()
    for f in descriptor_pb2.FileDescriptorSet.FromString((protogen.ROOT / path).read_bytes()).file:
        pool.Add(f)
    return pool


def test_the_published_set_holds_every_proto_with_its_imports_and_comments():
    fds = descriptor_pb2.FileDescriptorSet.FromString((protogen.ROOT / protogen.DESCRIPTOR_SET).read_bytes())
    names = {f.name for f in fds.file}
    assert {f"itm/v1/{p.name}" for p in protogen.proto_files()} <= names
    assert {"google/protobuf/any.proto", "google/protobuf/timestamp.proto"} <= names  # no libprotobuf-dev needed
    envelope = next(f for f in fds.file if f.name == "itm/v1/envelope.proto")
    assert any("consumers dedupe on it" in loc.trailing_comments for loc in envelope.source_code_info.location)


def test_a_records_message_decodes_a_whole_record_payload_included_with_no_itm_code():
    pool = _pool(protogen.RECORDS_SET)  # a fresh pool: nothing of itm.v1's generated code
    cls = message_factory.GetMessageClass(pool.FindMessageTypeByName("itm.v1.records.EmployeeRegisteredRecord"))
    record = cls.FromString(_registered("E42"))
    assert (record.subject, record.entity_version, record.event_type) == ("E42", 3, "profile.employee-registered")
    assert record.payload.type_url == "type.googleapis.com/itm.v1.EmployeeRegistered"
    assert record.payload.value.profile.employee_id == "E42" and record.payload.value.profile.department == "Data"
    payloads = {t.payload.DESCRIPTOR.name for t in TOPICS.values() if t.payload}
    assert {m.name for m in pool.FindFileByName(protogen.RECORDS_FILE).message_types_by_name.values()} == {
        f"{p}Record" for p in payloads}


def test_every_registry_topic_has_a_page_saying_public_or_internal_writer_and_key():
    pages = eventdocs.existing_pages(protogen.ROOT)
    assert {p.name for p in pages if p.parent == eventdocs.PAGES} == {f"{t}.md" for t in TOPICS}
    for t in TOPICS.values():
        text = (protogen.ROOT / eventdocs.PAGES / f"{t.name}.md").read_text()
        assert ("**internal**" in text) == t.internal, t.name
        assert "| writer | " in text and "| key | " in text and f"{t.partitions} (records" in text
    index = (protogen.ROOT / eventdocs.INDEX).read_text()
    assert "| [matcher.opportunity-broadcast](topics/matcher.opportunity-broadcast.md) | internal |" in index
    assert "| [profile.skill-verified](topics/profile.skill-verified.md) | public |" in index
    for faust_topic in INTERNAL_TOPICS:
        assert f"`{faust_topic}`" in index or faust_topic in TOPICS


def test_internal_topics_are_the_matchers_plumbing_only():
    assert [t for t in TOPICS.values() if t.internal] == [TOPICS["matcher.opportunity-broadcast"]]
    assert set(INTERNAL_TOPICS) == {"matcher.opportunity-broadcast", "itm-matcher-employees-changelog",
                                    "itm-matcher-__assignor-__leader"}


def test_drift_check_names_a_hand_edited_topic_page_a_stale_page_and_a_stale_descriptor_set(tmp_path, monkeypatch):
    for rel in (eventdocs.DOCS, protogen.DESCRIPTOR_SET.parent):
        shutil.copytree(protogen.ROOT / rel, tmp_path / rel)
    page = tmp_path / eventdocs.PAGES / "profile.skill-verified.md"
    page.write_text(page.read_text().replace("public: any system", "public: some systems"))
    (tmp_path / eventdocs.PAGES / "profile.gone.md").write_text("old\n")
    (tmp_path / protogen.RECORDS_SET).write_bytes(b"")
    monkeypatch.setattr(protogen, "ROOT", tmp_path)
    assert protogen.drift() == [
        f"{protogen.RECORDS_SET}: differs from a fresh generation (run `make proto`)",
        f"{eventdocs.PAGES / 'profile.skill-verified.md'}: differs from a fresh generation (run `make proto`)",
        f"{eventdocs.PAGES / 'profile.gone.md'}: no topic generates it any more (delete it)",
    ]


def test_record_json_is_the_documented_mapping_and_garbage_is_shown_not_dropped():
    rec = events.record_json("profile.employee-registered", 1, 5, 1796212210361, b"E7", _registered())
    assert (rec["topic"], rec["partition"], rec["offset"], rec["key"]) == ("profile.employee-registered", 1, 5, "E7")
    assert rec["timestamp"] == "2026-12-02T11:50:10.361Z"
    assert rec["value"]["entity_version"] == "3"  # int64 as a string
    assert rec["value"]["payload"] == {"@type": "type.googleapis.com/itm.v1.EmployeeRegistered",
                                       "profile": {"employee_id": "E7", "department": "Data"}}
    line = events.format_record(rec, as_json=True)
    assert "\n" not in line and json.loads(line) == rec

    bad = events.record_json("profile.employee-registered", 0, 6, None, None, b"\xff not an envelope")
    assert bad["value"] is None and bad["key"] is None and bad["timestamp"] is None
    assert bad["error"] and bad["value_base64"] == "/yBub3QgYW4gZW52ZWxvcGU="
    head, body = events.format_record(bad, as_json=False).split("\n", 1)
    assert head.startswith("# profile.employee-registered [0] @6") and json.loads(body)["value_base64"]


def test_events_tail_refuses_unknown_topics_and_raw_without_limit_one():
    result = CliRunner().invoke(cli.main, ["events", "tail", "profile.nope", "--bootstrap", "127.0.0.1:1"])
    assert result.exit_code == 2 and "'profile.nope' is not an ITM topic" in result.output
    result = CliRunner().invoke(cli.main, ["events", "tail", "itm-matcher-employees-changelog"])
    assert result.exit_code == 2 and "faust" in result.output
    result = CliRunner().invoke(cli.main, ["events", "tail", "profile.skill-added", "--raw"])
    assert result.exit_code == 2 and "--limit 1" in result.output


def test_schema_version_is_the_topics_own(monkeypatch):
    import dataclasses

    from itm.runtime import topics

    # every topic at 1 but the matcher's match.updated.v2, the second contract of match.updated
    assert {n: t.schema_version for n, t in TOPICS.items() if t.schema_version != 1} == {"match.updated.v2": 2}
    moved = dataclasses.replace(TOPICS["profile.skill-added"], schema_version=2)
    monkeypatch.setitem(topics.TOPICS, "profile.skill-added", moved)
    payload = events_pb2.SkillAdded(skill=common_pb2.EmployeeSkill(skill_id="python", level=3))
    assert new_envelope("profile.skill-added", "profile", "E1", 1, payload).schema_version == 2
    assert new_envelope("profile.employee-registered", "profile", "E1", 1,
                        events_pb2.EmployeeRegistered()).schema_version == 1
    page = eventdocs.render((protogen.ROOT / protogen.DESCRIPTOR_SET).read_bytes())[
        eventdocs.PAGES / "profile.skill-added.md"]
    assert "| schema version | 2 (`schema_version` in the envelope;" in page
