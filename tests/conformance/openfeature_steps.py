"""Step definitions of the OpenFeature gherkin suites, run against StitchdProvider (a small runner over
the official `gherkin` parser: each pickle's steps are matched against the patterns below, in order)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from openfeature import api as openfeature_api
from openfeature.client import OpenFeatureClient
from openfeature.evaluation_context import EvaluationContext
from openfeature.flag_evaluation import FlagEvaluationDetails, FlagEvaluationOptions
from openfeature.hook import Hook, HookContext, HookHints
from openfeature.transaction_context import ContextVarsTransactionContextPropagator

Step = Callable[..., None]
STEPS: list[tuple[re.Pattern[str], Step]] = []


def step(pattern: str) -> Callable[[Step], Step]:
    def register(fn: Step) -> Step:
        STEPS.append((re.compile(f"^{pattern}$"), fn))
        return fn

    return register


class RecordingHook(Hook):
    """Records which stages ran and the details the after / finally stages saw."""

    def __init__(self, name: str = "hook", order: list[str] | None = None) -> None:
        self.name = name
        self.ran: list[str] = []
        self.details: dict[str, FlagEvaluationDetails[Any]] = {}
        self.order = order if order is not None else []

    def before(self, hook_context: HookContext, hints: HookHints) -> EvaluationContext | None:
        self.ran.append("before")
        self.order.append(f"{self.name}:before")
        return None

    def after(self, hook_context: HookContext, details: FlagEvaluationDetails[Any], hints: HookHints) -> None:
        self.ran.append("after")
        self.details["after"] = details

    def error(self, hook_context: HookContext, exception: Exception, hints: HookHints) -> None:
        self.ran.append("error")

    def finally_after(
        self, hook_context: HookContext, details: FlagEvaluationDetails[Any], hints: HookHints
    ) -> None:
        self.ran.append("finally")
        self.details["finally"] = details


@dataclass
class World:
    """One scenario's state; `domains` names the registered providers by state (stable, fatal, ...)."""

    domains: dict[str, str]
    domain: str = ""
    flag_type: str = ""
    key: str = ""
    default: Any = None
    context: dict[str, Any] = field(default_factory=dict)
    details: FlagEvaluationDetails[Any] | None = None
    hook: RecordingHook | None = None
    options: FlagEvaluationOptions | None = None
    order: list[str] = field(default_factory=list)
    snapshot: dict[str, Any] = field(default_factory=dict)
    levels: dict[str, dict[str, Any]] = field(default_factory=dict)
    level_order: list[str] = field(default_factory=list)
    merged: Callable[[], EvaluationContext | None] | None = None  # the context the provider last saw

    def client(self) -> OpenFeatureClient:
        client = openfeature_api.get_client(domain=self.domain)
        if self.hook is not None:
            client.add_hooks([self.hook])
        return client


def typed(flag_type: str, text: str) -> Any:
    """A gherkin cell as a value of the flag type."""
    match flag_type.lower():
        case "boolean":
            return text == "true"
        case "integer":
            return int(text)
        case "float":
            return float(text)
        case "object":
            return json.loads(text.replace('\\"', '"')) if text else None
        case _:
            return text


def evaluate(world: World, *, options: FlagEvaluationOptions | None = None) -> None:
    client = world.client()
    getter: Any = {
        "boolean": client.get_boolean_details,
        "string": client.get_string_details,
        "integer": client.get_integer_details,
        "float": client.get_float_details,
        "object": client.get_object_details,
    }[world.flag_type.lower()]
    context = EvaluationContext(attributes=dict(world.context)) if world.context else None
    world.details = getter(world.key, world.default, context, options)


@step(r"a (stable|fatal|not ready|error|stale) provider")
def given_provider(world: World, state: str) -> None:
    world.domain = world.domains[state]


@step(r"an? (\w+)-flag with key \"([^\"]*)\" and a fallback value \"(.*)\"")
def given_flag(world: World, flag_type: str, key: str, default: str) -> None:
    world.flag_type, world.key, world.default = flag_type, key, typed(flag_type, default)


@step(r"a context containing a key \"(\w+)\", with type \"(\w+)\" and with value \"(.*)\"")
def given_context(world: World, key: str, value_type: str, value: str) -> None:
    world.context[key] = typed(value_type, value)


@step(r"a context containing a key \"(\w+)\" with null value")
def given_null_context(world: World, key: str) -> None:
    world.context[key] = None


@step(r"a client with added hook")
def given_hook(world: World) -> None:
    world.hook = RecordingHook()


