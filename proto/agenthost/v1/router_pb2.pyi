from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ModelType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MODEL_TYPE_UNSPECIFIED: _ClassVar[ModelType]
    MODEL_TYPE_TEXT_SMALL: _ClassVar[ModelType]
    MODEL_TYPE_TEXT_LARGE: _ClassVar[ModelType]
    MODEL_TYPE_TEXT_EMBEDDING: _ClassVar[ModelType]
    MODEL_TYPE_IMAGE_DESCRIPTION: _ClassVar[ModelType]
    MODEL_TYPE_TRANSCRIPTION: _ClassVar[ModelType]
MODEL_TYPE_UNSPECIFIED: ModelType
MODEL_TYPE_TEXT_SMALL: ModelType
MODEL_TYPE_TEXT_LARGE: ModelType
MODEL_TYPE_TEXT_EMBEDDING: ModelType
MODEL_TYPE_IMAGE_DESCRIPTION: ModelType
MODEL_TYPE_TRANSCRIPTION: ModelType

class ChatMessage(_message.Message):
    __slots__ = ("role", "content", "image_urls")
    ROLE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    IMAGE_URLS_FIELD_NUMBER: _ClassVar[int]
    role: str
    content: str
    image_urls: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, role: _Optional[str] = ..., content: _Optional[str] = ..., image_urls: _Optional[_Iterable[str]] = ...) -> None: ...

class CallMeta(_message.Message):
    __slots__ = ("confidential", "quality", "task_id", "agent_name", "model_type", "max_output_tokens", "temperature", "grammar", "timeout_ms", "warm_up")
    CONFIDENTIAL_FIELD_NUMBER: _ClassVar[int]
    QUALITY_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_NAME_FIELD_NUMBER: _ClassVar[int]
    MODEL_TYPE_FIELD_NUMBER: _ClassVar[int]
    MAX_OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    TEMPERATURE_FIELD_NUMBER: _ClassVar[int]
    GRAMMAR_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    WARM_UP_FIELD_NUMBER: _ClassVar[int]
    confidential: bool
    quality: str
    task_id: str
    agent_name: str
    model_type: ModelType
    max_output_tokens: int
    temperature: float
    grammar: str
    timeout_ms: int
    warm_up: bool
    def __init__(self, confidential: _Optional[bool] = ..., quality: _Optional[str] = ..., task_id: _Optional[str] = ..., agent_name: _Optional[str] = ..., model_type: _Optional[_Union[ModelType, str]] = ..., max_output_tokens: _Optional[int] = ..., temperature: _Optional[float] = ..., grammar: _Optional[str] = ..., timeout_ms: _Optional[int] = ..., warm_up: _Optional[bool] = ...) -> None: ...

class InvokeRequest(_message.Message):
    __slots__ = ("prompt", "messages", "meta", "user_id", "request_id", "audio", "audio_format")
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    META_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    AUDIO_FIELD_NUMBER: _ClassVar[int]
    AUDIO_FORMAT_FIELD_NUMBER: _ClassVar[int]
    prompt: str
    messages: _containers.RepeatedCompositeFieldContainer[ChatMessage]
    meta: CallMeta
    user_id: str
    request_id: str
    audio: bytes
    audio_format: str
    def __init__(self, prompt: _Optional[str] = ..., messages: _Optional[_Iterable[_Union[ChatMessage, _Mapping]]] = ..., meta: _Optional[_Union[CallMeta, _Mapping]] = ..., user_id: _Optional[str] = ..., request_id: _Optional[str] = ..., audio: _Optional[bytes] = ..., audio_format: _Optional[str] = ...) -> None: ...

class Attempt(_message.Message):
    __slots__ = ("number", "provider", "model", "status", "error_class", "error", "latency_ms")
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ERROR_CLASS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    number: int
    provider: str
    model: str
    status: str
    error_class: str
    error: str
    latency_ms: int
    def __init__(self, number: _Optional[int] = ..., provider: _Optional[str] = ..., model: _Optional[str] = ..., status: _Optional[str] = ..., error_class: _Optional[str] = ..., error: _Optional[str] = ..., latency_ms: _Optional[int] = ...) -> None: ...

