import datetime

from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from itm.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ImportOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    IMPORT_OUTCOME_UNSPECIFIED: _ClassVar[ImportOutcome]
    IMPORT_OUTCOME_CREATED: _ClassVar[ImportOutcome]
    IMPORT_OUTCOME_UPDATED: _ClassVar[ImportOutcome]
    IMPORT_OUTCOME_UNCHANGED: _ClassVar[ImportOutcome]
    IMPORT_OUTCOME_REJECTED: _ClassVar[ImportOutcome]
    IMPORT_OUTCOME_SKIPPED: _ClassVar[ImportOutcome]
IMPORT_OUTCOME_UNSPECIFIED: ImportOutcome
IMPORT_OUTCOME_CREATED: ImportOutcome
IMPORT_OUTCOME_UPDATED: ImportOutcome
IMPORT_OUTCOME_UNCHANGED: ImportOutcome
IMPORT_OUTCOME_REJECTED: ImportOutcome
IMPORT_OUTCOME_SKIPPED: ImportOutcome

class Evidence(_message.Message):
    __slots__ = ("source", "reference", "at", "level", "status", "note", "actor")
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    source: _common_pb2.EvidenceSource
    reference: str
    at: _timestamp_pb2.Timestamp
    level: int
    status: _common_pb2.SkillStatus
    note: str
    actor: str
    def __init__(self, source: _Optional[_Union[_common_pb2.EvidenceSource, str]] = ..., reference: _Optional[str] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., level: _Optional[int] = ..., status: _Optional[_Union[_common_pb2.SkillStatus, str]] = ..., note: _Optional[str] = ..., actor: _Optional[str] = ...) -> None: ...

class SkillRecord(_message.Message):
    __slots__ = ("skill", "evidence", "endorsements")
    SKILL_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    ENDORSEMENTS_FIELD_NUMBER: _ClassVar[int]
    skill: _common_pb2.EmployeeSkill
    evidence: _containers.RepeatedCompositeFieldContainer[Evidence]
    endorsements: int
    def __init__(self, skill: _Optional[_Union[_common_pb2.EmployeeSkill, _Mapping]] = ..., evidence: _Optional[_Iterable[_Union[Evidence, _Mapping]]] = ..., endorsements: _Optional[int] = ...) -> None: ...

class Visibility(_message.Message):
    __slots__ = ("hide_aspirational_from_managers", "hidden_from_opportunity_owners")
    HIDE_ASPIRATIONAL_FROM_MANAGERS_FIELD_NUMBER: _ClassVar[int]
    HIDDEN_FROM_OPPORTUNITY_OWNERS_FIELD_NUMBER: _ClassVar[int]
    hide_aspirational_from_managers: bool
    hidden_from_opportunity_owners: bool
    def __init__(self, hide_aspirational_from_managers: _Optional[bool] = ..., hidden_from_opportunity_owners: _Optional[bool] = ...) -> None: ...

class MatchPreferences(_message.Message):
    __slots__ = ("threshold_percent", "opted_out", "opportunity_types", "mentoring_opt_in")
    THRESHOLD_PERCENT_FIELD_NUMBER: _ClassVar[int]
    OPTED_OUT_FIELD_NUMBER: _ClassVar[int]
    OPPORTUNITY_TYPES_FIELD_NUMBER: _ClassVar[int]
    MENTORING_OPT_IN_FIELD_NUMBER: _ClassVar[int]
    threshold_percent: int
    opted_out: bool
    opportunity_types: _containers.RepeatedScalarFieldContainer[_common_pb2.OpportunityType]
    mentoring_opt_in: bool
    def __init__(self, threshold_percent: _Optional[int] = ..., opted_out: _Optional[bool] = ..., opportunity_types: _Optional[_Iterable[_Union[_common_pb2.OpportunityType, str]]] = ..., mentoring_opt_in: _Optional[bool] = ...) -> None: ...

