"""Random flag and segment mutations for the sync property, and their execution over the HTTP API.

Mutations name keys from small fixed pools; executing one first creates whatever it relies on (the flag,
every segment its conditions name), so any generated sequence is a valid sequence of API calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from domain.context import Context
from tests.integration.gateway.support import Api, Tenant

Json = dict[str, Any]
FLAG_VARIANTS: dict[str, list[Json]] = {
    "f-bool": [{"key": "on", "value": True}, {"key": "off", "value": False}],
    "f-str": [{"key": k, "value": k.upper()} for k in ("a", "b", "c")],
    "f-int": [{"key": f"v{n}", "value": n} for n in (1, 2, 3)],
}
FLAG_KEYS = tuple(FLAG_VARIANTS)
MISSING_FLAG = "f-never-created"  # evaluated too: FLAG_NOT_FOUND must agree as well
RULE_SEGMENTS = ("adults", "pros")
LIST_SEGMENTS = ("beta", "vip")
CONTEXT_KEYS = tuple(f"u{i}" for i in range(8))
PLANS = ("free", "pro", "team")
COUNTRIES = ("de", "fr", "us")
DEFAULT_SEGMENT_CONDITION: Json = {
    "kind": "leaf",
    "attribute": {"context_type": "user", "name": "age"},
    "op": "gte",
    "value": 18,
}


def leaf(name: str | None, op: str, value: Any) -> Json:
    """A leaf on a user attribute (`name=None`: the context key)."""
    attribute = {"context_type": "user"} if name is None else {"context_type": "user", "name": name}
    return {"kind": "leaf", "attribute": attribute, "op": op, "value": value}


def conditions(segments: tuple[str, ...]) -> st.SearchStrategy[Json]:
    """Small condition trees over plan, age, country, the context key and the given segments."""
    keys = st.lists(st.sampled_from(CONTEXT_KEYS), min_size=1, max_size=3, unique=True)
    leaves = st.one_of(
        st.sampled_from(PLANS).map(lambda p: leaf("plan", "eq", p)),
        st.lists(st.sampled_from(PLANS), min_size=1, max_size=2, unique=True).map(
            lambda p: leaf("plan", "in", p)
        ),
        st.tuples(st.sampled_from(["lt", "gte"]), st.integers(10, 40)).map(lambda a: leaf("age", *a)),
        st.sampled_from(COUNTRIES).map(lambda c: leaf("country", "neq", c)),
        st.sampled_from(["d", "f", "u"]).map(lambda c: leaf("country", "starts_with", c)),
        st.just(leaf("age", "exists", None)),
        keys.map(lambda k: leaf(None, "in", k)),
    )
    if segments:  # as likely as all attribute leaves together: segment changes must matter
        in_segment = st.sampled_from(segments).map(lambda s: leaf(None, "in_segment", s))
        leaves = st.one_of(leaves, in_segment)
    return st.recursive(
        leaves,
        lambda inner: st.one_of(
            st.lists(inner, min_size=1, max_size=2).map(lambda c: {"kind": "and", "children": c}),
            st.lists(inner, min_size=1, max_size=2).map(lambda c: {"kind": "or", "children": c}),
            inner.map(lambda c: {"kind": "not", "child": c}),
        ),
        max_leaves=3,
    )


def serves(flag_key: str) -> st.SearchStrategy[Json]:
    """A fixed variant or a split over the flag's variants (weights in 0.1 %, summing to 100 %)."""
    keys = [v["key"] for v in FLAG_VARIANTS[flag_key]]
    cuts = st.lists(st.integers(0, 1000), min_size=len(keys) - 1, max_size=len(keys) - 1).map(sorted)

    def split(points: list[int]) -> Json:
        edges = [0, *points, 1000]
        buckets = [{"variant_key": k, "weight_milli": edges[i + 1] - edges[i]} for i, k in enumerate(keys)]
        return {"allocation": {"buckets": buckets}}

    return st.one_of(st.sampled_from(keys).map(lambda k: {"variant_key": k}), cuts.map(split))


def rules(flag_key: str, min_size: int = 0) -> st.SearchStrategy[list[Json]]:
    """Up to three rules (conditions may name any segment); ids are assigned by position."""
    rule = st.tuples(conditions(RULE_SEGMENTS + LIST_SEGMENTS), serves(flag_key))
    return st.lists(rule, min_size=min_size, max_size=3).map(
        lambda rs: [{"id": f"r{i}", "condition": c, "serve": s} for i, (c, s) in enumerate(rs)]
    )


@dataclass(frozen=True)
class Mutation:
    """One API write: `kind` names it, `key` the flag or segment, `body` its generated content."""

    kind: str
    key: str
    body: Any


def _flag_mutation(key: str) -> st.SearchStrategy[Mutation]:
    enabled = st.sampled_from([True, True, False])  # a disabled flag never reaches its rules
    created = st.tuples(enabled, rules(key), serves(key))
    return st.one_of(
        st.builds(Mutation, st.just("create_flag"), st.just(key), created),
        st.builds(Mutation, st.just("rules"), st.just(key), rules(key, min_size=1)),
        st.builds(Mutation, st.just("toggle"), st.just(key), enabled),
        st.builds(Mutation, st.just("fallthrough"), st.just(key), serves(key)),
    )


