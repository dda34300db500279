"""RouterService over gRPC: protos at the edge, the Router inside."""

from __future__ import annotations

import asyncio
from contextlib import aclosing
from typing import AsyncIterator, NoReturn

import grpc
from agenthost.v1 import router_pb2, router_pb2_grpc

from plugin_sdk.limits import bounded

from .accounting import LedgerRow
from .engine import Router
from .policy import Decision
from .requests import AllFailed, CallRequest, Refused, Reply, as_messages
from .response_cache import CacheStats

IMAGE_URL_SCHEMES = ("http://", "https://", "data:")  # what ChatMessage.image_urls may hold


async def abort(context: grpc.aio.ServicerContext, code: grpc.StatusCode, message: str) -> NoReturn:
    """End the RPC with `code` and `message` (cut if too long for a status header, as one echoing
    a huge input would be). ServicerContext.abort raises, but grpc ships no types, so the
    checker cannot know: this says it once."""
    await context.abort(code, bounded(message))
    raise AssertionError("ServicerContext.abort returned")  # it never does


def call_request(request: router_pb2.InvokeRequest) -> CallRequest:
    """The proto request as the router's CallRequest; ValueError says what is missing."""
    meta = request.meta
    model_type = router_pb2.ModelType.Name(meta.model_type).removeprefix("MODEL_TYPE_")
    if model_type == "TRANSCRIPTION":
        if not request.audio:
            raise ValueError("a TRANSCRIPTION call needs the audio bytes (and audio_format)")
    elif not request.prompt and not request.messages:
        raise ValueError("give a prompt or chat messages")
    # Negative values would reach the provider (which fails the call: UNAVAILABLE) or the
    # deadline (DEADLINE_EXCEEDED at once); 0 means the default for both.
    if meta.max_output_tokens < 0:
        raise ValueError(f"meta.max_output_tokens must be 0 (the default) or more, got {meta.max_output_tokens}")
    if meta.timeout_ms < 0:
        raise ValueError(f"meta.timeout_ms must be 0 (the default) or more, got {meta.timeout_ms}")
    for i, message in enumerate(request.messages):
        for j, url in enumerate(message.image_urls):
            if not url.startswith(IMAGE_URL_SCHEMES):
                raise ValueError(f"messages[{i}].image_urls[{j}] must be an http(s) or data: URL, got {url[:40]!r}")
    return CallRequest(
        messages=as_messages(
            request.prompt,
            [{"role": m.role, "content": m.content, "image_urls": list(m.image_urls)} for m in request.messages],
        ),
        model_type="TEXT_LARGE" if model_type == "UNSPECIFIED" else model_type,
        confidential=meta.confidential,
        quality=meta.quality,
        task_id=meta.task_id,
        agent_name=meta.agent_name,
        user_id=request.user_id,
        max_output_tokens=meta.max_output_tokens,
        temperature=meta.temperature if meta.HasField("temperature") else None,
        grammar=meta.grammar,
        timeout_s=meta.timeout_ms / 1000.0,
        request_id=request.request_id,
        audio=request.audio,
        audio_format=request.audio_format,
        warm_up=meta.warm_up,
    )


def decision_proto(decision: Decision) -> router_pb2.Decision:
    chosen = decision.chosen
    return router_pb2.Decision(
        provider=chosen.provider.name if chosen else "",
        model=chosen.provider.model if chosen else "",
        rule=decision.rule,
        fallbacks=[c.provider.id for c in decision.ranked[1:]],
        rules=[router_pb2.RuleTrace(rule=n, matched=m, detail=d) for n, m, d in decision.rules],
        candidates=[
            router_pb2.CandidateTrace(provider=c.provider.id, kept=c.kept, reason=c.reason) for c in decision.candidates
        ],
        input_tokens=decision.request.input_tokens,
        max_output_tokens=chosen.max_output_tokens if chosen else 0,
        worst_case_cost=chosen.worst_case_cost if chosen else 0.0,
        budget_left=decision.request.budget_left,
    )


