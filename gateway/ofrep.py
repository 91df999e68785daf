"""OFREP, the OpenFeature Remote Evaluation Protocol, on the gateway (docs/openfeature.md).

`POST /ofrep/v1/evaluate/flags/{key}` (server-side providers) and the bulk `POST /ofrep/v1/evaluate/flags`
(static-context providers, with an ETag over the definitions and the context) answer from the same
DefinitionsCache and evaluation path as /evaluate and /evaluate-all (gateway/evaluate.py), exposures
included for single-flag evaluations. `GET /ofrep/v1/event-stream` is the SSE change stream of the
bulk answer's `eventStreams`: one `refetchEvaluation` per definition sequence. The environment is the
SDK key's, sent as `Authorization: Bearer`, `X-API-Key` or `x-sdk-key`. Bodies follow the OFREP
OpenAPI, not our error envelope; only 401, 413 and 5xx (no OFREP body defined or possible) use it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, HeaderParameter, QueryParameter
from litestar.response import ServerSentEvent, ServerSentEventMessage

from domain.context import ContextSet
from gateway.auth.principals import MAX_CREDENTIAL_LENGTH, SDK_KEY_HEADER, bearer_token, deps_of
from gateway.errors import Unauthenticated
from gateway.evaluate import definitions_of, evaluate_every, evaluate_one
from gateway.ofrep_answers import (
    answer,
    bulk_etag,
    config_etag,
    config_sequence,
    failure,
    has_rules,
    is_not_found,
    matches,
)
from gateway.ofrep_body import Refused, contexts_of
from gateway.positions import requested_position
from readmodels.definitions import DefinitionsCache

AnyRequest = Request[Any, Any, Any]
PREFIX = "/ofrep/v1"
EVENT_STREAM = f"{PREFIX}/event-stream"
API_KEY_HEADER = "x-api-key"
HEARTBEAT_SECONDS = 15.0
INACTIVITY_DELAY_SECONDS = 120
JSON = "application/json"
OFREP_SECURITY: list[dict[str, list[str]]] = [{"sdk_key": []}, {"ofrep_api_key": []}, {"sdk_key_bearer": []}]


def presented_key(request: AnyRequest) -> str | None:
    """The SDK key from `Authorization: Bearer`, `X-API-Key` or `x-sdk-key`, in that order."""
    for raw in (
        bearer_token(request),
        request.headers.get(API_KEY_HEADER),
        request.headers.get(SDK_KEY_HEADER),
    ):
        if raw is not None and raw.strip():
            return raw.strip()
    return None


async def environment_of(request: AnyRequest, cache: DefinitionsCache) -> tuple[UUID, str]:
    """(environment, raw key) of the request's SDK key; 401 when it is missing, unknown or revoked.

    As on /evaluate: the key first (rate-limited refresh, misses remembered), then the caller's
    min-position; the key is checked again after it, so a revocation the caller knows of is seen.
    """
    raw = presented_key(request)
    if raw is None:
        raise Unauthenticated("missing SDK key (Authorization: Bearer, X-API-Key or x-sdk-key)")
    if len(raw) > MAX_CREDENTIAL_LENGTH:
        raise Unauthenticated("sdk key not found")
    log = deps_of(request).event_log
    owner = await cache.resolve_key(raw, log)
    position = await requested_position(request) if owner is not None else None
    if position is not None:
        await cache.reach(position, log)
        owner = cache.key_owner(raw)
    if owner is None:
        raise Unauthenticated("sdk key not found")
    return owner[0], raw


async def _contexts(request: AnyRequest) -> ContextSet:
    return contexts_of(await request.body())  # within the app's body size limit (413 beyond)


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response[bytes]:
    return Response(msgspec.json.encode(body), status_code=status, media_type=JSON, headers=headers)


class OfrepController(Controller):
    path = PREFIX
    tags = ["ofrep"]
    security = OFREP_SECURITY

    @post("/evaluate/flags/{key:str}", status_code=200, operation_id="ofrepEvaluateFlag")
    async def evaluate_flag(self, request: AnyRequest, key: FromPath[str]) -> Response[bytes]:
        """Evaluate one flag for an OpenFeature context (OFREP evaluateFlag); emits an exposure."""
        cache = await definitions_of(request)
        env_id, _ = await environment_of(request, cache)
        try:
            contexts = await _contexts(request)
        except Refused as refused:
            return _json(failure(refused.code, refused.details, key), 400)
        body = answer(
            await evaluate_one(request, cache, env_id, key, contexts), has_rules(cache, env_id, key)
        )
        if is_not_found(body):
            return _json(body, 404)
        return _json(body, 400 if "errorCode" in body else 200)

    @post("/evaluate/flags", status_code=200, operation_id="ofrepEvaluateFlagsBulk")
    async def evaluate_flags(
        self,
        request: AnyRequest,
        if_none_match: Annotated[str | None, HeaderParameter(name="If-None-Match", required=False)] = None,
        flag_config_etag: Annotated[str | None, QueryParameter(name="flagConfigEtag", required=False)] = None,
        flag_config_last_modified: Annotated[  # advisory (OFREP ADR 0008): unused
            str | None,
            QueryParameter(name="flagConfigLastModified", required=False, description="accepted, unused"),
        ] = None,
    ) -> Response[bytes]:
        """Every flag for one static context (OFREP evaluateFlagsBulk); 304 when If-None-Match is current."""
        cache = await definitions_of(request)
        env_id, _ = await environment_of(request, cache)
        try:
            contexts = await _contexts(request)
        except Refused as refused:
            return _json(failure(refused.code, refused.details), 400)
        wanted = config_sequence(flag_config_etag)
        if wanted is not None and wanted > cache.sequence(env_id):
            # the stream told of a change not folded here yet
            await cache.catch_up(deps_of(request).event_log)
        if matches(if_none_match, etag := bulk_etag(env_id, cache.sequence(env_id), contexts)):
            return Response(b"", status_code=304, headers={"ETag": etag})
        results = await evaluate_every(request, cache, env_id, contexts)
        sequence = results[0].sequence if results else cache.sequence(env_id)
        etag = bulk_etag(env_id, sequence, contexts)
        body = {
            "flags": [answer(r, has_rules(cache, env_id, r.flag_key)) for r in results],
            "metadata": {"sequence": sequence},
            "eventStreams": [
                {
                    "type": "sse",
                    "endpoint": {"requestUri": EVENT_STREAM},
                    "inactivityDelaySec": INACTIVITY_DELAY_SECONDS,
                }
            ],
        }
        return _json(body, headers={"ETag": etag})

    @get("/event-stream", operation_id="ofrepEventStream")
    async def event_stream(
        self,
        request: AnyRequest,
        last_event_id: Annotated[str | None, HeaderParameter(name="Last-Event-ID", required=False)] = None,
    ) -> ServerSentEvent:
        """SSE: a `refetchEvaluation` message at connect and after every change of the definitions."""
        cache = await definitions_of(request)
        env_id, raw = await environment_of(request, cache)
        seen = (
            int(last_event_id)
            if last_event_id and last_event_id.isdigit() and len(last_event_id) < 19
            else None
        )
        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        return ServerSentEvent(_changes(cache, env_id, raw, seen), headers=headers)


async def _changes(
    cache: DefinitionsCache, env_id: UUID, raw_key: str, seen: int | None
) -> AsyncIterator[ServerSentEventMessage]:
    """Until the key is revoked: a message whenever the environment's sequence differs from `seen`."""
    while cache.key_owner(raw_key) is not None:
        sequence = cache.sequence(env_id)
        if sequence != seen:
            seen = sequence
            data = msgspec.json.encode({"type": "refetchEvaluation", "etag": config_etag(sequence)})
            yield ServerSentEventMessage(data=data.decode(), event="message", id=str(sequence))
            continue
        try:
            await asyncio.wait_for(asyncio.shield(cache.changed(env_id)), HEARTBEAT_SECONDS)
        except TimeoutError:
            yield ServerSentEventMessage(comment="keepalive")