members = st.lists(st.sampled_from(CONTEXT_KEYS), max_size=3, unique=True)
flag_mutations = st.sampled_from(FLAG_KEYS).flatmap(_flag_mutation)
segment_mutations = st.one_of(
    st.builds(Mutation, st.just("rule_segment"), st.sampled_from(RULE_SEGMENTS), conditions(LIST_SEGMENTS)),
    st.builds(Mutation, st.just("members"), st.sampled_from(LIST_SEGMENTS), st.tuples(members, members)),
)
mutations = st.one_of(flag_mutations, flag_mutations, segment_mutations)  # flag changes half of the time
parameters = st.fixed_dictionaries(
    {},
    optional={
        "plan": st.sampled_from(PLANS),
        "age": st.integers(10, 40),
        "country": st.sampled_from(COUNTRIES),
    },
)
contexts = st.builds(
    lambda key, params: Context(context_type="user", key=key, parameters=params),
    st.sampled_from(CONTEXT_KEYS),
    parameters,
)


class Executor:
    """Applies mutations to one tenant's environment over HTTP; `position` is the last write's."""

    def __init__(self, api: Api, tenant: Tenant) -> None:
        self.api = api
        self.token = tenant.token
        self.env = f"/v1/environments/{tenant.environment_id}"
        self.flags: set[str] = set()
        self.segments: set[str] = set()
        self.position = 0

    async def apply(self, m: Mutation) -> None:
        """Execute one mutation (creating what it relies on first)."""
        if m.kind == "rule_segment":
            await self._rule_segment(m.key, m.body)
        elif m.kind == "members":
            await self._members(m.key, *m.body)
        elif m.kind == "create_flag" and m.key not in self.flags:
            enabled, flag_rules, fallthrough = m.body
            await self._segments_of(flag_rules)
            body = {"key": m.key, "value_type": _value_type(m.key), "variants": FLAG_VARIANTS[m.key],
                    "enabled": enabled, "off_variant": FLAG_VARIANTS[m.key][-1]["key"],
                    "fallthrough": fallthrough, "rules": flag_rules}  # fmt: skip
            await self._write("POST", f"{self.env}/flags", body)
            self.flags.add(m.key)
        elif m.kind == "create_flag":
            await self._rules(m.key, m.body[1])
        elif m.kind == "rules":
            await self._rules(m.key, m.body)
        else:
            await self._flag_update(m)

    async def _flag_update(self, m: Mutation) -> None:
        await self._ensure_flag(m.key)
        version = (await self.api.ok("GET", f"{self.env}/flags/{m.key}", token=self.token))["version"]
        if m.kind == "toggle":
            body = {"enabled": m.body, "version": version}
            await self._write("POST", f"{self.env}/flags/{m.key}/toggle", body)
        else:
            await self._write("PUT", f"{self.env}/flags/{m.key}", {"version": version, "fallthrough": m.body})

    async def _rules(self, key: str, flag_rules: list[Json]) -> None:
        await self._ensure_flag(key)
        await self._segments_of(flag_rules)
        version = (await self.api.ok("GET", f"{self.env}/flags/{key}", token=self.token))["version"]
        await self._write("PUT", f"{self.env}/flags/{key}/rules", {"version": version, "rules": flag_rules})

    async def _ensure_flag(self, key: str) -> None:
        if key not in self.flags:
            await self.apply(
                Mutation("create_flag", key, (True, [], {"variant_key": FLAG_VARIANTS[key][0]["key"]}))
            )

    async def _rule_segment(self, key: str, condition: Json) -> None:
        await self._segments_of([{"condition": condition}])
        if key in self.segments:
            path = f"{self.env}/segments/{key}"
            version = (await self.api.ok("GET", path, token=self.token))["version"]
            await self._write("PUT", path, {"version": version, "condition": condition})
            return
        await self._write(
            "POST", f"{self.env}/segments", {"key": key, "kind": "rule", "condition": condition}
        )
        self.segments.add(key)

    async def _members(self, key: str, add: list[str], remove: list[str]) -> None:
        await self._ensure_list(key)
        if add or remove:
            path = f"{self.env}/segments/{key}"
            version = (await self.api.ok("GET", path, token=self.token))["version"]
            await self._write("POST", f"{path}/members", {"add": add, "remove": remove, "version": version})

    async def _ensure_list(self, key: str) -> None:
        if key not in self.segments:
            body = {"key": key, "kind": "list", "included_keys": ["u1", "u2"]}
            await self._write("POST", f"{self.env}/segments", body)
            self.segments.add(key)

    async def _segments_of(self, items: list[Json]) -> None:
        """Create every segment the conditions name that does not exist yet."""
        for name in sorted({s for item in items for s in _segment_refs(item["condition"])}):
            if name in self.segments:
                continue
            if name in RULE_SEGMENTS:
                await self._rule_segment(name, DEFAULT_SEGMENT_CONDITION)
            else:
                await self._ensure_list(name)

    async def _write(self, method: str, path: str, body: Json) -> None:
        self.position = max(
            self.position, int((await self.api.ok(method, path, token=self.token, json=body))["position"])
        )


def _value_type(flag_key: str) -> str:
    return {"f-bool": "bool", "f-str": "string", "f-int": "int"}[flag_key]


def _segment_refs(condition: Json) -> set[str]:
    if condition["kind"] == "leaf":
        return {condition["value"]} if condition["op"] == "in_segment" else set()
    children = condition["children"] if "children" in condition else [condition["child"]]
    return {s for child in children for s in _segment_refs(child)}