def cache_stats_proto(stats: CacheStats) -> router_pb2.ResponseCacheStats:
    return router_pb2.ResponseCacheStats(
        hits=stats.hits,
        misses=stats.misses,
        entries=stats.entries,
        max_entries=stats.max_entries,
        ttl_s=stats.ttl_s,
    )


def reply_proto(reply: Reply) -> router_pb2.InvokeResponse:
    return router_pb2.InvokeResponse(
        request_id=reply.request_id,
        cached=reply.cached,
        text=reply.completion.text,
        embedding=reply.completion.embedding or [],
        provider=reply.provider.name,
        model=reply.provider.model,
        tokens_in=reply.completion.tokens_in,
        tokens_out=reply.completion.tokens_out,
        cost=reply.cost,
        latency_ms=reply.latency_ms,
        attempts=[
            router_pb2.Attempt(
                number=a.number,
                provider=a.provider.name,
                model=a.provider.model,
                status=a.status,
                error_class=a.error_class,
                error=a.error,
                latency_ms=a.latency_ms,
            )
            for a in reply.attempts
        ],
        decision=decision_proto(reply.decision),
    )


def ledger_proto(row: LedgerRow) -> router_pb2.LedgerRow:
    return router_pb2.LedgerRow(
        request_id=row.request_id,
        attempt=row.attempt,
        time_ms=row.time_ms,
        agent_name=row.agent_name,
        task_id=row.task_id,
        user_id=row.user_id,
        provider=row.provider,
        model=row.model,
        tokens_in=row.tokens_in,
        tokens_out=row.tokens_out,
        cost=row.cost,
        latency_ms=row.latency_ms,
        status=row.status,
        error_class=row.error_class,
        reserved=row.reserved,
    )


