"""A hostile client over the served OpenAPI (schemathesis): the document tells the truth.

The real gateway is served by uvicorn on the module's real stack; schemathesis reads /docs/openapi.json
from it and sends positive and negative requests (examples, coverage and fuzzing phases) with real ids
for path parameters, authenticated as the document declares: a tenant admin's JWT, the environment's
SDK key, a system admin for /v1/admin. Every check that makes the document a contract runs: no 5xx,
every status and content type documented, every response matching its schema, schema-valid requests
accepted, schema-violating ones refused, 405 with a correct `Allow` header for undeclared methods.
Errors must also be the envelope (the response schema of every 4xx is ErrorEnvelope).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import schemathesis
import uvicorn
from schemathesis.engine import events, from_schema

from gateway.app import OPENAPI_PATH, create_app
from tests.integration.gateway.module_stack import module_api_fixture, module_stack_fixture  # noqa: F401
from tests.integration.gateway.support import PASSWORD, Api
from tests.integration.gateway.test_input_fuzz import Fuzz, fuzz  # noqa: F401

pytestmark = pytest.mark.integration

MAX_EXAMPLES = 6  # per operation and mode: bounded so the run stays short on a loaded machine
# Examples and fuzzing. The coverage phase (boundary values, undeclared methods) sends thousands of
# requests here (minutes); undeclared methods and `Allow` are checked below for every path instead.
PHASES = {"stateful": {"enabled": False}, "coverage": {"enabled": False}}
# Schema-valid requests the domain still refuses with 400 for a rule the document cannot state yet
# (cross-field or state rules); every other check holds for them. Shrink this list, never grow it.
KNOWN_REFUSALS = {
    "POST /v1/environments/{env_id}/evaluate": "contexts need distinct context_type (not JSON Schema)",
    "POST /v1/environments/{env_id}/evaluate-all": "contexts need distinct context_type (not JSON Schema)",
    "POST /v1/environments/{env_id}/flags": "variant values must fit value_type; off_variant must exist",
    "POST /v1/environments/{env_id}/segments": "conditions are checked by the domain (references, values)",
    "PUT /v1/environments/{env_id}/experiments/{experiment_id}": "variants, weights and metrics must exist",
    "POST /v1/management/environments/{environment_id}/sdk-keys": "body environment_id must match the path",
    "POST /v1/management/projects/{project_id}/environments": "names are checked by the domain",
    "POST /v1/management/users": "email and password rules (auth area)",
    "POST /v1/admin/orgs/{org_id}/users": "email and password rules (auth area)",
    "POST /v1/admin/seed-user": "email and password rules (auth area)",
    "PUT /v1/management/users/{user_id}/password": "password rules (auth area)",
    "GET /v1/environments/{env_id}/flags/{key}/usage": "`from` before `to`, at most 92 days apart",
}
ACCEPTABLE = ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "positive_data_acceptance",
    "negative_data_rejection",
    "unsupported_method",
    "allow_header_conformance",
)
# The path segment before `{key}` says which seeded object a key names.
KEY_OF_COLLECTION = {"flags": "f1", "segments": "s1", "event-definitions": "m1"}


@dataclass(frozen=True)
class Served:
    base_url: str
    spec: dict[str, Any]


@pytest.fixture(scope="module")
async def served(fuzz: Fuzz) -> AsyncIterator[Served]:  # noqa: F811
    """The gateway over the seeded stack on a free local port, for schemathesis' own HTTP client."""
    app = create_app(fuzz.api.deps, bootstrap=False)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 (uvicorn offers no event to wait on)
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    base_url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base_url) as client:
            spec = (await client.get(f"{OPENAPI_PATH}/openapi.json")).json()
        yield Served(base_url, spec)
    finally:
        server.should_exit = True
        await task


async def spare_ids(api: Api, f: Fuzz) -> dict[str, str]:
    """A second SDK key and user the destructive tenancy routes may revoke and delete."""
    t = f.tenant
    key = await api.ok(
        "POST", f"/v1/management/environments/{t.environment_id}/sdk-keys", token=t.token, json={"name": "s"}
    )
    member = {"email": "spare@fuzz.test", "password": PASSWORD, "org_role": "org_member"}
    user = await api.ok("POST", "/v1/management/users", token=t.token, json=member)
    return {"key_id": key["sdk_key_id"], "user_id": user["user_id"]}


def operations(f: Fuzz, spare: dict[str, str]) -> list[dict[str, Any]]:
    """Per-path parameter values: real ids everywhere, the seeded object's key under its collection."""
    values = {**f.values, **spare}
    keyed = [
        {"include-path-regex": f"/{re.escape(collection)}/\\{{key\\}}", "parameters": {"key": key}}
        for collection, key in KEY_OF_COLLECTION.items()
    ]
    return [*keyed, {"include-path-regex": ".*", "parameters": values}]


