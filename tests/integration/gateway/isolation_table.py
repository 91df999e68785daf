"""The tenant-isolation matrix: per route, what org A's credentials get against org B's objects.

Every route of the OpenAPI spec needs an entry in MATRIX (test_isolation_matrix fails on a route
without one): the statuses A's admin JWT and A's SDK key must receive against B's objects, and a body
valid for B's object, so a 404 can only come from tenancy, never from validation.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

from tests.integration.gateway.support import PASSWORD, Api, Tenant

PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")
METHODS = ("get", "post", "put", "patch", "delete")
BEARER, SDK = frozenset({"bearer_jwt"}), frozenset({"sdk_key"})
EITHER = BEARER | SDK
DOCS = "/docs"
PLAIN = r"{\1}"  # a Litestar path parameter without its type, as the spec spells it


@dataclass
class World:
    """One organisation with one of everything; every name carries `marker` so leaks are findable."""

    tenant: Tenant
    marker: str
    user_id: str
    flag: str
    segment: str
    segment_id: str
    metric: str
    experiment_id: str
    job_id: str
    versions: dict[str, int]
    changeset_id: str = ""
    provider_id: str = ""  # an auth provider (issue 13)

    def secrets(self) -> list[str]:
        """Facts of this organisation that another one must never see."""
        t = self.tenant
        ids = [t.org_id, t.project_id, t.environment_id, t.sdk_key_id]
        named = [self.user_id, self.segment_id, self.experiment_id, self.job_id, t.sdk_key, t.admin_email]
        named += [self.provider_id] if self.provider_id else []
        return [*map(str, ids), *named, self.marker]


Body = Callable[[World], Any] | None


@dataclass(frozen=True)
class Entry:
    """What A's JWT and A's SDK key receive on this route against B's objects; the security it declares."""

    security: frozenset[str]
    jwt: frozenset[int]
    sdk: frozenset[int]
    body: Body = None
    query: dict[str, str] | None = None
    mixed: frozenset[int] = frozenset({404})  # A's JWT, A's environment, B's object named in the path


def tenant_route(body: Body = None, **more: Any) -> Entry:
    return Entry(BEARER, frozenset({404}), frozenset({401}), body, **more)


def admin_route(body: Body = None) -> Entry:
    return Entry(BEARER, frozenset({403}), frozenset({401}), body)


def own_route(status: set[int], body: Body = None) -> Entry:
    """A route on the caller's own account/organisation: B's objects named in the body are not found."""
    return Entry(BEARER, frozenset(status), frozenset({401}), body)


def sdk_route(body: Body = None) -> Entry:
    return Entry(SDK, frozenset({401}), frozenset({404}), body)


def either_route(body: Body = None) -> Entry:
    return Entry(EITHER, frozenset({404}), frozenset({404}), body)


OPEN = {"GET /healthz", "POST /v1/auth/login", "POST /v1/auth/refresh", "POST /v1/admin/seed-user"}
# Single sign-on login (issue 13): before any credential; they name providers, never a tenant's data.
OPEN |= {"GET /v1/auth/providers", "POST /v1/auth/oidc/authorize", "POST /v1/auth/oidc/callback"}
F, S, E, X = (
    "/v1/environments/{env_id}/flags",
    "/v1/environments/{env_id}/segments",
    "/v1/environments/{env_id}/event-definitions",
    "/v1/environments/{env_id}/experiments",
)
MGMT = "/v1/management"
AP = f"{MGMT}/auth-providers"
SAML_BODY = {"idp_metadata_xml": "<EntityDescriptor/>", "sp_entity_id": "https://sp.stitchd.test"}


def _v(kind: str) -> Callable[[World], dict[str, Any]]:
    return lambda w: {"version": w.versions[kind]}


def _leaf(w: World) -> dict[str, Any]:
    return {
        "kind": "leaf",
        "attribute": {"context_type": "user", "name": "email"},
        "op": "eq",
        "value": w.marker,
    }


def _rules(w: World) -> dict[str, Any]:
    return {"version": w.versions["flag"], "rules": [{"condition": _leaf(w), "serve": {"variant_key": "on"}}]}


