from agenthost.v1 import types_pb2 as _types_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CreateMemoryRequest(_message.Message):
    __slots__ = ("memory",)
    MEMORY_FIELD_NUMBER: _ClassVar[int]
    memory: _types_pb2.Memory
    def __init__(self, memory: _Optional[_Union[_types_pb2.Memory, _Mapping]] = ...) -> None: ...

class CreateMemoryResponse(_message.Message):
    __slots__ = ("memory",)
    MEMORY_FIELD_NUMBER: _ClassVar[int]
    memory: _types_pb2.Memory
    def __init__(self, memory: _Optional[_Union[_types_pb2.Memory, _Mapping]] = ...) -> None: ...

class GetMemoriesRequest(_message.Message):
    __slots__ = ("room_id", "table_name", "count", "agent_id")
    ROOM_ID_FIELD_NUMBER: _ClassVar[int]
    TABLE_NAME_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    room_id: str
    table_name: str
    count: int
    agent_id: str
    def __init__(self, room_id: _Optional[str] = ..., table_name: _Optional[str] = ..., count: _Optional[int] = ..., agent_id: _Optional[str] = ...) -> None: ...

class GetMemoriesResponse(_message.Message):
    __slots__ = ("memories",)
    MEMORIES_FIELD_NUMBER: _ClassVar[int]
    memories: _containers.RepeatedCompositeFieldContainer[_types_pb2.Memory]
    def __init__(self, memories: _Optional[_Iterable[_Union[_types_pb2.Memory, _Mapping]]] = ...) -> None: ...

class GetEntityRequest(_message.Message):
    __slots__ = ("id", "agent_id")
    ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    agent_id: str
    def __init__(self, id: _Optional[str] = ..., agent_id: _Optional[str] = ...) -> None: ...

class GetEntityResponse(_message.Message):
    __slots__ = ("entity",)
    ENTITY_FIELD_NUMBER: _ClassVar[int]
    entity: _types_pb2.Entity
    def __init__(self, entity: _Optional[_Union[_types_pb2.Entity, _Mapping]] = ...) -> None: ...

class UpsertEntityRequest(_message.Message):
    __slots__ = ("entity",)
    ENTITY_FIELD_NUMBER: _ClassVar[int]
    entity: _types_pb2.Entity
    def __init__(self, entity: _Optional[_Union[_types_pb2.Entity, _Mapping]] = ...) -> None: ...

class UpsertEntityResponse(_message.Message):
    __slots__ = ("entity",)
    ENTITY_FIELD_NUMBER: _ClassVar[int]
    entity: _types_pb2.Entity
    def __init__(self, entity: _Optional[_Union[_types_pb2.Entity, _Mapping]] = ...) -> None: ...

class GetSettingRequest(_message.Message):
    __slots__ = ("key", "agent_id")
    KEY_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    key: str
    agent_id: str
    def __init__(self, key: _Optional[str] = ..., agent_id: _Optional[str] = ...) -> None: ...

class GetSettingResponse(_message.Message):
    __slots__ = ("value", "found")
    VALUE_FIELD_NUMBER: _ClassVar[int]
    FOUND_FIELD_NUMBER: _ClassVar[int]
    value: str
    found: bool
    def __init__(self, value: _Optional[str] = ..., found: _Optional[bool] = ...) -> None: ...

class RuntimeServiceUseModelRequest(_message.Message):
    __slots__ = ("model_type", "params", "agent_id")
    MODEL_TYPE_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    model_type: str
    params: _struct_pb2.Struct
    agent_id: str
    def __init__(self, model_type: _Optional[str] = ..., params: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., agent_id: _Optional[str] = ...) -> None: ...

class RuntimeServiceUseModelResponse(_message.Message):
    __slots__ = ("text", "embedding", "data", "served_by")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    EMBEDDING_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    SERVED_BY_FIELD_NUMBER: _ClassVar[int]
    text: str
    embedding: _containers.RepeatedScalarFieldContainer[float]
    data: _struct_pb2.Struct
    served_by: str
    def __init__(self, text: _Optional[str] = ..., embedding: _Optional[_Iterable[float]] = ..., data: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., served_by: _Optional[str] = ...) -> None: ...

