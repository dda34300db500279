from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Content(_message.Message):
    __slots__ = ("text", "actions", "source", "thought", "attachments", "extra")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    ACTIONS_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    THOUGHT_FIELD_NUMBER: _ClassVar[int]
    ATTACHMENTS_FIELD_NUMBER: _ClassVar[int]
    EXTRA_FIELD_NUMBER: _ClassVar[int]
    text: str
    actions: _containers.RepeatedScalarFieldContainer[str]
    source: str
    thought: str
    attachments: _containers.RepeatedCompositeFieldContainer[Attachment]
    extra: _struct_pb2.Struct
    def __init__(self, text: _Optional[str] = ..., actions: _Optional[_Iterable[str]] = ..., source: _Optional[str] = ..., thought: _Optional[str] = ..., attachments: _Optional[_Iterable[_Union[Attachment, _Mapping]]] = ..., extra: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class Attachment(_message.Message):
    __slots__ = ("id", "url", "content_type", "title", "description", "text")
    ID_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    id: str
    url: str
    content_type: str
    title: str
    description: str
    text: str
    def __init__(self, id: _Optional[str] = ..., url: _Optional[str] = ..., content_type: _Optional[str] = ..., title: _Optional[str] = ..., description: _Optional[str] = ..., text: _Optional[str] = ...) -> None: ...

class Memory(_message.Message):
    __slots__ = ("id", "entity_id", "agent_id", "room_id", "world_id", "content", "created_at_ms", "table_name", "metadata")
    ID_FIELD_NUMBER: _ClassVar[int]
    ENTITY_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    ROOM_ID_FIELD_NUMBER: _ClassVar[int]
    WORLD_ID_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    TABLE_NAME_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    id: str
    entity_id: str
    agent_id: str
    room_id: str
    world_id: str
    content: Content
    created_at_ms: int
    table_name: str
    metadata: _struct_pb2.Struct
    def __init__(self, id: _Optional[str] = ..., entity_id: _Optional[str] = ..., agent_id: _Optional[str] = ..., room_id: _Optional[str] = ..., world_id: _Optional[str] = ..., content: _Optional[_Union[Content, _Mapping]] = ..., created_at_ms: _Optional[int] = ..., table_name: _Optional[str] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class State(_message.Message):
    __slots__ = ("values", "data", "text")
    VALUES_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    values: _struct_pb2.Struct
    data: _struct_pb2.Struct
    text: str
    def __init__(self, values: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., data: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., text: _Optional[str] = ...) -> None: ...

class Entity(_message.Message):
    __slots__ = ("id", "agent_id", "names", "metadata")
    ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    NAMES_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    id: str
    agent_id: str
    names: _containers.RepeatedScalarFieldContainer[str]
    metadata: _struct_pb2.Struct
    def __init__(self, id: _Optional[str] = ..., agent_id: _Optional[str] = ..., names: _Optional[_Iterable[str]] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class ActionResult(_message.Message):
    __slots__ = ("success", "text", "values", "data", "error")
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    success: bool
    text: str
    values: _struct_pb2.Struct
    data: _struct_pb2.Struct
    error: str
    def __init__(self, success: _Optional[bool] = ..., text: _Optional[str] = ..., values: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., data: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., error: _Optional[str] = ...) -> None: ...