def _event(w: World) -> dict[str, Any]:
    return {"metric_key": w.metric, "context_key": "u1", "value": 1.5}


def _exposure(w: World) -> dict[str, Any]:
    return {"flag_key": w.flag, "variant_key": "on", "context_key": "u1"}


def check_body(w: World) -> dict[str, Any]:
    return {"segment_key": w.segment, "context_key": f"member-{w.marker}"}


# SAML login (issue 13 part 3): open like every login route; they name a provider, never a tenant's data.
OPEN |= {
    "POST /v1/auth/saml/sso",
    "POST /v1/auth/saml/acs",
    "POST /v1/auth/saml/{provider_id}/acs",
    "GET /v1/auth/saml/{provider_id}/metadata",
}


MATRIX: dict[str, Entry] = {
    "PUT /v1/auth/password": own_route(
        {400, 401, 403}, lambda w: {"new_password": "n" * 12, "current_password": "wrong"}
    ),
    "GET /v1/auth/orgs": own_route({200}),
    "POST /v1/auth/switch-org": own_route({404}, lambda w: {"target_org_id": str(w.tenant.org_id)}),
    "GET /v1/auth/invitations": own_route({200}),
    "POST /v1/auth/invitations/{org_id}/accept": own_route({404}),  # B never invited A's admin
    "DELETE /v1/auth/invitations/{org_id}": own_route({404}),
    "GET /v1/admin/orgs": admin_route(),
    "POST /v1/admin/orgs": admin_route(lambda w: {"name": "Sneaky"}),
    "POST /v1/admin/orgs/{org_id}/users": admin_route(lambda w: {"email": "s@x.test", "password": PASSWORD}),
    f"GET {MGMT}/projects": own_route({200}),
    f"POST {MGMT}/projects": own_route({404}, lambda w: {"name": "Sneaky", "org_id": str(w.tenant.org_id)}),
    f"GET {MGMT}/projects/{{project_id}}/environments": tenant_route(),
    f"POST {MGMT}/projects/{{project_id}}/environments": tenant_route(lambda w: {"name": "sneaky"}),
    f"GET {MGMT}/environments/{{environment_id}}/sdk-keys": tenant_route(),
    f"POST {MGMT}/environments/{{environment_id}}/sdk-keys": tenant_route(lambda w: {"name": "sneaky"}),
    f"DELETE {MGMT}/environments/{{environment_id}}/sdk-keys/{{key_id}}": tenant_route(),
    # the seed deployment guide's aliases of the three above
    "GET /api/v1/environments/{environment_id}/sdk-keys": tenant_route(),
    "POST /api/v1/environments/{environment_id}/sdk-keys": tenant_route(lambda w: {"name": "sneaky"}),
    "DELETE /api/v1/sdk-keys/{key_id}": tenant_route(),
    f"GET {MGMT}/users": own_route({200}),
    f"POST {MGMT}/users": own_route(
        {404}, lambda w: {"email": "s@x.test", "password": PASSWORD, "org_id": str(w.tenant.org_id)}
    ),
    f"DELETE {MGMT}/users/{{user_id}}": tenant_route(),
    f"PUT {MGMT}/users/{{user_id}}/password": tenant_route(lambda w: {"new_password": "n" * 12}),
    f"GET {F}": tenant_route(),
    f"POST {F}": tenant_route(
        lambda w: {
            "key": "sneaky",
            "value_type": "bool",
            "variants": [{"key": "off", "value": False}, {"key": "on", "value": True}],
        }
    ),
    f"GET {F}/{{key}}": tenant_route(),
    f"GET {F}/{{key}}/usage": tenant_route(),  # helper-ops
    "GET /v1/environments/{env_id}/sdk-connections": tenant_route(),  # helper-ops
    f"PUT {F}/{{key}}": tenant_route(lambda w: {"version": w.versions["flag"], "name": "sneaky"}),
    f"DELETE {F}/{{key}}": tenant_route(query={"version": "0"}),
    f"POST {F}/{{key}}/variants": tenant_route(
        lambda w: {"key": "extra", "value": True, "version": w.versions["flag"]}
    ),
    f"PUT {F}/{{key}}/rules": tenant_route(_rules),
    f"PUT {F}/{{key}}/hashing": tenant_route(
        lambda w: {"version": w.versions["flag"], "configs": [{"parameter_key": "id"}]}
    ),
    f"POST {F}/{{key}}/toggle": tenant_route(lambda w: {"enabled": True, "version": w.versions["flag"]}),
    f"POST {F}/{{key}}/archive": tenant_route(_v("flag")),
    f"POST {F}/{{key}}/unarchive": tenant_route(_v("flag")),
    f"POST {F}/{{key}}/revert": tenant_route(lambda w: {"position": 1, "version": w.versions["flag"]}),
    f"GET {F}/{{key}}/as-of": tenant_route(query={"position": str(2**40)}),
    # Scoped by stream ids derived from the caller's own project/environment: an empty page, never B's.
    f"GET {F}/{{key}}/audit": tenant_route(mixed=frozenset({200, 404})),
    f"GET {S}": tenant_route(),
    f"POST {S}": tenant_route(lambda w: {"key": "sneaky", "kind": "list", "included_keys": ["x"]}),
    f"GET {S}/{{key}}": tenant_route(),
    f"PUT {S}/{{key}}": tenant_route(lambda w: {"version": w.versions["segment"], "name": "sneaky"}),
    f"DELETE {S}/{{key}}": tenant_route(query={"version": "0"}),
    f"GET {S}/{{key}}/members": tenant_route(),
    f"POST {S}/{{key}}/members": tenant_route(
        lambda w: {"add": ["sneaky"], "version": w.versions["segment"]}
    ),
    f"GET {S}/{{key}}/as-of": tenant_route(query={"position": str(2**40)}),
    # Scoped by stream ids derived from the caller's own project/environment: an empty page, never B's.
    f"GET {S}/{{key}}/audit": tenant_route(mixed=frozenset({200, 404})),
    f"POST {S}/list-check": sdk_route(check_body),
    f"POST {S}/batch-list-check": sdk_route(lambda w: {"checks": [check_body(w)]}),
    f"GET {E}": tenant_route(),
    f"POST {E}": tenant_route(lambda w: {"key": "sneaky", "value_type": "bool"}),
    f"GET {E}/{{key}}": tenant_route(),
    f"PUT {E}/{{key}}": tenant_route(lambda w: {"version": w.versions["metric"], "description": "sneaky"}),
    f"DELETE {E}/{{key}}": tenant_route(query={"version": "0"}),
    f"GET {X}": tenant_route(),
    f"POST {X}": tenant_route(
        lambda w: {"name": "sneaky", "flag_key": w.flag, "variant_keys": ["off", "on"]}
    ),
    f"GET {X}/{{experiment_id}}": tenant_route(),
    f"PUT {X}/{{experiment_id}}": tenant_route(
        lambda w: {"version": w.versions["experiment"], "name": "sneaky"}
    ),
    f"DELETE {X}/{{experiment_id}}": tenant_route(query={"version": "0"}),
    f"GET {X}/{{experiment_id}}/iterations": tenant_route(),
    f"GET {X}/{{experiment_id}}/results": tenant_route(),
    f"POST {X}/{{experiment_id}}/recompute": tenant_route(),
    f"POST {X}/{{experiment_id}}/transition": tenant_route(
        lambda w: {"new_status": "active", "version": w.versions["experiment"]}
    ),
    f"GET {AP}": own_route({200}),
    f"POST {AP}": own_route(
        {404}, lambda w: {"display_name": "S", "saml": SAML_BODY, "org_id": str(w.tenant.org_id)}
    ),
    f"GET {AP}/{{provider_id}}": tenant_route(),
    f"PUT {AP}/{{provider_id}}": tenant_route(lambda w: {"version": 1, "enabled": False}),
    f"DELETE {AP}/{{provider_id}}": tenant_route(query={"version": "1"}),
    f"GET {AP}/{{provider_id}}/audit": tenant_route(),
    f"GET {MGMT}/sso-settings": own_route({200}),
    f"PUT {MGMT}/sso-settings": own_route({200}, lambda w: {"require_sso": False}),  # A's own switch only
    "GET /v1/environments/{env_id}/stats-jobs/{job_id}": tenant_route(),
    "GET /v1/environments/{env_id}/audit": tenant_route(),
    "POST /v1/environments/{env_id}/changesets": tenant_route(
        lambda w: {"operations": [{"op": "set_enabled", "flag": w.flag, "enabled": True}]}
    ),
    "POST /v1/environments/{env_id}/changesets/{changeset_id}/revert": tenant_route(),
    "GET /v1/environments/{env_id}/definitions": tenant_route(query={"as_of_sequence": "1"}),
    "GET /v1/environments/{env_id}/definitions/diff": tenant_route(query={"from": "0", "to": "1"}),
    "POST /v1/environments/{env_id}/evaluate": sdk_route(lambda w: {"flag_key": w.flag, "context_key": "u1"}),
    "POST /v1/environments/{env_id}/evaluate-all": sdk_route(lambda w: {"context_key": "u1"}),
    "POST /v1/environments/{env_id}/events": either_route(_event),
    "POST /v1/environments/{env_id}/events/batch": either_route(lambda w: {"events": [_event(w)]}),
    "POST /v1/environments/{env_id}/exposures/batch": either_route(lambda w: {"exposures": [_exposure(w)]}),
}