class RuleTrace(_message.Message):
    __slots__ = ("rule", "matched", "detail")
    RULE_FIELD_NUMBER: _ClassVar[int]
    MATCHED_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    rule: str
    matched: bool
    detail: str
    def __init__(self, rule: _Optional[str] = ..., matched: _Optional[bool] = ..., detail: _Optional[str] = ...) -> None: ...

class CandidateTrace(_message.Message):
    __slots__ = ("provider", "kept", "reason")
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    KEPT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    provider: str
    kept: bool
    reason: str
    def __init__(self, provider: _Optional[str] = ..., kept: _Optional[bool] = ..., reason: _Optional[str] = ...) -> None: ...

class Decision(_message.Message):
    __slots__ = ("provider", "model", "rule", "fallbacks", "rules", "candidates", "input_tokens", "max_output_tokens", "worst_case_cost", "budget_left")
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    FALLBACKS_FIELD_NUMBER: _ClassVar[int]
    RULES_FIELD_NUMBER: _ClassVar[int]
    CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    MAX_OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    WORST_CASE_COST_FIELD_NUMBER: _ClassVar[int]
    BUDGET_LEFT_FIELD_NUMBER: _ClassVar[int]
    provider: str
    model: str
    rule: str
    fallbacks: _containers.RepeatedScalarFieldContainer[str]
    rules: _containers.RepeatedCompositeFieldContainer[RuleTrace]
    candidates: _containers.RepeatedCompositeFieldContainer[CandidateTrace]
    input_tokens: int
    max_output_tokens: int
    worst_case_cost: float
    budget_left: float
    def __init__(self, provider: _Optional[str] = ..., model: _Optional[str] = ..., rule: _Optional[str] = ..., fallbacks: _Optional[_Iterable[str]] = ..., rules: _Optional[_Iterable[_Union[RuleTrace, _Mapping]]] = ..., candidates: _Optional[_Iterable[_Union[CandidateTrace, _Mapping]]] = ..., input_tokens: _Optional[int] = ..., max_output_tokens: _Optional[int] = ..., worst_case_cost: _Optional[float] = ..., budget_left: _Optional[float] = ...) -> None: ...

class InvokeResponse(_message.Message):
    __slots__ = ("request_id", "text", "embedding", "provider", "model", "tokens_in", "tokens_out", "cost", "latency_ms", "attempts", "decision", "cached")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    EMBEDDING_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    TOKENS_IN_FIELD_NUMBER: _ClassVar[int]
    TOKENS_OUT_FIELD_NUMBER: _ClassVar[int]
    COST_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    CACHED_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    text: str
    embedding: _containers.RepeatedScalarFieldContainer[float]
    provider: str
    model: str
    tokens_in: int
    tokens_out: int
    cost: float
    latency_ms: int
    attempts: _containers.RepeatedCompositeFieldContainer[Attempt]
    decision: Decision
    cached: bool
    def __init__(self, request_id: _Optional[str] = ..., text: _Optional[str] = ..., embedding: _Optional[_Iterable[float]] = ..., provider: _Optional[str] = ..., model: _Optional[str] = ..., tokens_in: _Optional[int] = ..., tokens_out: _Optional[int] = ..., cost: _Optional[float] = ..., latency_ms: _Optional[int] = ..., attempts: _Optional[_Iterable[_Union[Attempt, _Mapping]]] = ..., decision: _Optional[_Union[Decision, _Mapping]] = ..., cached: _Optional[bool] = ...) -> None: ...

class InvokeStreamRequest(_message.Message):
    __slots__ = ("request",)
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    request: InvokeRequest
    def __init__(self, request: _Optional[_Union[InvokeRequest, _Mapping]] = ...) -> None: ...