@step(r"evaluation options containing specific hooks")
def given_options(world: World) -> None:
    world.options = FlagEvaluationOptions(
        hooks=[RecordingHook("first", world.order), RecordingHook("second", world.order)]
    )


@step(r"the flag was evaluated with details")
def when_evaluated(world: World) -> None:
    evaluate(world)


@step(r"the flag was evaluated with details using the evaluation options")
def when_evaluated_with_options(world: World) -> None:
    evaluate(world, options=world.options)


@step(r"the resolved details value should be \"(.*)\"")
def then_value(world: World, text: str) -> None:
    assert world.details is not None
    assert world.details.value == typed(world.flag_type, text), world.details


@step(r"the reason should be \"(\w+)\"")
def then_reason(world: World, reason: str) -> None:
    assert world.details is not None
    assert world.details.reason == reason, world.details


@step(r"the error-code should be \"(\w*)\"")
def then_error_code(world: World, code: str) -> None:
    assert world.details is not None
    assert (world.details.error_code or "") == code, world.details


@step(r"the variant should be \"([^\"]*)\"")
def then_variant(world: World, variant: str) -> None:
    assert world.details is not None
    assert world.details.variant == variant, world.details


@step(r"the flag key should be \"(.*)\"")
def then_flag_key(world: World, key: str) -> None:
    assert world.details is not None
    assert world.details.flag_key == key


@step(r"the \"(before|error)\" hook should have been executed")
def then_hook_ran(world: World, stage: str) -> None:
    assert world.hook is not None
    assert stage in world.hook.ran, world.hook.ran


@step(r"the \"([\w, ]+)\" hooks should be called with evaluation details")
def then_hook_details(world: World, stages: str, table: list[list[str]]) -> None:
    assert world.hook is not None
    for stage in (s.strip() for s in stages.split(",")):
        details = world.hook.details[stage]
        for data_type, name, value in table[1:]:
            seen = getattr(details, name)
            expected = None if value == "null" else typed(data_type, value)
            assert (seen.value if hasattr(seen, "value") else seen) == expected, (stage, name, seen)


@step(r"the specified hooks should execute during evaluation")
def then_option_hooks_ran(world: World) -> None:
    assert {"first:before", "second:before"} <= set(world.order), world.order


@step(r"the hook order should be maintained")
def then_hook_order(world: World) -> None:
    assert world.order == ["first:before", "second:before"], world.order


@step(r"the provider status should be \"(\w+)\"")
def then_status(world: World, status: str) -> None:
    assert world.client().get_provider_status().value == status


@step(r"an evaluation context with modifiable data")
def given_modifiable_context(world: World) -> None:
    world.context = {"email": "ballmer@none.com", "tags": "a"}
    world.snapshot = dict(world.context)


@step(r"the original evaluation context should remain unmodified")
def then_context_unmodified(world: World) -> None:
    assert world.context == world.snapshot


@step(r"the evaluation details should be immutable")
def then_details_immutable(world: World) -> None:
    assert world.details is not None
    try:
        world.details.value = "changed"
    except (AttributeError, TypeError, dataclasses.FrozenInstanceError):
        return
    raise AssertionError("evaluation details could be changed")


@step(r"the flag was evaluated with details asynchronously")
def when_evaluated_async(world: World) -> None:
    client = world.client()
    getter: Any = {
        "boolean": client.get_boolean_details_async,
        "string": client.get_string_details_async,
        "integer": client.get_integer_details_async,
        "float": client.get_float_details_async,
        "object": client.get_object_details_async,
    }[world.flag_type.lower()]
    world.details = asyncio.run(getter(world.key, world.default))


@step(r"the evaluation should complete without blocking")
def then_completed(world: World) -> None:
    assert world.details is not None
    assert world.details.error_code is None, world.details


# --- evaluation.feature (deprecated v1 wording) ---
_V1_VALUE = r"(?:default value \"?([^\"]*)\"?|a null default value|a fallback value \"?([^\"]*)\"?)"


@step(
    rf"an? (?:non-existent )?(\w+) flag with key \"([^\"]*)\" is evaluated with (?:details and )?{_V1_VALUE}"
)
def when_v1(world: World, flag_type: str, key: str, default: str | None, fallback: str | None) -> None:
    text = default if default is not None else fallback
    world.flag_type, world.key = flag_type, key
    world.default = None if text is None else typed(flag_type, text)
    evaluate(world)


@step(
    r"a string flag with key \"([^\"]*)\" is evaluated as an integer, with details and a fallback value (\d+)"
)
def when_v1_mistyped(world: World, key: str, default: str) -> None:
    world.flag_type, world.key, world.default = "integer", key, int(default)
    evaluate(world)