async def build_world(api: Api, name: str) -> World:
    """A tenant with a flag, a list segment, an event definition, an experiment and a stats job."""
    t = await api.tenant(name)
    m = f"zz{uuid4().hex[:10]}"
    env = f"/v1/environments/{t.environment_id}"

    async def make(path: str, body: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await api.ok("POST", env + path, token=t.token, json=body)
        return result

    variants = [{"key": "off", "value": False}, {"key": "on", "value": True}]
    flag = await make("/flags", {"key": f"flag-{m}", "value_type": "bool", "variants": variants, "name": m})
    seg = await make("/segments", {"key": f"seg-{m}", "kind": "list", "included_keys": [f"member-{m}"]})
    metric = await make(
        "/event-definitions", {"key": f"metric-{m}", "value_type": "double", "description": m}
    )
    body = {"name": m, "flag_key": flag["key"], "variant_keys": ["off", "on"], "metric_keys": [metric["key"]]}
    experiment = await make("/experiments", body)
    job = await make(f"/experiments/{experiment['id']}/recompute", {})
    changeset = await make(
        "/changesets", {"operations": [{"op": "create_segment", "key": f"cs-{m}", "kind": "list"}]}
    )
    saml = {"display_name": m, "saml": SAML_BODY}
    provider = await api.ok("POST", "/v1/management/auth-providers", token=t.token, json=saml)
    return World(
        tenant=t,
        marker=m,
        user_id=(await api.login(t.admin_email))["user_id"],
        flag=flag["key"],
        segment=seg["key"],
        segment_id=seg["id"],
        metric=metric["key"],
        experiment_id=experiment["id"],
        job_id=job["job_id"],
        changeset_id=changeset["changeset_id"],
        provider_id=provider["provider"]["id"],
        versions={
            k: v["version"]
            for k, v in (("flag", flag), ("segment", seg), ("metric", metric), ("experiment", experiment))
        },
    )


def fill(path: str, env_of: World, objects_of: World) -> str:
    """`path` with the environment/project/org of `env_of` and every other id or key of `objects_of`."""
    t = env_of.tenant
    keys = {"flags": objects_of.flag, "segments": objects_of.segment, "event-definitions": objects_of.metric}
    values = {
        "env_id": str(t.environment_id),
        "environment_id": str(t.environment_id),
        "project_id": str(t.project_id),
        "org_id": str(t.org_id),
        "key_id": str(objects_of.tenant.sdk_key_id),
        "user_id": objects_of.user_id,
        "experiment_id": objects_of.experiment_id,
        "job_id": objects_of.job_id,
        "changeset_id": objects_of.changeset_id,
        "provider_id": objects_of.provider_id,
    }

    def value(match: re.Match[str]) -> str:
        if match.group(1) == "key":
            return keys[path[: match.start()].rstrip("/").rsplit("/", 1)[-1]]
        return values[match.group(1)]

    return PARAM.sub(value, path)