class InvokeStreamResponse(_message.Message):
    __slots__ = ("delta", "done")
    DELTA_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    delta: str
    done: InvokeResponse
    def __init__(self, delta: _Optional[str] = ..., done: _Optional[_Union[InvokeResponse, _Mapping]] = ...) -> None: ...

class ExplainRequest(_message.Message):
    __slots__ = ("request",)
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    request: InvokeRequest
    def __init__(self, request: _Optional[_Union[InvokeRequest, _Mapping]] = ...) -> None: ...

class ExplainResponse(_message.Message):
    __slots__ = ("decision",)
    DECISION_FIELD_NUMBER: _ClassVar[int]
    decision: Decision
    def __init__(self, decision: _Optional[_Union[Decision, _Mapping]] = ...) -> None: ...

class GetBudgetRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class BudgetStatus(_message.Message):
    __slots__ = ("scope", "period", "period_key", "limit", "spent", "reserved", "left", "overrun", "overruns")
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    PERIOD_KEY_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    SPENT_FIELD_NUMBER: _ClassVar[int]
    RESERVED_FIELD_NUMBER: _ClassVar[int]
    LEFT_FIELD_NUMBER: _ClassVar[int]
    OVERRUN_FIELD_NUMBER: _ClassVar[int]
    OVERRUNS_FIELD_NUMBER: _ClassVar[int]
    scope: str
    period: str
    period_key: str
    limit: float
    spent: float
    reserved: float
    left: float
    overrun: float
    overruns: int
    def __init__(self, scope: _Optional[str] = ..., period: _Optional[str] = ..., period_key: _Optional[str] = ..., limit: _Optional[float] = ..., spent: _Optional[float] = ..., reserved: _Optional[float] = ..., left: _Optional[float] = ..., overrun: _Optional[float] = ..., overruns: _Optional[int] = ...) -> None: ...

class GetBudgetResponse(_message.Message):
    __slots__ = ("budgets",)
    BUDGETS_FIELD_NUMBER: _ClassVar[int]
    budgets: _containers.RepeatedCompositeFieldContainer[BudgetStatus]
    def __init__(self, budgets: _Optional[_Iterable[_Union[BudgetStatus, _Mapping]]] = ...) -> None: ...

