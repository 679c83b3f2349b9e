import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from itm.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CourseSkillInput(_message.Message):
    __slots__ = ("skill", "level")
    SKILL_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    skill: str
    level: int
    def __init__(self, skill: _Optional[str] = ..., level: _Optional[int] = ...) -> None: ...

class PublishCourseRequest(_message.Message):
    __slots__ = ("request_id", "course_id", "title", "hours", "format", "provider", "teaches", "expected_version")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    COURSE_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    HOURS_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    TEACHES_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    course_id: str
    title: str
    hours: float
    format: str
    provider: str
    teaches: _containers.RepeatedCompositeFieldContainer[CourseSkillInput]
    expected_version: int
    def __init__(self, request_id: _Optional[str] = ..., course_id: _Optional[str] = ..., title: _Optional[str] = ..., hours: _Optional[float] = ..., format: _Optional[str] = ..., provider: _Optional[str] = ..., teaches: _Optional[_Iterable[_Union[CourseSkillInput, _Mapping]]] = ..., expected_version: _Optional[int] = ...) -> None: ...

class GetCourseRequest(_message.Message):
    __slots__ = ("course_id",)
    COURSE_ID_FIELD_NUMBER: _ClassVar[int]
    course_id: str
    def __init__(self, course_id: _Optional[str] = ...) -> None: ...

class ListCoursesRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "include_retired")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_RETIRED_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    include_retired: bool
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., include_retired: _Optional[bool] = ...) -> None: ...

class ListCoursesResponse(_message.Message):
    __slots__ = ("courses", "next_page_token")
    COURSES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    courses: _containers.RepeatedCompositeFieldContainer[_common_pb2.Course]
    next_page_token: str
    def __init__(self, courses: _Optional[_Iterable[_Union[_common_pb2.Course, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class RetireCourseRequest(_message.Message):
    __slots__ = ("course_id", "expected_version")
    COURSE_ID_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    course_id: str
    expected_version: int
    def __init__(self, course_id: _Optional[str] = ..., expected_version: _Optional[int] = ...) -> None: ...

class FindCoursesRequest(_message.Message):
    __slots__ = ("skill", "min_level", "page_size", "page_token")
    SKILL_FIELD_NUMBER: _ClassVar[int]
    MIN_LEVEL_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    skill: str
    min_level: int
    page_size: int
    page_token: str
    def __init__(self, skill: _Optional[str] = ..., min_level: _Optional[int] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class FindCoursesResponse(_message.Message):
    __slots__ = ("courses", "next_page_token")
    COURSES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    courses: _containers.RepeatedCompositeFieldContainer[_common_pb2.Course]
    next_page_token: str
    def __init__(self, courses: _Optional[_Iterable[_Union[_common_pb2.Course, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class Enrollment(_message.Message):
    __slots__ = ("enrollment_id", "employee_id", "course_id", "status", "credential_id", "version", "enrolled_at", "completed_at", "credential")
    ENROLLMENT_ID_FIELD_NUMBER: _ClassVar[int]
    EMPLOYEE_ID_FIELD_NUMBER: _ClassVar[int]
    COURSE_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CREDENTIAL_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ENROLLED_AT_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_AT_FIELD_NUMBER: _ClassVar[int]
    CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    enrollment_id: str
    employee_id: str
    course_id: str
    status: str
    credential_id: str
    version: int
    enrolled_at: _timestamp_pb2.Timestamp
    completed_at: _timestamp_pb2.Timestamp
    credential: Credential
    def __init__(self, enrollment_id: _Optional[str] = ..., employee_id: _Optional[str] = ..., course_id: _Optional[str] = ..., status: _Optional[str] = ..., credential_id: _Optional[str] = ..., version: _Optional[int] = ..., enrolled_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., completed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., credential: _Optional[_Union[Credential, _Mapping]] = ...) -> None: ...

class Credential(_message.Message):
    __slots__ = ("credential_id", "employee_id", "course_id", "course_title", "provider", "skills", "issued_at")
    CREDENTIAL_ID_FIELD_NUMBER: _ClassVar[int]
    EMPLOYEE_ID_FIELD_NUMBER: _ClassVar[int]
    COURSE_ID_FIELD_NUMBER: _ClassVar[int]
    COURSE_TITLE_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    SKILLS_FIELD_NUMBER: _ClassVar[int]
    ISSUED_AT_FIELD_NUMBER: _ClassVar[int]
    credential_id: str
    employee_id: str
    course_id: str
    course_title: str
    provider: str
    skills: _containers.RepeatedCompositeFieldContainer[_common_pb2.CourseSkill]
    issued_at: _timestamp_pb2.Timestamp
    def __init__(self, credential_id: _Optional[str] = ..., employee_id: _Optional[str] = ..., course_id: _Optional[str] = ..., course_title: _Optional[str] = ..., provider: _Optional[str] = ..., skills: _Optional[_Iterable[_Union[_common_pb2.CourseSkill, _Mapping]]] = ..., issued_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class EnrollRequest(_message.Message):
    __slots__ = ("request_id", "employee_id", "course_id")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    EMPLOYEE_ID_FIELD_NUMBER: _ClassVar[int]
    COURSE_ID_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    employee_id: str
    course_id: str
    def __init__(self, request_id: _Optional[str] = ..., employee_id: _Optional[str] = ..., course_id: _Optional[str] = ...) -> None: ...

class CompleteCourseRequest(_message.Message):
    __slots__ = ("request_id", "employee_id", "course_id")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    EMPLOYEE_ID_FIELD_NUMBER: _ClassVar[int]
    COURSE_ID_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    employee_id: str
    course_id: str
    def __init__(self, request_id: _Optional[str] = ..., employee_id: _Optional[str] = ..., course_id: _Optional[str] = ...) -> None: ...

class GetEnrollmentRequest(_message.Message):
    __slots__ = ("employee_id", "course_id")
    EMPLOYEE_ID_FIELD_NUMBER: _ClassVar[int]
    COURSE_ID_FIELD_NUMBER: _ClassVar[int]
    employee_id: str
    course_id: str
    def __init__(self, employee_id: _Optional[str] = ..., course_id: _Optional[str] = ...) -> None: ...

class ListEnrollmentsRequest(_message.Message):
    __slots__ = ("employee_id", "page_size", "page_token")
    EMPLOYEE_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    employee_id: str
    page_size: int
    page_token: str
    def __init__(self, employee_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListEnrollmentsResponse(_message.Message):
    __slots__ = ("enrollments", "next_page_token")
    ENROLLMENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    enrollments: _containers.RepeatedCompositeFieldContainer[Enrollment]
    next_page_token: str
    def __init__(self, enrollments: _Optional[_Iterable[_Union[Enrollment, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
