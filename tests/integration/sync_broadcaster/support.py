"""A tenant driven through the HTTP API plus broadcasters and SDK streams against the real stack."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from grpclib.client import Channel

from schemas.generated.stitchd.flags.v1 import FlagSyncServiceStub, SyncRequest, SyncResponse
from sync_broadcaster.app import Broadcaster, BroadcasterSettings, build_broadcaster
from tests.integration.gateway.support import Api, Tenant
from tests.stack import Stack

WAIT = 20.0  # upper bound so a broken server fails instead of hanging; never asserted on
BOOL_FLAG: dict[str, Any] = {
    "key": "checkout",
    "value_type": "bool",
    "variants": [{"key": "on", "value": True}, {"key": "off", "value": False}],
    "enabled": True,
    "off_variant": "off",
    "fallthrough": {"variant_key": "off"},
}


def plan_rule(plan: str, rule_id: str = "pro") -> dict[str, Any]:
    condition = {
        "kind": "leaf",
        "attribute": {"context_type": "user", "name": "plan"},
        "op": "eq",
        "value": plan,
    }
    return {"id": rule_id, "condition": condition, "serve": {"variant_key": "on"}}


class Admin:
    """Flag changes as the tenant admin; each returns the store position of its write."""

    def __init__(self, api: Api, tenant: Tenant) -> None:
        self.api = api
        self.tenant = tenant
        self.flags = f"/v1/environments/{tenant.environment_id}/flags"

    async def create_flag(self, body: dict[str, Any] | None = None) -> int:
        created = await self.api.ok("POST", self.flags, token=self.tenant.token, json=body or BOOL_FLAG)
        return int(created["position"])

    async def toggle(self, enabled: bool, key: str = "checkout") -> int:
        current = await self.api.ok("GET", f"{self.flags}/{key}", token=self.tenant.token)
        body = {"enabled": enabled, "version": current["version"]}
        return int(
            (await self.api.ok("POST", f"{self.flags}/{key}/toggle", token=self.tenant.token, json=body))[
                "position"
            ]
        )

    async def rules(self, *rules: dict[str, Any], key: str = "checkout") -> int:
        current = await self.api.ok("GET", f"{self.flags}/{key}", token=self.tenant.token)
        body = {"version": current["version"], "rules": list(rules)}
        return int(
            (await self.api.ok("PUT", f"{self.flags}/{key}/rules", token=self.tenant.token, json=body))[
                "position"
            ]
        )

    async def segment(self, body: dict[str, Any]) -> int:
        path = f"/v1/environments/{self.tenant.environment_id}/segments"
        return int((await self.api.ok("POST", path, token=self.tenant.token, json=body))["position"])


@asynccontextmanager
async def broadcaster(
    stack: Stack, *, history_limit: int = 1000, heartbeat: float = 30.0
) -> AsyncIterator[Broadcaster]:
    settings = BroadcasterSettings(
        database_url=stack.pg_url, nats_url=stack.nats_url, host="127.0.0.1", port=0,
        heartbeat_seconds=heartbeat, history_limit=history_limit,
    )  # fmt: skip
    async with build_broadcaster(settings) as running:
        yield running


class Sdk:
    """One SyncDefinitions stream (grpclib + betterproto client), read message by message."""

    def __init__(self, port: int, key: str, since: int) -> None:
        self.channel = Channel("127.0.0.1", port)
        stub = FlagSyncServiceStub(self.channel, metadata={"x-sdk-key": key})
        self.stream = stub.sync_definitions(SyncRequest(since_sequence=since)).__aiter__()

    async def next(self) -> SyncResponse:
        """The next message that is not a heartbeat."""
        while True:
            msg = await asyncio.wait_for(anext(self.stream), WAIT)
            if not msg.is_heartbeat:
                return msg


@asynccontextmanager
async def sdk(port: int, key: str, since: int = 0) -> AsyncIterator[Sdk]:
    client = Sdk(port, key, since)
    try:
        yield client
    finally:
        client.channel.close()


def without_time(msg: SyncResponse) -> SyncResponse:
    """The message with its server timestamp cleared (it differs between encodings)."""
    msg.server_timestamp_ms = 0
    return msg