def config(served: Served, *, bearer: str | None, sdk_key: str | None, ops: list[dict[str, Any]]) -> Any:
    auth: dict[str, Any] = {}
    if bearer is not None:
        auth["bearer_jwt"] = {"bearer": bearer}
    if sdk_key is not None:
        auth["sdk_key"] = {"api_key": sdk_key}
    return schemathesis.Config.from_dict(
        {
            "base-url": served.base_url,
            "seed": 17,
            "generation": {"max-examples": MAX_EXAMPLES, "mode": "all", "database": "none"},
            "phases": PHASES,
            "checks": {
                "enabled": False,
                **{name: {"enabled": True} for name in CHECKS},
                # a valid body can still meet state: a duplicate (409), a quota or throttle (429), or an
                # Idempotency-Key the run already used with another body (422)
                "positive_data_acceptance": {"enabled": True, "expected-statuses": ACCEPTABLE},
            },
            "auth": {"openapi": auth},
            "operations": ops,
            "request-timeout": 30,
        }
    )


def failures_of(stream: Iterator[events.EngineEvent]) -> list[str]:
    """Every failed check (deduplicated by operation, check and title) and every engine error."""
    found: set[str] = set()
    for event in stream:
        if isinstance(event, events.ScenarioFinished):
            for case_id, checks in event.recorder.checks.items():
                for check in checks:
                    label = event.recorder.label
                    if check.failure_info is None or (
                        check.name == "positive_data_acceptance" and label in KNOWN_REFUSALS
                    ):
                        continue
                    failure = check.failure_info.failure
                    case = event.recorder.cases[case_id].value
                    request = (
                        f"{case.method} {case.formatted_path} q={case.query} body={str(case.body)[:200]}"
                    )
                    found.add(f"{label} [{check.name}] {failure.title}: {failure.message[:300]} | {request}")
        elif isinstance(event, events.NonFatalError | events.FatalError):
            found.add(f"error: {event.info.format()[:500]}" if hasattr(event, "info") else f"error: {event}")
    return sorted(found)


def run(served: Served, cfg: Any, select: dict[str, Any]) -> list[str]:
    schema = schemathesis.openapi.from_dict(served.spec, config=cfg).include(**select)
    return failures_of(iter(from_schema(schema).execute()))


async def test_the_openapi_document_is_a_true_contract(served: Served, fuzz: Fuzz) -> None:  # noqa: F811
    ops = operations(fuzz, await spare_ids(fuzz.api, fuzz))
    t = fuzz.tenant
    sdk = config(served, bearer=None, sdk_key=t.sdk_key, ops=ops)
    tenant = config(served, bearer=t.token, sdk_key=None, ops=ops)
    admin = config(served, bearer=fuzz.root, sdk_key=None, ops=ops)
    own = config(served, bearer=fuzz.bystander, sdk_key=None, ops=ops)
    found: list[str] = []
    # SDK-key routes first: the tenant run may revoke keys (only the spare one is named in paths).
    found += await asyncio.to_thread(run, served, sdk, {"path_regex": "^/v1/environments/"})
    not_admin = "^/(?!v1/admin/|v1/auth/password)"
    found += await asyncio.to_thread(run, served, tenant, {"path_regex": not_admin})
    found += await asyncio.to_thread(run, served, admin, {"path_regex": "^/v1/admin/"})
    found += await asyncio.to_thread(run, served, own, {"path_regex": "^/v1/auth/password$"})
    assert not found, "\n".join(found)


UNDECLARED = ("PATCH", "TRACE")


async def test_every_path_answers_undeclared_methods_with_405_and_a_true_allow_header(
    served: Served,
    fuzz: Fuzz,  # noqa: F811
) -> None:
    """OPTIONS and undeclared methods list exactly the path's documented methods (RFC 9110 `Allow`)."""
    values = {**fuzz.values, "key": "f1"}
    tenant = {"Authorization": f"Bearer {fuzz.tenant.token}", "x-sdk-key": fuzz.tenant.sdk_key}
    admin = {"Authorization": f"Bearer {fuzz.root}"}
    async with httpx.AsyncClient(base_url=served.base_url) as client:
        for template, item in served.spec["paths"].items():
            documented = {m.upper() for m in item if m in ("get", "post", "put", "patch", "delete")}
            path = re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], template)
            client.headers = httpx.Headers(admin if template.startswith("/v1/admin/") else tenant)
            options = await client.options(path)
            assert options.status_code == 204, (template, options.text)
            assert set(options.headers["allow"].split(", ")) == {*documented, "OPTIONS"}, template
            for method in sorted(set(UNDECLARED) - documented):
                refused = await client.request(method, path)
                assert refused.status_code == 405, (template, method, refused.text)
                assert set(refused.headers["allow"].split(", ")) == {*documented, "OPTIONS"}, template
                assert set(refused.json()) == {"error", "code"}