class EmitEventRequest(_message.Message):
    __slots__ = ("event_type", "payload", "agent_id")
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    event_type: str
    payload: _struct_pb2.Struct
    agent_id: str
    def __init__(self, event_type: _Optional[str] = ..., payload: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., agent_id: _Optional[str] = ...) -> None: ...

class EmitEventResponse(_message.Message):
    __slots__ = ("delivered",)
    DELIVERED_FIELD_NUMBER: _ClassVar[int]
    delivered: int
    def __init__(self, delivered: _Optional[int] = ...) -> None: ...

class FindMemoriesRequest(_message.Message):
    __slots__ = ("table_name", "count", "room_id", "entity_id", "world_id", "agent_id")
    TABLE_NAME_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    ROOM_ID_FIELD_NUMBER: _ClassVar[int]
    ENTITY_ID_FIELD_NUMBER: _ClassVar[int]
    WORLD_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    table_name: str
    count: int
    room_id: str
    entity_id: str
    world_id: str
    agent_id: str
    def __init__(self, table_name: _Optional[str] = ..., count: _Optional[int] = ..., room_id: _Optional[str] = ..., entity_id: _Optional[str] = ..., world_id: _Optional[str] = ..., agent_id: _Optional[str] = ...) -> None: ...

class FindMemoriesResponse(_message.Message):
    __slots__ = ("memories",)
    MEMORIES_FIELD_NUMBER: _ClassVar[int]
    memories: _containers.RepeatedCompositeFieldContainer[_types_pb2.Memory]
    def __init__(self, memories: _Optional[_Iterable[_Union[_types_pb2.Memory, _Mapping]]] = ...) -> None: ...

class Room(_message.Message):
    __slots__ = ("id", "name", "type", "source", "world_id", "channel_id", "server_id", "metadata", "created_at_ms")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    WORLD_ID_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_ID_FIELD_NUMBER: _ClassVar[int]
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    type: str
    source: str
    world_id: str
    channel_id: str
    server_id: str
    metadata: _struct_pb2.Struct
    created_at_ms: int
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., type: _Optional[str] = ..., source: _Optional[str] = ..., world_id: _Optional[str] = ..., channel_id: _Optional[str] = ..., server_id: _Optional[str] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., created_at_ms: _Optional[int] = ...) -> None: ...

class World(_message.Message):
    __slots__ = ("id", "name", "server_id", "metadata")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    server_id: str
    metadata: _struct_pb2.Struct
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., server_id: _Optional[str] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class Participant(_message.Message):
    __slots__ = ("entity_id", "state", "entity")
    ENTITY_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ENTITY_FIELD_NUMBER: _ClassVar[int]
    entity_id: str
    state: str
    entity: _types_pb2.Entity
    def __init__(self, entity_id: _Optional[str] = ..., state: _Optional[str] = ..., entity: _Optional[_Union[_types_pb2.Entity, _Mapping]] = ...) -> None: ...

class Relationship(_message.Message):
    __slots__ = ("source_entity_id", "target_entity_id", "tags", "metadata", "interaction_count", "updated_at_ms")
    SOURCE_ENTITY_ID_FIELD_NUMBER: _ClassVar[int]
    TARGET_ENTITY_ID_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    INTERACTION_COUNT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    source_entity_id: str
    target_entity_id: str
    tags: _containers.RepeatedScalarFieldContainer[str]
    metadata: _struct_pb2.Struct
    interaction_count: int
    updated_at_ms: int
    def __init__(self, source_entity_id: _Optional[str] = ..., target_entity_id: _Optional[str] = ..., tags: _Optional[_Iterable[str]] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., interaction_count: _Optional[int] = ..., updated_at_ms: _Optional[int] = ...) -> None: ...

class GetRoomRequest(_message.Message):
    __slots__ = ("room_id", "agent_id")
    ROOM_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    room_id: str
    agent_id: str
    def __init__(self, room_id: _Optional[str] = ..., agent_id: _Optional[str] = ...) -> None: ...