@step(r"the resolved (\w+) value should be \"?([^\"]*)\"?")
def then_v1_value(world: World, flag_type: str, text: str) -> None:
    assert world.details is not None
    assert world.details.value == typed(flag_type, text), world.details


@step(r"the resolved (\w+) details value should be \"?([^\"]*?)\"?, the variant should be \"(\w+)\", "
      r"and the reason should be \"(\w+)\"")  # fmt: skip
def then_v1_details(world: World, flag_type: str, text: str, variant: str, reason: str) -> None:
    assert world.details is not None
    got = (world.details.value, world.details.variant, world.details.reason)
    assert got == (typed(flag_type, text), variant, reason), world.details


@step(r"the resolved object (?:details )?value should be contain fields .*")
def then_v1_object(world: World) -> None:
    assert world.details is not None
    assert world.details.value == {"showImages": True, "title": "Check out these pics!", "imagesPerPage": 100}


@step(r"the variant should be \"(\w+)\", and the reason should be \"(\w+)\"")
def then_v1_variant_reason(world: World, variant: str, reason: str) -> None:
    assert world.details is not None
    assert (world.details.variant, world.details.reason) == (variant, reason)


@step(r"the default (\w+) value should be returned")
def then_v1_default(world: World, flag_type: str) -> None:
    assert world.details is not None
    assert world.details.value == world.default


@step(r"the reason should indicate an error and the error code should indicate an? [\w ]+ with \"(\w+)\"")
def then_v1_error(world: World, code: str) -> None:
    assert world.details is not None
    assert (world.details.reason, world.details.error_code) == ("ERROR", code), world.details


def run(world: World, steps: list[dict[str, Any]]) -> None:
    """Run a pickle's steps; a step no pattern matches fails the scenario."""
    for pickle_step in steps:
        text = pickle_step["text"]
        table = pickle_step.get("argument", {}).get("dataTable")
        for pattern, fn in STEPS:
            match = pattern.match(text)
            if match is None:
                continue
            if table is not None:
                fn(world, *match.groups(), [[c["value"] for c in row["cells"]] for row in table["rows"]])
            else:
                fn(world, *match.groups())
            break
        else:
            raise AssertionError(f"no step matches {text!r}")


# --- contextMerging.feature ---
class MergedContextHook(Hook):
    """The `Before Hooks` level: returns its entries as the context to merge in."""

    def __init__(self, entries: dict[str, Any]) -> None:
        self.entries = entries

    def before(self, hook_context: HookContext, hints: HookHints) -> EvaluationContext | None:
        return EvaluationContext(attributes=dict(self.entries))


@step(r"a stable provider with retrievable context is registered")
def given_retrievable(world: World) -> None:
    world.domain = world.domains["retrievable"]


@step(r"A context entry with key \"([^\"]*)\" and value \"([^\"]*)\" is added to the \"([\w ]+)\" level")
def given_level_entry(world: World, key: str, value: str, level: str) -> None:
    world.levels.setdefault(level, {})[key] = value


@step(r"A table with levels of increasing precedence")
def given_level_order(world: World, table: list[list[str]]) -> None:
    world.level_order = [row[0] for row in table]


@step(r"Context entries for each level from API level down to the \"([\w ]+)\" level, with key \"(\w+)\" "
      r"and value \"[\w ]+\"")  # fmt: skip
def given_entries_down_to(world: World, last: str, key: str) -> None:
    for level in world.level_order[: world.level_order.index(last) + 1]:
        world.levels.setdefault(level, {})[key] = level  # each level its own value: precedence shows


@step(r"Some flag was evaluated")
def when_some_flag(world: World) -> None:
    def context(level: str) -> EvaluationContext:
        return EvaluationContext(attributes=dict(world.levels.get(level, {})))

    openfeature_api.set_transaction_context_propagator(ContextVarsTransactionContextPropagator())
    openfeature_api.set_evaluation_context(context("API"))
    openfeature_api.set_transaction_context(context("Transaction"))
    client = openfeature_api.get_client(domain=world.domain)
    client.context = context("Client")
    hooks: list[Hook] = (
        [MergedContextHook(world.levels["Before Hooks"])] if "Before Hooks" in world.levels else []
    )
    options = FlagEvaluationOptions(hooks=hooks)
    world.details = client.get_boolean_details("boolean-flag", False, context("Invocation"), options)


@step(r"The merged context contains an entry with key \"([^\"]*)\" and value \"([^\"]*)\"")
def then_merged(world: World, key: str, value: str) -> None:
    assert world.merged is not None
    merged = world.merged()
    assert merged is not None
    assert merged.attributes.get(key) == value, merged
