"""Hypothesis strategies from the gateway's own OpenAPI schema: valid-ish bodies, their mutations, junk.

`body_strategy(schema, components, hints)` draws request bodies for one route: mostly shaped like the
schema (with `hints` mixing real keys in so requests reach the domain), some mutated (unknown fields,
wrong types, missing fields), some arbitrary JSON. Raw (non-JSON) payloads come from `raw_payloads`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hypothesis import strategies as st

Schema = Mapping[str, Any]
MAX_DEPTH = 4
JSON_VALUES: st.SearchStrategy[Any] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


def _string(schema: Schema) -> st.SearchStrategy[Any]:
    fmt = schema.get("format")
    if fmt == "uuid":
        return st.uuids().map(str) | st.text(max_size=40)
    if fmt == "date-time":
        return st.datetimes().map(lambda d: d.isoformat() + "Z") | st.text(max_size=30)
    if "pattern" in schema:
        return st.from_regex(schema["pattern"], fullmatch=True) | st.text(max_size=20)
    low, high = schema.get("minLength", 0), schema.get("maxLength", 24)
    words = st.from_regex(r"[a-z][a-z0-9-]{7,15}", fullmatch=True)  # passes most key/name/password rules
    nasty = st.sampled_from(["\x00", "f1\x00", "\ud800", "", " ", "x" * 300])
    return words | nasty | st.text(min_size=low, max_size=min(high, low + 24))


def _object(
    schema: Schema, components: Schema, hints: Mapping[str, list[Any]], depth: int
) -> st.SearchStrategy[Any]:
    props: Mapping[str, Schema] = schema.get("properties", {})
    required = set(schema.get("required", []))

    def field(name: str, sub: Schema) -> st.SearchStrategy[Any]:
        shaped = from_schema(sub, components, hints, depth + 1)
        return st.sampled_from(hints[name]) | shaped if hints.get(name) else shaped

    extra = schema.get("additionalProperties")
    if isinstance(extra, dict) and not props:
        return st.dictionaries(
            st.text(max_size=10), from_schema(extra, components, hints, depth + 1), max_size=3
        )
    return st.fixed_dictionaries(
        {k: field(k, v) for k, v in props.items() if k in required},
        optional={k: field(k, v) for k, v in props.items() if k not in required},
    )


def from_schema(
    schema: Schema, components: Schema, hints: Mapping[str, list[Any]], depth: int = 0
) -> st.SearchStrategy[Any]:
    """Values shaped like `schema` (JSON Schema as Litestar emits it); past MAX_DEPTH, anything small."""
    if depth > MAX_DEPTH:
        return st.none() | st.just({}) | st.just([])
    if "$ref" in schema:
        return from_schema(components[schema["$ref"].rsplit("/", 1)[-1]], components, hints, depth + 1)
    for combinator in ("oneOf", "anyOf"):
        if combinator in schema:
            return st.one_of(*(from_schema(s, components, hints, depth + 1) for s in schema[combinator]))
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if isinstance(kind, list):
        return st.one_of(*(from_schema({**schema, "type": k}, components, hints, depth) for k in kind))
    match kind:
        case "object":
            return _object(schema, components, hints, depth)
        case "array":
            items = from_schema(schema.get("items", {}), components, hints, depth + 1)
            return st.lists(items, max_size=min(schema.get("maxItems", 3), 3))
        case "string":
            return _string(schema)
        case "integer":
            return st.integers(0, 5) | st.integers(-(2**70), 2**70)
        case "number":
            return st.floats(allow_nan=False, allow_infinity=False) | st.integers(-5, 5)
        case "boolean":
            return st.booleans()
        case "null":
            return st.none()
    return JSON_VALUES


@st.composite
def _mutated(draw: st.DrawFn, shaped: st.SearchStrategy[Any]) -> Any:
    """A shaped body with one field of the wrong type, removed, or an unknown field added."""
    body = draw(shaped)
    if not isinstance(body, dict) or not body:
        return [body]
    body = dict(body)
    name = draw(st.sampled_from(sorted(body)))
    how = draw(st.sampled_from(["wrong_type", "drop", "unknown", "huge"]))
    if how == "wrong_type":
        body[name] = draw(JSON_VALUES.filter(lambda v: type(v) is not type(body[name])))
    elif how == "drop":
        del body[name]
    elif how == "unknown":
        body[draw(st.text(min_size=1, max_size=12).filter(lambda k: k not in body))] = draw(JSON_VALUES)
    else:
        body[name] = "x" * draw(st.integers(1_000, 40_000))
    return body


def body_strategy(
    schema: Schema, components: Schema, hints: Mapping[str, list[Any]]
) -> st.SearchStrategy[Any]:
    """Bodies for one route: schema-shaped, mutated, or arbitrary JSON."""
    shaped = from_schema(schema, components, hints)
    return st.one_of(shaped, _mutated(shaped), JSON_VALUES)


def _nested(depth: int, kind: str) -> bytes:
    opening, closing = ("[", "]") if kind == "list" else ('{"a":', "}")
    return (opening * depth + "1" + closing * depth).encode()


raw_payloads: st.SearchStrategy[tuple[bytes, str]] = st.one_of(
    st.tuples(st.binary(max_size=200), st.sampled_from(["application/json", "application/octet-stream"])),
    st.tuples(st.text(max_size=60).map(str.encode), st.just("application/json")),
    st.tuples(
        st.builds(_nested, st.integers(50, 5_000), st.sampled_from(["list", "dict"])),
        st.just("application/json"),
    ),
    st.tuples(
        st.sampled_from([b"", b"{", b'{"a": }', b"nul", b"\xff\xfe", b'"\\ud800"', b"1e999999"]),
        st.just("application/json"),
    ),
    st.tuples(
        st.just(b'{"key": "x"}'), st.sampled_from(["text/plain", "application/x-www-form-urlencoded", ""])
    ),
)
"""(content, content-type) pairs that are not a JSON body of the route's shape."""