class GetRoomResponse(_message.Message):
    __slots__ = ("room", "world", "participants")
    ROOM_FIELD_NUMBER: _ClassVar[int]
    WORLD_FIELD_NUMBER: _ClassVar[int]
    PARTICIPANTS_FIELD_NUMBER: _ClassVar[int]
    room: Room
    world: World
    participants: _containers.RepeatedCompositeFieldContainer[Participant]
    def __init__(self, room: _Optional[_Union[Room, _Mapping]] = ..., world: _Optional[_Union[World, _Mapping]] = ..., participants: _Optional[_Iterable[_Union[Participant, _Mapping]]] = ...) -> None: ...

class SetParticipantStateRequest(_message.Message):
    __slots__ = ("room_id", "state", "agent_id")
    ROOM_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    room_id: str
    state: str
    agent_id: str
    def __init__(self, room_id: _Optional[str] = ..., state: _Optional[str] = ..., agent_id: _Optional[str] = ...) -> None: ...

class SetParticipantStateResponse(_message.Message):
    __slots__ = ("previous_state",)
    PREVIOUS_STATE_FIELD_NUMBER: _ClassVar[int]
    previous_state: str
    def __init__(self, previous_state: _Optional[str] = ...) -> None: ...

class GetRelationshipsRequest(_message.Message):
    __slots__ = ("entity_id", "tags", "agent_id")
    ENTITY_ID_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    entity_id: str
    tags: _containers.RepeatedScalarFieldContainer[str]
    agent_id: str
    def __init__(self, entity_id: _Optional[str] = ..., tags: _Optional[_Iterable[str]] = ..., agent_id: _Optional[str] = ...) -> None: ...

class GetRelationshipsResponse(_message.Message):
    __slots__ = ("relationships",)
    RELATIONSHIPS_FIELD_NUMBER: _ClassVar[int]
    relationships: _containers.RepeatedCompositeFieldContainer[Relationship]
    def __init__(self, relationships: _Optional[_Iterable[_Union[Relationship, _Mapping]]] = ...) -> None: ...

class UpsertRelationshipRequest(_message.Message):
    __slots__ = ("relationship", "count_interaction", "agent_id")
    RELATIONSHIP_FIELD_NUMBER: _ClassVar[int]
    COUNT_INTERACTION_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    relationship: Relationship
    count_interaction: bool
    agent_id: str
    def __init__(self, relationship: _Optional[_Union[Relationship, _Mapping]] = ..., count_interaction: _Optional[bool] = ..., agent_id: _Optional[str] = ...) -> None: ...

class UpsertRelationshipResponse(_message.Message):
    __slots__ = ("relationship",)
    RELATIONSHIP_FIELD_NUMBER: _ClassVar[int]
    relationship: Relationship
    def __init__(self, relationship: _Optional[_Union[Relationship, _Mapping]] = ...) -> None: ...

class SearchMemoriesRequest(_message.Message):
    __slots__ = ("query", "table_name", "count", "room_id", "min_score", "agent_id")
    QUERY_FIELD_NUMBER: _ClassVar[int]
    TABLE_NAME_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    ROOM_ID_FIELD_NUMBER: _ClassVar[int]
    MIN_SCORE_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    query: str
    table_name: str
    count: int
    room_id: str
    min_score: float
    agent_id: str
    def __init__(self, query: _Optional[str] = ..., table_name: _Optional[str] = ..., count: _Optional[int] = ..., room_id: _Optional[str] = ..., min_score: _Optional[float] = ..., agent_id: _Optional[str] = ...) -> None: ...

class ScoredMemory(_message.Message):
    __slots__ = ("memory", "score")
    MEMORY_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    memory: _types_pb2.Memory
    score: float
    def __init__(self, memory: _Optional[_Union[_types_pb2.Memory, _Mapping]] = ..., score: _Optional[float] = ...) -> None: ...

class SearchMemoriesResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[ScoredMemory]
    def __init__(self, results: _Optional[_Iterable[_Union[ScoredMemory, _Mapping]]] = ...) -> None: ...
