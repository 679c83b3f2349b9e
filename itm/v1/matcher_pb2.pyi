from itm.v1 import events_pb2 as _events_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class MyMatchesRequest(_message.Message):
    __slots__ = ("employee_id", "limit")
    EMPLOYEE_ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    employee_id: str
    limit: int
    def __init__(self, employee_id: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class BestCandidatesRequest(_message.Message):
    __slots__ = ("opportunity_id", "limit")
    OPPORTUNITY_ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    opportunity_id: str
    limit: int
    def __init__(self, opportunity_id: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class ScoreOpportunitiesRequest(_message.Message):
    __slots__ = ("employee_id", "opportunity_ids", "explain")
    EMPLOYEE_ID_FIELD_NUMBER: _ClassVar[int]
    OPPORTUNITY_IDS_FIELD_NUMBER: _ClassVar[int]
    EXPLAIN_FIELD_NUMBER: _ClassVar[int]
    employee_id: str
    opportunity_ids: _containers.RepeatedScalarFieldContainer[str]
    explain: bool
    def __init__(self, employee_id: _Optional[str] = ..., opportunity_ids: _Optional[_Iterable[str]] = ..., explain: _Optional[bool] = ...) -> None: ...

class Match(_message.Message):
    __slots__ = ("employee_id", "opportunity_id", "opportunity_title", "score_percent", "qualified", "explanation")
    EMPLOYEE_ID_FIELD_NUMBER: _ClassVar[int]
    OPPORTUNITY_ID_FIELD_NUMBER: _ClassVar[int]
    OPPORTUNITY_TITLE_FIELD_NUMBER: _ClassVar[int]
    SCORE_PERCENT_FIELD_NUMBER: _ClassVar[int]
    QUALIFIED_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    employee_id: str
    opportunity_id: str
    opportunity_title: str
    score_percent: int
    qualified: bool
    explanation: _events_pb2.MatchExplanation
    def __init__(self, employee_id: _Optional[str] = ..., opportunity_id: _Optional[str] = ..., opportunity_title: _Optional[str] = ..., score_percent: _Optional[int] = ..., qualified: _Optional[bool] = ..., explanation: _Optional[_Union[_events_pb2.MatchExplanation, _Mapping]] = ...) -> None: ...

class MatchList(_message.Message):
    __slots__ = ("matches", "missing_partitions", "served_by")
    MATCHES_FIELD_NUMBER: _ClassVar[int]
    MISSING_PARTITIONS_FIELD_NUMBER: _ClassVar[int]
    SERVED_BY_FIELD_NUMBER: _ClassVar[int]
    matches: _containers.RepeatedCompositeFieldContainer[Match]
    missing_partitions: _containers.RepeatedScalarFieldContainer[int]
    served_by: str
    def __init__(self, matches: _Optional[_Iterable[_Union[Match, _Mapping]]] = ..., missing_partitions: _Optional[_Iterable[int]] = ..., served_by: _Optional[str] = ...) -> None: ...