class RouterServicer(router_pb2_grpc.RouterServiceServicer):
    """Serves one Router."""

    def __init__(self, router: Router) -> None:
        self.router = router

    async def _request(self, request: router_pb2.InvokeRequest, context: grpc.aio.ServicerContext) -> CallRequest:
        try:
            return call_request(request)
        except ValueError as exc:
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT, str(exc))

    async def _fail(self, context: grpc.aio.ServicerContext, exc: Exception) -> NoReturn:
        """End the RPC with the status that says why the call was not served."""
        if isinstance(exc, Refused):
            exhausted = exc.budget or exc.retry_after_s is not None
            code = grpc.StatusCode.RESOURCE_EXHAUSTED if exhausted else grpc.StatusCode.FAILED_PRECONDITION
            if exc.retry_after_s is not None:  # every provider over its rate limit: when to come back
                context.set_trailing_metadata((("retry-after", str(exc.retry_after_s)),))
            await abort(context, code, str(exc))
        if isinstance(exc, AllFailed):
            await abort(context, grpc.StatusCode.UNAVAILABLE, str(exc))
        if isinstance(exc, TimeoutError):
            await abort(context, grpc.StatusCode.DEADLINE_EXCEEDED, "the call did not finish within its deadline")
        raise exc

    async def Invoke(
        self, request: router_pb2.InvokeRequest, context: grpc.aio.ServicerContext
    ) -> router_pb2.InvokeResponse:
        call = await self._request(request, context)
        try:
            if call.warm_up:
                return await self._warm_up(call, context)
            return reply_proto(await self.router.invoke(call))
        except (Refused, AllFailed, TimeoutError) as exc:
            await self._fail(context, exc)

    async def InvokeStream(
        self, request: router_pb2.InvokeStreamRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[router_pb2.InvokeStreamResponse]:
        call = await self._request(request.request, context)
        try:
            if call.warm_up:
                yield router_pb2.InvokeStreamResponse(done=await self._warm_up(call, context))
                return
            # aclosing: when the client goes away mid-stream, the attempt is ended (and booked) now,
            # not whenever the abandoned generator is collected.
            async with (
                asyncio.timeout(call.timeout_s or self.router.retry.call_timeout_s),
                aclosing(self.router.invoke_stream(call)) as items,
            ):
                async for item in items:
                    if isinstance(item, str):
                        yield router_pb2.InvokeStreamResponse(delta=item)
                    else:
                        yield router_pb2.InvokeStreamResponse(done=reply_proto(item))
        except (Refused, AllFailed, TimeoutError) as exc:
            await self._fail(context, exc)

    async def _warm_up(self, call: CallRequest, context: grpc.aio.ServicerContext) -> router_pb2.InvokeResponse:
        """A warm-up's answer: which local provider read the prompt (none: "") and its tokens."""
        try:
            provider, tokens = await self.router.warm_up(call)
        except Exception as exc:  # the local model down or failing: the caller's calls will say so
            await abort(context, grpc.StatusCode.UNAVAILABLE, f"warm-up failed: {type(exc).__name__}: {exc}")
        return router_pb2.InvokeResponse(
            request_id=call.request_id,
            provider=provider.name if provider else "",
            model=provider.model if provider else "",
            tokens_in=tokens,
        )

    async def Explain(
        self, request: router_pb2.ExplainRequest, context: grpc.aio.ServicerContext
    ) -> router_pb2.ExplainResponse:
        call = await self._request(request.request, context)
        return router_pb2.ExplainResponse(decision=decision_proto(await self.router.decide(call)))

    async def GetBudget(
        self, request: router_pb2.GetBudgetRequest, context: grpc.aio.ServicerContext
    ) -> router_pb2.GetBudgetResponse:
        statuses = await self.router.accounting.status(self.router.budgets)
        return router_pb2.GetBudgetResponse(
            budgets=[
                router_pb2.BudgetStatus(
                    scope=s.scope,
                    period=s.period,
                    period_key=s.period_key,
                    limit=s.limit,
                    spent=s.spent,
                    reserved=s.reserved,
                    left=s.left,
                    overrun=s.overrun,
                    overruns=s.overruns,
                )
                for s in statuses
            ]
        )

    async def GetUsage(
        self, request: router_pb2.GetUsageRequest, context: grpc.aio.ServicerContext
    ) -> router_pb2.GetUsageResponse:
        if request.limit < 0:  # a negative LIMIT is no limit to SQL: every row
            await abort(
                context, grpc.StatusCode.INVALID_ARGUMENT, f"limit must be 0 (100 rows) or more, got {request.limit}"
            )
        try:
            usage = await self.router.accounting.usage(
                period=request.period,
                agent_name=request.agent_name,
                task_id=request.task_id,
                provider=request.provider,
                limit=request.limit or 100,
            )
        except ValueError as exc:
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        return router_pb2.GetUsageResponse(
            rows=[ledger_proto(r) for r in usage.rows],
            calls=usage.calls,
            tokens_in=usage.tokens_in,
            tokens_out=usage.tokens_out,
            cost=usage.cost,
        )

    async def ListProviders(
        self, request: router_pb2.ListProvidersRequest, context: grpc.aio.ServicerContext
    ) -> router_pb2.ListProvidersResponse:
        return router_pb2.ListProvidersResponse(
            providers=[
                router_pb2.ProviderInfo(
                    id=p.id,
                    name=p.name,
                    model=p.model,
                    litellm_model=p.litellm_model,
                    cost_in=p.cost_in,
                    cost_out=p.cost_out,
                    max_context=p.max_context,
                    latency_ms=p.latency_ms,
                    capabilities=sorted(p.capabilities),
                    tags=sorted(p.tags),
                    configured=not why,
                    not_configured_reason=why,
                    breaker=breaker,
                )
                for p, why, breaker in self.router.provider_states()
            ],
            response_cache=cache_stats_proto(self.router.cache.stats()),
        )
