"""Benchmark: flag evaluations per second over 100,000 distinct contexts, beside a floor.

The floor, measured in the same run and loop shape, is one dict look-up plus one mmh3 hash per call:
what any hashed evaluation costs at least. `ratio` = value / baseline (the share of the floor's speed).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final
from uuid import UUID

import mmh3

from domain.compiled import compile_flag
from domain.conditions.ast import And, Attribute, Leaf, Op
from domain.conditions.segments import NO_SEGMENTS
from domain.context import Context, ContextSet
from domain.evaluation import evaluate
from domain.flags.model import (
    Allocation,
    Bucket,
    FlagConfig,
    FlagDefinition,
    Rule,
    Serve,
    ValueType,
    Variant,
)

CONTEXTS: Final = 100_000
RUNS: Final = 5
SEQUENCE: Final = 42
FLOOR: Final = "floor: dict look-up + mmh3 per call"
COUNTRIES: Final = ("US", "DE", "FR", "US", "BR")
PLANS: Final = ("free", "pro", "enterprise", "team")


def _flag(
    key: str, fallthrough: Serve, *rules: Rule, variants: tuple[str, ...] = ("on", "off")
) -> FlagDefinition:
    return FlagDefinition(
        key=key,
        project_id=UUID(int=1),
        environment_id=UUID(int=2),
        value_type=ValueType.STRING,
        variants=tuple(Variant(key=v, value=v) for v in variants),
        config=FlagConfig(enabled=True, off_variant=variants[-1], fallthrough=fallthrough, rules=rules),
    )


def flags() -> dict[str, FlagDefinition]:
    """The three benchmark flags by row name."""
    targeted = Rule(
        id="us-paid",
        condition=And(
            (
                Leaf(Attribute("user", "country"), Op.EQ, "US"),
                Leaf(Attribute("user", "plan"), Op.IN, ("pro", "enterprise")),
            )
        ),
        serve=Serve(variant_key="on"),
    )
    half = Allocation(buckets=(Bucket("on", 500), Bucket("off", 500)))
    thirds = Allocation(buckets=(Bucket("a", 330), Bucket("b", 330), Bucket("c", 340)))
    return {
        "eval.on_off": _flag("plain", Serve(variant_key="on")),
        "eval.rule_or_50pct": _flag("targeted", Serve(allocation=half), targeted),
        "eval.split_33_33_34": _flag("three-way", Serve(allocation=thirds), variants=("a", "b", "c")),
    }


def regex_flag() -> FlagDefinition:
    """A rule matching the context key with a regex (RE2): a separate row, not one of the synced three."""
    sevens = Rule(
        id="sevens",
        condition=Leaf(Attribute("user"), Op.MATCHES, r"^user-\d*7$"),
        serve=Serve(variant_key="on"),
    )
    return _flag("regex", Serve(variant_key="off"), sevens)


def contexts() -> list[ContextSet]:
    """100,000 distinct users with a country and a plan."""
    return [
        ContextSet(
            (
                Context(
                    context_type="user",
                    key=f"user-{i}",
                    parameters={"country": COUNTRIES[i % 5], "plan": PLANS[(i // 5) % 4]},
                ),
            )
        )
        for i in range(CONTEXTS)
    ]


def _best_rate(loop: Callable[[], None]) -> float:
    best = float("inf")
    for _ in range(RUNS):
        started = time.perf_counter()
        loop()
        best = min(best, time.perf_counter() - started)
    return CONTEXTS / best


def _floor(population: list[ContextSet]) -> Callable[[], None]:
    table = {"plain": 1, "targeted": 2, "three-way": 3}

    def loop() -> None:
        for contexts in population:
            table["targeted"]  # the look-up a flag cache costs
            mmh3.hash(contexts.contexts[0].key, 0, False)

    return loop


def _compiled(definition: FlagDefinition, population: list[ContextSet]) -> Callable[[], None]:
    cache = {definition.key: compile_flag(definition)}
    key = definition.key

    def loop() -> None:
        for contexts in population:
            cache[key].evaluate(contexts, NO_SEGMENTS, SEQUENCE)

    return loop


def _interpreted(definition: FlagDefinition, population: list[ContextSet]) -> Callable[[], None]:
    def loop() -> None:
        for contexts in population:
            evaluate(definition, contexts, segments=NO_SEGMENTS, sequence=SEQUENCE)

    return loop


def run() -> list[dict[str, object]]:
    """One row per flag (compiled), a regex rule, and the rule flag interpreted, each beside the floor."""
    population = contexts()
    floor = _best_rate(_floor(population))
    measured = [(name, _best_rate(_compiled(flag, population))) for name, flag in flags().items()]
    measured.append(("eval.regex_rule", _best_rate(_compiled(regex_flag(), population))))
    rule_flag = flags()["eval.rule_or_50pct"]
    measured.append(("eval.rule_or_50pct.interpreted", _best_rate(_interpreted(rule_flag, population))))
    return [
        {
            "name": name,
            "value": round(rate),
            "unit": "evals/s",
            "baseline_name": FLOOR,
            "baseline_value": round(floor),
            "ratio": round(rate / floor, 3),
        }
        for name, rate in measured
    ]


if __name__ == "__main__":
    for row in run():
        print(row)
