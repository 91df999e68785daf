"""The edge's HTTP side: `/evaluate`, `/evaluate-all` and OFREP, answered from the relays' memory.

Same bodies, answers, bounds and error envelope as the gateway's routes (schemas/http_sdk.py,
gateway/ofrep_body.py, gateway/ofrep_answers.py); keys are looked up by hash among the configured
ones. Exposures of /evaluate and OFREP single-flag evaluations go upstream through the SDK's
tracker (deduplicated as an SDK's are); list-segment memberships are the SDK's list-checks.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Litestar, Request, Response, get, post
from litestar.params import FromPath, HeaderParameter, JSONBody, QueryParameter

from domain.context import ContextSet
from domain.flags.model import EvaluationResult
from domain.tenancy.sdk_keys import hash_sdk_key
from edge.relay import Relay
from gateway.auth.principals import MAX_CREDENTIAL_LENGTH, SDK_KEY_HEADER
from gateway.bodies import StrictRequest
from gateway.errors import EXCEPTION_HANDLERS, InvalidArgument, NotFound, Unauthenticated, Unavailable
from gateway.ofrep import presented_key
from gateway.ofrep_answers import answer, bulk_etag, failure, is_not_found, matches
from gateway.ofrep_body import Refused, contexts_of
from gateway.query import check_query
from schemas.http_sdk import (
    ContextsBody,
    EvaluateAllBody,
    EvaluateAllView,
    EvaluateBody,
    EvaluationView,
    evaluation_view,
)

AnyRequest = Request[Any, Any, Any]
RELAYS = "edge_relays"


def _relay(request: AnyRequest, raw: str | None) -> Relay:
    """The relay of a configured key (by hash); 401 otherwise, 503 while it holds nothing."""
    if not raw or len(raw) > MAX_CREDENTIAL_LENGTH:
        raise Unauthenticated("missing or unknown SDK key")
    relays: dict[str, Relay] = request.app.state[RELAYS]
    relay = relays.get(hash_sdk_key(raw.strip()))
    if relay is None or relay.refused:
        raise Unauthenticated("sdk key not found")
    if not relay.ready:
        raise Unavailable("no definitions yet (upstream not reached, no cache); retry")
    return relay


def _sdk_relay(request: AnyRequest, env_id: UUID) -> Relay:
    relay = _relay(request, request.headers.get(SDK_KEY_HEADER))
    if relay.environment_id != str(env_id):
        raise NotFound(f"environment {env_id} not found")
    return relay


def _contexts(body: ContextsBody) -> ContextSet:
    contexts = body.context_set()
    if isinstance(contexts, str):
        raise InvalidArgument(contexts)
    return contexts


def _has_rules(relay: Relay, flag_key: str) -> bool:
    flag = relay.client.store.current.flags.get(flag_key)
    return flag is not None and bool(flag.definition.config.rules)


def _view(relay: Relay, result: EvaluationResult) -> EvaluationView:
    flag = relay.client.store.current.flags.get(result.flag_key)
    return evaluation_view(result, is_enabled=flag is not None and flag.definition.config.enabled)


async def _every(relay: Relay, contexts: ContextSet) -> list[EvaluationResult]:
    keys = sorted(relay.client.store.current.flags)
    return [await relay.client.result(key, contexts, expose=False) for key in keys]


@post("/v1/environments/{env_id:uuid}/evaluate", status_code=200)
async def evaluate(
    request: AnyRequest, env_id: FromPath[UUID], data: JSONBody[EvaluateBody]
) -> EvaluationView:
    """As the gateway's /evaluate (exposure included)."""
    relay = _sdk_relay(request, env_id)
    return _view(relay, await relay.client.result(data.flag_key, _contexts(data), expose=True))


@post("/v1/environments/{env_id:uuid}/evaluate-all", status_code=200)
async def evaluate_all(
    request: AnyRequest, env_id: FromPath[UUID], data: JSONBody[EvaluateAllBody]
) -> EvaluateAllView:
    """As the gateway's /evaluate-all (no exposures)."""
    relay = _sdk_relay(request, env_id)
    results = await _every(relay, _contexts(data))
    return EvaluateAllView(flags=[_view(relay, r) for r in results], sequence=relay.sequence)


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response[bytes]:
    return Response(
        msgspec.json.encode(body), status_code=status, media_type="application/json", headers=headers
    )


@post("/ofrep/v1/evaluate/flags/{key:str}", status_code=200)
async def ofrep_flag(request: AnyRequest, key: FromPath[str]) -> Response[bytes]:
    """OFREP evaluateFlag, as on the gateway."""
    relay = _relay(request, presented_key(request))
    try:
        contexts = contexts_of(await request.body())
    except Refused as refused:
        return _json(failure(refused.code, refused.details, key), 400)
    body = answer(await relay.client.result(key, contexts, expose=True), _has_rules(relay, key))
    if is_not_found(body):
        return _json(body, 404)
    return _json(body, 400 if "errorCode" in body else 200)


@post("/ofrep/v1/evaluate/flags", status_code=200)
async def ofrep_bulk(
    request: AnyRequest,
    if_none_match: Annotated[str | None, HeaderParameter(name="If-None-Match", required=False)] = None,
    flag_config_etag: Annotated[str | None, QueryParameter(name="flagConfigEtag", required=False)] = None,
) -> Response[bytes]:
    """OFREP evaluateFlagsBulk with the ETag over definitions and context (polling; no event stream)."""
    relay = _relay(request, presented_key(request))
    try:
        contexts = contexts_of(await request.body())
    except Refused as refused:
        return _json(failure(refused.code, refused.details), 400)
    env_id = UUID(relay.environment_id)
    if matches(if_none_match, etag := bulk_etag(env_id, relay.sequence, contexts)):
        return Response(b"", status_code=304, headers={"ETag": etag})
    results = await _every(relay, contexts)
    flags = [answer(r, _has_rules(relay, r.flag_key)) for r in results]
    body = {"flags": flags, "metadata": {"sequence": relay.sequence}}
    return _json(body, headers={"ETag": bulk_etag(env_id, relay.sequence, contexts)})


@get("/healthz")
async def healthz(request: AnyRequest) -> dict[str, Any]:
    """Per environment: its sequence and the upstream stream's state (fresh, cached, refused...)."""
    relays: dict[str, Relay] = request.app.state[RELAYS]
    environments = [
        {"environment_id": r.environment_id, "sequence": r.sequence, "state": r.client.status().state.value}
        for r in relays.values()
    ]
    return {"status": "ok", "environments": environments}


def create_edge_app(relays: dict[str, Relay], *, max_body_bytes: int = 1 << 20) -> Litestar:
    """The edge's HTTP app over `relays` (SDK key hash -> relay)."""
    app = Litestar(
        route_handlers=[evaluate, evaluate_all, ofrep_flag, ofrep_bulk, healthz],
        exception_handlers=EXCEPTION_HANDLERS,
        request_class=StrictRequest,
        before_request=check_query,
        request_max_body_size=max_body_bytes,
        openapi_config=None,
    )
    app.state[RELAYS] = relays
    return app
