"""StitchdProvider on openfeature-sdk over the real stack (broadcaster gRPC): typed details with our
metadata, and the provider-event sequence under a change, a stale stream and a refused key."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from openfeature import api as openfeature_api
from openfeature.evaluation_context import EvaluationContext
from openfeature.event import EventDetails, ProviderEvent
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import Reason
from openfeature.provider import ProviderStatus
from stitchd_sdk import SdkOptions
from stitchd_sdk.openfeature import StitchdProvider

from stitchd.embedded import free_port
from tests import stack as stack_fixtures
from tests.e2e.test_sdk_e2e import broadcaster_on, running_broadcaster
from tests.integration.gateway import support
from tests.integration.gateway.support import Api, Tenant
from tests.integration.sync_broadcaster.support import BOOL_FLAG, WAIT, Admin, plan_rule
from tests.stack import Stack

pytestmark = [pytest.mark.integration, pytest.mark.e2e]
stack, api = stack_fixtures.stack, support.api  # fixtures, found by name
EVENTS = (
    ProviderEvent.PROVIDER_READY,
    ProviderEvent.PROVIDER_CONFIGURATION_CHANGED,
    ProviderEvent.PROVIDER_STALE,
    ProviderEvent.PROVIDER_ERROR,
)


class Recorder:
    """Provider events as (event, details) in arrival order, awaitable by count."""

    def __init__(self) -> None:
        self.seen: list[tuple[ProviderEvent, EventDetails]] = []
        self._lock = threading.Lock()

    def handler(self, event: ProviderEvent) -> Any:
        def record(details: EventDetails) -> None:
            with self._lock:
                self.seen.append((event, details))

        return record

    async def until(self, event: ProviderEvent) -> EventDetails:
        async with asyncio.timeout(WAIT):
            while True:
                with self._lock:
                    found = [d for e, d in self.seen if e is event]
                if found:
                    return found[-1]
                await asyncio.sleep(0.02)

    async def until_count(self, event: ProviderEvent, count: int) -> None:
        async with asyncio.timeout(WAIT):
            while True:
                with self._lock:
                    if sum(e is event for e, _ in self.seen) >= count:
                        return
                await asyncio.sleep(0.02)

    def kinds(self) -> list[ProviderEvent]:
        with self._lock:
            return [e for e, _ in self.seen]


@contextmanager
def provider_client(provider: StitchdProvider, domain: str, recorder: Recorder) -> Iterator[Any]:
    client = openfeature_api.get_client(domain=domain)
    for event in EVENTS:
        client.add_handler(event, recorder.handler(event))
    try:
        yield client
    finally:
        openfeature_api.clear_providers()


def _provider(tenant: Tenant, port: int, key: str | None = None) -> StitchdProvider:
    options = SdkOptions(backoff_initial_s=0.05, backoff_max_s=0.2, stale_after_s=1.5, idle_reconnect_s=3.0)
    return StitchdProvider(f"http://127.0.0.1:{port}", "http://gateway.invalid", key or tenant.sdk_key,
                           options=options, timeout=WAIT, watch_interval_s=0.1)  # fmt: skip


async def test_details_events_on_change_and_stale(stack: Stack, api: Api) -> None:
    tenant = await api.tenant()
    admin = Admin(api, tenant)
    await admin.create_flag()
    await admin.create_flag({**BOOL_FLAG, "key": "static", "fallthrough": {"variant_key": "on"}})
    position = await admin.rules(plan_rule("pro"))
    recorder = Recorder()
    port = free_port()
    async with running_broadcaster(stack, port) as broadcaster:
        provider = _provider(tenant, port)
        with provider_client(provider, "stitchd-events", recorder) as client:
            recorder.seen.clear()  # the no-op provider's READY, replayed to handlers as they register
            await asyncio.to_thread(openfeature_api.set_provider_and_wait, provider, "stitchd-events")
            await recorder.until(ProviderEvent.PROVIDER_READY)
            pro = client.get_boolean_details("checkout", False, EvaluationContext("u1", {"plan": "pro"}))
            static = client.get_boolean_details("static", False, EvaluationContext("u1"))
            fallthrough = client.get_boolean_details("checkout", True, EvaluationContext("u1", {"plan": "x"}))
            missing = client.get_string_details("nope", "d", EvaluationContext("u1"))
            mistyped = client.get_string_details("checkout", "d", EvaluationContext("u1"))
            as_object = client.get_object_details("checkout", {"d": 1}, EvaluationContext("u1"))
            changed_at = await admin.toggle(False, key="static")
            changed = await recorder.until(ProviderEvent.PROVIDER_CONFIGURATION_CHANGED)
            after = client.get_boolean_details("static", True, EvaluationContext("u1"))
            await broadcaster.stop()
            await recorder.until(ProviderEvent.PROVIDER_STALE)
            assert client.get_provider_status() is ProviderStatus.STALE
            kinds = recorder.kinds()
    assert (pro.value, pro.variant, pro.reason, pro.error_code) == (True, "on", Reason.TARGETING_MATCH, None)
    assert pro.flag_metadata == {"sequence": position, "reason": "TARGETING_MATCH", "ruleId": "pro"}
    assert (static.value, static.reason) == (True, Reason.STATIC)
    assert (fallthrough.value, fallthrough.reason) == (False, Reason.DEFAULT)
    assert (missing.value, missing.error_code, missing.reason) == (
        "d",
        ErrorCode.FLAG_NOT_FOUND,
        Reason.ERROR,
    )
    assert (mistyped.value, mistyped.error_code) == ("d", ErrorCode.TYPE_MISMATCH)
    assert (as_object.value, as_object.error_code) == ({"d": 1}, ErrorCode.TYPE_MISMATCH)
    assert changed.flags_changed == ["static"]
    assert changed.metadata == {"sequence": changed_at}
    assert (after.value, after.reason) == (False, Reason.DISABLED)
    assert kinds[0] is ProviderEvent.PROVIDER_READY
    assert kinds.index(ProviderEvent.PROVIDER_CONFIGURATION_CHANGED) < kinds.index(
        ProviderEvent.PROVIDER_STALE
    )


async def test_a_refused_key_is_provider_error(stack: Stack, api: Api) -> None:
    tenant = await api.tenant()
    recorder = Recorder()
    port = free_port()
    async with running_broadcaster(stack, port):
        provider = _provider(tenant, port, key="sdk_live_not-a-key")
        with provider_client(provider, "stitchd-refused", recorder) as client:
            recorder.seen.clear()  # the no-op provider's READY, replayed to handlers as they register
            openfeature_api.set_provider(provider, "stitchd-refused")
            error = await recorder.until(ProviderEvent.PROVIDER_ERROR)
            status = client.get_provider_status()
            fallback = client.get_boolean_details("checkout", True)
    assert recorder.kinds()[-1] is ProviderEvent.PROVIDER_ERROR
    assert status is ProviderStatus.FATAL
    assert error.error_code == ErrorCode.PROVIDER_FATAL
    assert (fallback.value, fallback.error_code) == (True, ErrorCode.PROVIDER_FATAL)


async def test_the_event_sequence_under_a_change_a_stale_stream_and_a_revoked_key(
    stack: Stack, api: Api
) -> None:
    tenant = await api.tenant()
    admin = Admin(api, tenant)
    await admin.create_flag({**BOOL_FLAG, "key": "static", "fallthrough": {"variant_key": "on"}})
    keys = f"/v1/management/environments/{tenant.environment_id}/sdk-keys"
    await api.ok("POST", keys, token=tenant.token, json={"name": "second"})
    recorder = Recorder()
    port = free_port()
    provider = _provider(tenant, port)
    first = broadcaster_on(stack, port)
    await first.start()
    try:
        with provider_client(provider, "stitchd-sequence", recorder) as client:
            recorder.seen.clear()  # the no-op provider's READY, replayed to handlers as they register
            await asyncio.to_thread(openfeature_api.set_provider_and_wait, provider, "stitchd-sequence")
            await admin.toggle(False, key="static")
            await recorder.until(ProviderEvent.PROVIDER_CONFIGURATION_CHANGED)
            await first.stop()
            await recorder.until(ProviderEvent.PROVIDER_STALE)
            readies = recorder.kinds().count(ProviderEvent.PROVIDER_READY)
            async with running_broadcaster(stack, port):
                await recorder.until_count(ProviderEvent.PROVIDER_READY, readies + 1)
                await api.ok("DELETE", f"{keys}/{tenant.sdk_key_id}", token=tenant.token)
                error = await recorder.until(ProviderEvent.PROVIDER_ERROR)
                status = client.get_provider_status()
                served = client.get_boolean_details("static", True, EvaluationContext("u1"))
                kinds = recorder.kinds()
    finally:
        await first.stop()
    shown = [k for i, k in enumerate(kinds) if i == 0 or kinds[i - 1] is not k]  # a repeat says nothing new
    assert shown == [
        ProviderEvent.PROVIDER_READY,
        ProviderEvent.PROVIDER_CONFIGURATION_CHANGED,
        ProviderEvent.PROVIDER_STALE,
        ProviderEvent.PROVIDER_READY,
        ProviderEvent.PROVIDER_ERROR,
    ]
    assert (status, error.error_code) == (ProviderStatus.ERROR, ErrorCode.GENERAL)
    assert "refuses the SDK key" in str(error.message)
    assert (served.value, served.reason, served.error_code) == (False, Reason.DISABLED, None)  # last known
