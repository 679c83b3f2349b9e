import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from itm.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Evidence(_message.Message):
    __slots__ = ("source", "reference", "at", "level", "status")
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    source: _common_pb2.EvidenceSource
    reference: str
    at: _timestamp_pb2.Timestamp
    level: int
    status: _common_pb2.SkillStatus
    def __init__(self, source: _Optional[_Union[_common_pb2.EvidenceSource, str]] = ..., reference: _Optional[str] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., level: _Optional[int] = ..., status: _Optional[_Union[_common_pb2.SkillStatus, str]] = ...) -> None: ...

class SkillRecord(_message.Message):
    __slots__ = ("skill", "evidence")
    SKILL_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    skill: _common_pb2.EmployeeSkill
    evidence: _containers.RepeatedCompositeFieldContainer[Evidence]
    def __init__(self, skill: _Optional[_Union[_common_pb2.EmployeeSkill, _Mapping]] = ..., evidence: _Optional[_Iterable[_Union[Evidence, _Mapping]]] = ...) -> None: ...

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
    __slots__ = ("employee_id", "name", "department", "manager_id", "location", "hours_available_per_week", "career_aspirations", "skills", "preferences", "version")
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
    def __init__(self, employee_id: _Optional[str] = ..., name: _Optional[str] = ..., department: _Optional[str] = ..., manager_id: _Optional[str] = ..., location: _Optional[str] = ..., hours_available_per_week: _Optional[float] = ..., career_aspirations: _Optional[_Iterable[str]] = ..., skills: _Optional[_Iterable[_Union[SkillRecord, _Mapping]]] = ..., preferences: _Optional[_Union[MatchPreferences, _Mapping]] = ..., version: _Optional[int] = ...) -> None: ...

class CreateEmployeeRequest(_message.Message):
    __slots__ = ("request_id", "employee_id", "name", "department", "manager_id", "location", "hours_available_per_week", "career_aspirations")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    EMPLOYEE_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DEPARTMENT_FIELD_NUMBER: _ClassVar[int]
    MANAGER_ID_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    HOURS_AVAILABLE_PER_WEEK_FIELD_NUMBER: _ClassVar[int]
    CAREER_ASPIRATIONS_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    employee_id: str
    name: str
    department: str
    manager_id: str
    location: str
    hours_available_per_week: float
    career_aspirations: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, request_id: _Optional[str] = ..., employee_id: _Optional[str] = ..., name: _Optional[str] = ..., department: _Optional[str] = ..., manager_id: _Optional[str] = ..., location: _Optional[str] = ..., hours_available_per_week: _Optional[float] = ..., career_aspirations: _Optional[_Iterable[str]] = ...) -> None: ...

class GetEmployeeRequest(_message.Message):
    __slots__ = ("employee_id",)
    EMPLOYEE_ID_FIELD_NUMBER: _ClassVar[int]
    employee_id: str
    def __init__(self, employee_id: _Optional[str] = ...) -> None: ...

class UpdateEmployeeRequest(_message.Message):
    __slots__ = ("employee_id", "expected_version", "name", "department", "manager_id", "location", "hours_available_per_week", "career_aspirations")
    EMPLOYEE_ID_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DEPARTMENT_FIELD_NUMBER: _ClassVar[int]
    MANAGER_ID_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    HOURS_AVAILABLE_PER_WEEK_FIELD_NUMBER: _ClassVar[int]
    CAREER_ASPIRATIONS_FIELD_NUMBER: _ClassVar[int]
    employee_id: str
    expected_version: int
    name: str
    department: str
    manager_id: str
    location: str
    hours_available_per_week: float
    career_aspirations: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, employee_id: _Optional[str] = ..., expected_version: _Optional[int] = ..., name: _Optional[str] = ..., department: _Optional[str] = ..., manager_id: _Optional[str] = ..., location: _Optional[str] = ..., hours_available_per_week: _Optional[float] = ..., career_aspirations: _Optional[_Iterable[str]] = ...) -> None: ...

class UpsertSkillRequest(_message.Message):
    __slots__ = ("employee_id", "expected_version", "skill", "level", "status", "source", "reference")
    EMPLOYEE_ID_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    SKILL_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    employee_id: str
    expected_version: int
    skill: str
    level: int
    status: _common_pb2.SkillStatus
    source: _common_pb2.EvidenceSource
    reference: str
    def __init__(self, employee_id: _Optional[str] = ..., expected_version: _Optional[int] = ..., skill: _Optional[str] = ..., level: _Optional[int] = ..., status: _Optional[_Union[_common_pb2.SkillStatus, str]] = ..., source: _Optional[_Union[_common_pb2.EvidenceSource, str]] = ..., reference: _Optional[str] = ...) -> None: ...

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
    __slots__ = ("employee_id", "expected_version", "skill", "level", "source", "reference")
    EMPLOYEE_ID_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    SKILL_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    employee_id: str
    expected_version: int
    skill: str
    level: int
    source: _common_pb2.EvidenceSource
    reference: str
    def __init__(self, employee_id: _Optional[str] = ..., expected_version: _Optional[int] = ..., skill: _Optional[str] = ..., level: _Optional[int] = ..., source: _Optional[_Union[_common_pb2.EvidenceSource, str]] = ..., reference: _Optional[str] = ...) -> None: ...

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
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListEmployeesResponse(_message.Message):
    __slots__ = ("employees", "next_page_token")
    EMPLOYEES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    employees: _containers.RepeatedCompositeFieldContainer[Employee]
    next_page_token: str
    def __init__(self, employees: _Optional[_Iterable[_Union[Employee, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
