"""The OpenFeature gherkin suites (vendored) against StitchdProvider on the real stack: test-flags.json
loaded as Stitchd flags through the management API, definitions synced by a real broadcaster."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from gherkin.parser import Parser
from gherkin.pickles.compiler import Compiler
from openfeature import api as openfeature_api
from openfeature import transaction_context
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import OpenFeatureError
from openfeature.flag_evaluation import FlagResolutionDetails
from openfeature.provider import ProviderStatus
from stitchd_sdk import SdkOptions
from stitchd_sdk.openfeature import StitchdProvider

from stitchd.embedded import free_port
from tests.conformance.openfeature_flags import GHERKIN_DIR, flag_bodies
from tests.conformance.openfeature_steps import World, run
from tests.e2e.test_sdk_e2e import running_broadcaster
from tests.integration.gateway.module_stack import module_api_fixture, module_stack_fixture  # noqa: F401
from tests.integration.gateway.support import Api
from tests.integration.sync_broadcaster.support import WAIT
from tests.stack import Stack

pytestmark = [pytest.mark.integration, pytest.mark.e2e]
FEATURES = ("evaluation", "evaluation_v2", "metadata", "hooks", "contextMerging")

# Scenario name -> the one-line reason it is skipped.
SKIPS = {
    "Resolves based on context": "its flag `context-aware` is not in the vendored test-flags.json",
    "CACHED reason": "the in-process provider evaluates every call; nothing is answered from a cache",
    "DISABLED reason": "a disabled Stitchd flag serves its off variant (the platform's answer)",
    "Flag metadata in evaluation details": "Stitchd flags carry no custom metadata (ours: sequence...)",
    "Returns metadata": "Stitchd flags carry no custom metadata (ours: sequence, reason, rule)",
    "Evaluation context immutability": "openfeature-sdk's details are a mutable dataclass (SDK side)",
    "Returns no metadata": "every Stitchd answer has metadata (the definition sequence and our reason)",
}
FEATURE_SKIPS: dict[str, str] = {}
# Provider states the scenarios ask for that StitchdProvider cannot be put in on purpose.
STATE_SKIPS = {
    "not ready": "StitchdProvider.initialize blocks until the first snapshot: never observable as NOT_READY",
    "error": "StitchdProvider has no recoverable error state (a refused key is FATAL, an outage STALE)",
}


def _pickles() -> list[Any]:
    found = []
    for name in FEATURES:
        document: Any = Parser().parse((GHERKIN_DIR / f"{name}.feature").read_text())
        document["uri"] = name
        for pickle in Compiler().compile(document):
            found.append(pytest.param(name, pickle, id=f"{name}: {pickle['name']}#{pickle['id']}"))
    return found


class RetrievableContextProvider(StitchdProvider):
    """StitchdProvider that keeps the (merged) context it was last asked to evaluate for."""

    last_context: EvaluationContext | None = None

    def resolve_boolean_details(
        self, flag_key: str, default_value: bool, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[bool]:
        self.last_context = evaluation_context
        return super().resolve_boolean_details(flag_key, default_value, evaluation_context)


def _options(stale_after_s: float = 10.0) -> SdkOptions:
    return SdkOptions(
        backoff_initial_s=0.05, backoff_max_s=0.2, stale_after_s=stale_after_s, idle_reconnect_s=3.0
    )


async def _registered(domain: str, provider: StitchdProvider) -> None:
    try:
        await asyncio.to_thread(openfeature_api.set_provider_and_wait, provider, domain)
    except OpenFeatureError:
        assert domain == "fatal"


@dataclass
class Providers:
    domains: dict[str, str]
    retrievable: RetrievableContextProvider


@pytest.fixture(scope="module")
async def providers(module_stack: Stack, module_api: Api) -> AsyncIterator[Providers]:
    """Providers by state: `stable` over the loaded flags, `fatal` (refused key), `stale` (stream gone)."""
    tenant = await module_api.tenant("Gherkin")
    flags = f"/v1/environments/{tenant.environment_id}/flags"
    for body, rules in flag_bodies():
        await module_api.ok("POST", flags, token=tenant.token, json=body)
        if rules:
            current = await module_api.ok("GET", f"{flags}/{body['key']}", token=tenant.token)
            put = {"version": current["version"], "rules": rules}
            await module_api.ok("PUT", f"{flags}/{body['key']}/rules", token=tenant.token, json=put)
    port, stale_port = free_port(), free_port()
    async with running_broadcaster(module_stack, port), running_broadcaster(module_stack, stale_port) as gone:
        url = f"http://127.0.0.1:{port}"
        rest = "http://gateway.invalid"
        await _registered(
            "stable", StitchdProvider(url, rest, tenant.sdk_key, options=_options(), timeout=WAIT)
        )
        retrievable = RetrievableContextProvider(url, rest, tenant.sdk_key, options=_options(), timeout=WAIT)
        await _registered("retrievable", retrievable)
        await _registered(
            "fatal", StitchdProvider(url, rest, "sdk_live_refused", options=_options(), timeout=WAIT)
        )
        stale = StitchdProvider(f"http://127.0.0.1:{stale_port}", rest, tenant.sdk_key, options=_options(2.5),
                                timeout=WAIT, watch_interval_s=0.1)  # fmt: skip
        await _registered("stale", stale)
        await gone.stop()
        async with asyncio.timeout(WAIT):
            while openfeature_api.get_client("stale").get_provider_status() is not ProviderStatus.STALE:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        try:
            yield Providers(
                domains={n: n for n in ("stable", "fatal", "stale", "retrievable")}, retrievable=retrievable
            )
        finally:
            await asyncio.to_thread(openfeature_api.clear_providers)


@pytest.mark.parametrize(("feature", "pickle"), _pickles())
async def test_scenario(providers: Providers, feature: str, pickle: dict[str, Any]) -> None:
    if feature in FEATURE_SKIPS:
        pytest.skip(FEATURE_SKIPS[feature])
    if pickle["name"] in SKIPS:
        pytest.skip(SKIPS[pickle["name"]])
    wanted = [s["text"].removeprefix("a ").removesuffix(" provider") for s in pickle["steps"]]
    for state, reason in STATE_SKIPS.items():
        if state in wanted:
            pytest.skip(reason)
    world = World(domains=providers.domains, merged=lambda: providers.retrievable.last_context)
    try:
        await asyncio.to_thread(run, world, pickle["steps"])
    finally:
        openfeature_api.set_evaluation_context(EvaluationContext())
        transaction_context.clear_transaction_context_propagator()


def test_every_feature_file_is_vendored() -> None:
    assert all(Path(GHERKIN_DIR / f"{name}.feature").is_file() for name in FEATURES)