class Employee(_message.Message):
    __slots__ = ("employee_id", "name", "department", "manager_id", "location", "hours_available_per_week", "career_aspirations", "skills", "preferences", "version", "visibility", "created_at", "updated_at", "deactivated", "title")
    EMPLOYEE_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DEPARTMENT_FIELD_NUMBER: _ClassVar[int]
    MANAGER_ID_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    HOURS_AVAILABLE_PER_WEEK_FIELD_NUMBER: _ClassVar[int]
    CAREER_ASPIRATIONS_FIELD_NUMBER: _ClassVar[int]
    SKILLS_FIELD_NUMBER: _ClassVar[int]
    PREFERENCES_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    VISIBILITY_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    DEACTIVATED_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    employee_id: str
    name: str
    department: str
    manager_id: str
    location: str
    hours_available_per_week: float
    career_aspirations: _containers.RepeatedScalarFieldContainer[str]
    skills: _containers.RepeatedCompositeFieldContainer[SkillRecord]
    preferences: MatchPreferences
    version: int
    visibility: Visibility
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    deactivated: bool
    title: str
    def __init__(self, employee_id: _Optional[str] = ..., name: _Optional[str] = ..., department: _Optional[str] = ..., manager_id: _Optional[str] = ..., location: _Optional[str] = ..., hours_available_per_week: _Optional[float] = ..., career_aspirations: _Optional[_Iterable[str]] = ..., skills: _Optional[_Iterable[_Union[SkillRecord, _Mapping]]] = ..., preferences: _Optional[_Union[MatchPreferences, _Mapping]] = ..., version: _Optional[int] = ..., visibility: _Optional[_Union[Visibility, _Mapping]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., deactivated: _Optional[bool] = ..., title: _Optional[str] = ...) -> None: ...

class CreateEmployeeRequest(_message.Message):
    __slots__ = ("request_id", "employee_id", "name", "department", "manager_id", "location", "hours_available_per_week", "career_aspirations", "title")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    EMPLOYEE_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DEPARTMENT_FIELD_NUMBER: _ClassVar[int]
    MANAGER_ID_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    HOURS_AVAILABLE_PER_WEEK_FIELD_NUMBER: _ClassVar[int]
    CAREER_ASPIRATIONS_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    employee_id: str
    name: str
    department: str
    manager_id: str
    location: str
    hours_available_per_week: float
    career_aspirations: _containers.RepeatedScalarFieldContainer[str]
    title: str
    def __init__(self, request_id: _Optional[str] = ..., employee_id: _Optional[str] = ..., name: _Optional[str] = ..., department: _Optional[str] = ..., manager_id: _Optional[str] = ..., location: _Optional[str] = ..., hours_available_per_week: _Optional[float] = ..., career_aspirations: _Optional[_Iterable[str]] = ..., title: _Optional[str] = ...) -> None: ...

class GetEmployeeRequest(_message.Message):
    __slots__ = ("employee_id",)
    EMPLOYEE_ID_FIELD_NUMBER: _ClassVar[int]
    employee_id: str
    def __init__(self, employee_id: _Optional[str] = ...) -> None: ...

class UpdateEmployeeRequest(_message.Message):
    __slots__ = ("employee_id", "expected_version", "name", "department", "manager_id", "location", "hours_available_per_week", "career_aspirations", "update_mask", "title")
    EMPLOYEE_ID_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DEPARTMENT_FIELD_NUMBER: _ClassVar[int]
    MANAGER_ID_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    HOURS_AVAILABLE_PER_WEEK_FIELD_NUMBER: _ClassVar[int]
    CAREER_ASPIRATIONS_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    employee_id: str
    expected_version: int
    name: str
    department: str
    manager_id: str
    location: str
    hours_available_per_week: float
    career_aspirations: _containers.RepeatedScalarFieldContainer[str]
    update_mask: _field_mask_pb2.FieldMask
    title: str
    def __init__(self, employee_id: _Optional[str] = ..., expected_version: _Optional[int] = ..., name: _Optional[str] = ..., department: _Optional[str] = ..., manager_id: _Optional[str] = ..., location: _Optional[str] = ..., hours_available_per_week: _Optional[float] = ..., career_aspirations: _Optional[_Iterable[str]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ..., title: _Optional[str] = ...) -> None: ...

class UpsertSkillRequest(_message.Message):
    __slots__ = ("employee_id", "expected_version", "skill", "level", "status", "source", "reference", "evidence_at", "note")
    EMPLOYEE_ID_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    SKILL_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_AT_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    employee_id: str
    expected_version: int
    skill: str
    level: int
    status: _common_pb2.SkillStatus
    source: _common_pb2.EvidenceSource
    reference: str
    evidence_at: _timestamp_pb2.Timestamp
    note: str
    def __init__(self, employee_id: _Optional[str] = ..., expected_version: _Optional[int] = ..., skill: _Optional[str] = ..., level: _Optional[int] = ..., status: _Optional[_Union[_common_pb2.SkillStatus, str]] = ..., source: _Optional[_Union[_common_pb2.EvidenceSource, str]] = ..., reference: _Optional[str] = ..., evidence_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., note: _Optional[str] = ...) -> None: ...

class RemoveSkillRequest(_message.Message):
    __slots__ = ("employee_id", "expected_version", "skill")
    EMPLOYEE_ID_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    SKILL_FIELD_NUMBER: _ClassVar[int]
    employee_id: str
    expected_version: int
    skill: str
    def __init__(self, employee_id: _Optional[str] = ..., expected_version: _Optional[int] = ..., skill: _Optional[str] = ...) -> None: ...

class VerifySkillRequest(_message.Message):
    __slots__ = ("employee_id", "expected_version", "skill", "level", "source", "reference", "evidence_at")
    EMPLOYEE_ID_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    SKILL_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_AT_FIELD_NUMBER: _ClassVar[int]
    employee_id: str
    expected_version: int
    skill: str
    level: int
    source: _common_pb2.EvidenceSource
    reference: str
    evidence_at: _timestamp_pb2.Timestamp
    def __init__(self, employee_id: _Optional[str] = ..., expected_version: _Optional[int] = ..., skill: _Optional[str] = ..., level: _Optional[int] = ..., source: _Optional[_Union[_common_pb2.EvidenceSource, str]] = ..., reference: _Optional[str] = ..., evidence_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class EndorseSkillRequest(_message.Message):
    __slots__ = ("employee_id", "expected_version", "skill", "level", "endorser_id", "note")
    EMPLOYEE_ID_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    SKILL_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    ENDORSER_ID_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    employee_id: str
    expected_version: int
    skill: str
    level: int
    endorser_id: str
    note: str
    def __init__(self, employee_id: _Optional[str] = ..., expected_version: _Optional[int] = ..., skill: _Optional[str] = ..., level: _Optional[int] = ..., endorser_id: _Optional[str] = ..., note: _Optional[str] = ...) -> None: ...

class SetVisibilityRequest(_message.Message):
    __slots__ = ("employee_id", "expected_version", "visibility")
    EMPLOYEE_ID_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    VISIBILITY_FIELD_NUMBER: _ClassVar[int]
    employee_id: str
    expected_version: int
    visibility: Visibility
    def __init__(self, employee_id: _Optional[str] = ..., expected_version: _Optional[int] = ..., visibility: _Optional[_Union[Visibility, _Mapping]] = ...) -> None: ...

class SetPreferencesRequest(_message.Message):
    __slots__ = ("employee_id", "expected_version", "preferences")
    EMPLOYEE_ID_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    PREFERENCES_FIELD_NUMBER: _ClassVar[int]
    employee_id: str
    expected_version: int
    preferences: MatchPreferences
    def __init__(self, employee_id: _Optional[str] = ..., expected_version: _Optional[int] = ..., preferences: _Optional[_Union[MatchPreferences, _Mapping]] = ...) -> None: ...

class ListEmployeesRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "manager_id")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    MANAGER_ID_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    manager_id: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., manager_id: _Optional[str] = ...) -> None: ...

class ListEmployeesResponse(_message.Message):
    __slots__ = ("employees", "next_page_token")
    EMPLOYEES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    employees: _containers.RepeatedCompositeFieldContainer[Employee]
    next_page_token: str
    def __init__(self, employees: _Optional[_Iterable[_Union[Employee, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class HistoryEntry(_message.Message):
    __slots__ = ("version", "event_type", "event_id", "correlation_id", "actor", "summary", "at")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    CORRELATION_ID_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    version: int
    event_type: str
    event_id: str
    correlation_id: str
    actor: str
    summary: str
    at: _timestamp_pb2.Timestamp
    def __init__(self, version: _Optional[int] = ..., event_type: _Optional[str] = ..., event_id: _Optional[str] = ..., correlation_id: _Optional[str] = ..., actor: _Optional[str] = ..., summary: _Optional[str] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListEmployeeHistoryRequest(_message.Message):
    __slots__ = ("employee_id", "page_size", "page_token")
    EMPLOYEE_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    employee_id: str
    page_size: int
    page_token: str
    def __init__(self, employee_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListEmployeeHistoryResponse(_message.Message):
    __slots__ = ("entries", "next_page_token")
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[HistoryEntry]
    next_page_token: str
    def __init__(self, entries: _Optional[_Iterable[_Union[HistoryEntry, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ImportEmployeesRequest(_message.Message):
    __slots__ = ("request_id", "csv", "dry_run", "data", "import_id", "batch", "first_line", "last")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    CSV_FIELD_NUMBER: _ClassVar[int]
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    IMPORT_ID_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    FIRST_LINE_FIELD_NUMBER: _ClassVar[int]
    LAST_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    csv: str
    dry_run: bool
    data: bytes
    import_id: str
    batch: int
    first_line: int
    last: bool
    def __init__(self, request_id: _Optional[str] = ..., csv: _Optional[str] = ..., dry_run: _Optional[bool] = ..., data: _Optional[bytes] = ..., import_id: _Optional[str] = ..., batch: _Optional[int] = ..., first_line: _Optional[int] = ..., last: _Optional[bool] = ...) -> None: ...

class ImportRowResult(_message.Message):
    __slots__ = ("row", "employee_id", "outcome", "errors", "version")
    ROW_FIELD_NUMBER: _ClassVar[int]
    EMPLOYEE_ID_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    row: int
    employee_id: str
    outcome: ImportOutcome
    errors: _containers.RepeatedScalarFieldContainer[str]
    version: int
    def __init__(self, row: _Optional[int] = ..., employee_id: _Optional[str] = ..., outcome: _Optional[_Union[ImportOutcome, str]] = ..., errors: _Optional[_Iterable[str]] = ..., version: _Optional[int] = ...) -> None: ...

class ImportEmployeesResponse(_message.Message):
    __slots__ = ("rows", "created", "updated", "unchanged", "rejected", "results", "dry_run", "skipped", "deferred", "lines")
    ROWS_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    UPDATED_FIELD_NUMBER: _ClassVar[int]
    UNCHANGED_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_FIELD_NUMBER: _ClassVar[int]
    DEFERRED_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    rows: int
    created: int
    updated: int
    unchanged: int
    rejected: int
    results: _containers.RepeatedCompositeFieldContainer[ImportRowResult]
    dry_run: bool
    skipped: int
    deferred: int
    lines: int
    def __init__(self, rows: _Optional[int] = ..., created: _Optional[int] = ..., updated: _Optional[int] = ..., unchanged: _Optional[int] = ..., rejected: _Optional[int] = ..., results: _Optional[_Iterable[_Union[ImportRowResult, _Mapping]]] = ..., dry_run: _Optional[bool] = ..., skipped: _Optional[int] = ..., deferred: _Optional[int] = ..., lines: _Optional[int] = ...) -> None: ...

class EraseEmployeeRequest(_message.Message):
    __slots__ = ("employee_id", "reason")
    EMPLOYEE_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    employee_id: str
    reason: str
    def __init__(self, employee_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class EraseEmployeeResponse(_message.Message):
    __slots__ = ("employee_id", "tombstone_event_id")
    EMPLOYEE_ID_FIELD_NUMBER: _ClassVar[int]
    TOMBSTONE_EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    employee_id: str
    tombstone_event_id: str
    def __init__(self, employee_id: _Optional[str] = ..., tombstone_event_id: _Optional[str] = ...) -> None: ...

class FindEmployeeRequest(_message.Message):
    __slots__ = ("email", "mbox_sha1sum")
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    MBOX_SHA1SUM_FIELD_NUMBER: _ClassVar[int]
    email: str
    mbox_sha1sum: str
    def __init__(self, email: _Optional[str] = ..., mbox_sha1sum: _Optional[str] = ...) -> None: ...

class FindEmployeeResponse(_message.Message):
    __slots__ = ("employee_id",)
    EMPLOYEE_ID_FIELD_NUMBER: _ClassVar[int]
    employee_id: str
    def __init__(self, employee_id: _Optional[str] = ...) -> None: ...