class GetUsageRequest(_message.Message):
    __slots__ = ("period", "agent_name", "task_id", "provider", "limit")
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    AGENT_NAME_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    period: str
    agent_name: str
    task_id: str
    provider: str
    limit: int
    def __init__(self, period: _Optional[str] = ..., agent_name: _Optional[str] = ..., task_id: _Optional[str] = ..., provider: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class LedgerRow(_message.Message):
    __slots__ = ("request_id", "attempt", "time_ms", "agent_name", "task_id", "user_id", "provider", "model", "tokens_in", "tokens_out", "cost", "latency_ms", "status", "error_class", "reserved")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    TIME_MS_FIELD_NUMBER: _ClassVar[int]
    AGENT_NAME_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    TOKENS_IN_FIELD_NUMBER: _ClassVar[int]
    TOKENS_OUT_FIELD_NUMBER: _ClassVar[int]
    COST_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ERROR_CLASS_FIELD_NUMBER: _ClassVar[int]
    RESERVED_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    attempt: int
    time_ms: int
    agent_name: str
    task_id: str
    user_id: str
    provider: str
    model: str
    tokens_in: int
    tokens_out: int
    cost: float
    latency_ms: int
    status: str
    error_class: str
    reserved: float
    def __init__(self, request_id: _Optional[str] = ..., attempt: _Optional[int] = ..., time_ms: _Optional[int] = ..., agent_name: _Optional[str] = ..., task_id: _Optional[str] = ..., user_id: _Optional[str] = ..., provider: _Optional[str] = ..., model: _Optional[str] = ..., tokens_in: _Optional[int] = ..., tokens_out: _Optional[int] = ..., cost: _Optional[float] = ..., latency_ms: _Optional[int] = ..., status: _Optional[str] = ..., error_class: _Optional[str] = ..., reserved: _Optional[float] = ...) -> None: ...

class GetUsageResponse(_message.Message):
    __slots__ = ("rows", "calls", "tokens_in", "tokens_out", "cost")
    ROWS_FIELD_NUMBER: _ClassVar[int]
    CALLS_FIELD_NUMBER: _ClassVar[int]
    TOKENS_IN_FIELD_NUMBER: _ClassVar[int]
    TOKENS_OUT_FIELD_NUMBER: _ClassVar[int]
    COST_FIELD_NUMBER: _ClassVar[int]
    rows: _containers.RepeatedCompositeFieldContainer[LedgerRow]
    calls: int
    tokens_in: int
    tokens_out: int
    cost: float
    def __init__(self, rows: _Optional[_Iterable[_Union[LedgerRow, _Mapping]]] = ..., calls: _Optional[int] = ..., tokens_in: _Optional[int] = ..., tokens_out: _Optional[int] = ..., cost: _Optional[float] = ...) -> None: ...

class ListProvidersRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ProviderInfo(_message.Message):
    __slots__ = ("name", "model", "litellm_model", "cost_in", "cost_out", "max_context", "latency_ms", "capabilities", "tags", "configured", "not_configured_reason", "breaker", "id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    LITELLM_MODEL_FIELD_NUMBER: _ClassVar[int]
    COST_IN_FIELD_NUMBER: _ClassVar[int]
    COST_OUT_FIELD_NUMBER: _ClassVar[int]
    MAX_CONTEXT_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    CONFIGURED_FIELD_NUMBER: _ClassVar[int]
    NOT_CONFIGURED_REASON_FIELD_NUMBER: _ClassVar[int]
    BREAKER_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    model: str
    litellm_model: str
    cost_in: float
    cost_out: float
    max_context: int
    latency_ms: int
    capabilities: _containers.RepeatedScalarFieldContainer[str]
    tags: _containers.RepeatedScalarFieldContainer[str]
    configured: bool
    not_configured_reason: str
    breaker: str
    id: str
    def __init__(self, name: _Optional[str] = ..., model: _Optional[str] = ..., litellm_model: _Optional[str] = ..., cost_in: _Optional[float] = ..., cost_out: _Optional[float] = ..., max_context: _Optional[int] = ..., latency_ms: _Optional[int] = ..., capabilities: _Optional[_Iterable[str]] = ..., tags: _Optional[_Iterable[str]] = ..., configured: _Optional[bool] = ..., not_configured_reason: _Optional[str] = ..., breaker: _Optional[str] = ..., id: _Optional[str] = ...) -> None: ...

class ListProvidersResponse(_message.Message):
    __slots__ = ("providers", "response_cache")
    PROVIDERS_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_CACHE_FIELD_NUMBER: _ClassVar[int]
    providers: _containers.RepeatedCompositeFieldContainer[ProviderInfo]
    response_cache: ResponseCacheStats
    def __init__(self, providers: _Optional[_Iterable[_Union[ProviderInfo, _Mapping]]] = ..., response_cache: _Optional[_Union[ResponseCacheStats, _Mapping]] = ...) -> None: ...

class ResponseCacheStats(_message.Message):
    __slots__ = ("hits", "misses", "entries", "max_entries", "ttl_s")
    HITS_FIELD_NUMBER: _ClassVar[int]
    MISSES_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    MAX_ENTRIES_FIELD_NUMBER: _ClassVar[int]
    TTL_S_FIELD_NUMBER: _ClassVar[int]
    hits: int
    misses: int
    entries: int
    max_entries: int
    ttl_s: float
    def __init__(self, hits: _Optional[int] = ..., misses: _Optional[int] = ..., entries: _Optional[int] = ..., max_entries: _Optional[int] = ..., ttl_s: _Optional[float] = ...) -> None: ...
