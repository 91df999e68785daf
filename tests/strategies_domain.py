"""Hypothesis strategies for domain events and commands, derived from their msgspec type information.

`structs(cls)` draws any instance of a struct whose fields the wire can carry: every event and
command class gets a strategy without a hand-written list, so a new class is covered the day it is
added. Values are arbitrary (not valid by business rules): use them for codec properties.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Any

import msgspec
import msgspec.inspect as mi
from hypothesis import strategies as st

from domain.conditions.ast import And, Attribute, Condition, Leaf, Not, Op, Or

int64s = st.integers(-(2**63), 2**63 - 1)
finite_floats = st.floats(allow_nan=False, allow_infinity=False)
texts = st.text(max_size=12)
keys = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,11}", fullmatch=True)
timestamps = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
json_values: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | int64s | finite_floats | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=6,
)
scalars = st.booleans() | int64s | finite_floats | texts
leaf_values = st.none() | scalars | st.lists(scalars, max_size=3).map(tuple)


def _leaf() -> st.SearchStrategy[Leaf]:
    attribute = st.builds(Attribute, keys, st.none() | keys)
    return st.builds(Leaf, attribute, st.sampled_from(list(Op)), leaf_values)


def _compound(children: st.SearchStrategy[Condition]) -> st.SearchStrategy[Condition]:
    many = st.lists(children, max_size=3).map(tuple)
    return st.builds(And, many) | st.builds(Or, many) | st.builds(Not, children)


conditions: st.SearchStrategy[Condition] = st.recursive(_leaf(), _compound, max_leaves=5)
_CONDITION_CLASSES = frozenset({And, Or, Not, Leaf})


def structs(cls: type[msgspec.Struct]) -> st.SearchStrategy[Any]:
    """Any instance of `cls` whose fields survive a JSON round trip."""
    return _for(mi.type_info(cls))


@cache
def _struct(cls: type[msgspec.Struct]) -> st.SearchStrategy[Any]:
    info = mi.type_info(cls)
    assert isinstance(info, mi.StructType)
    return st.builds(cls, **{f.name: _for(f.type) for f in info.fields})


def _for(t: mi.Type) -> st.SearchStrategy[Any]:
    match t:
        case mi.UnionType(types=types) if any(getattr(x, "cls", None) in _CONDITION_CLASSES for x in types):
            rest = [x for x in types if getattr(x, "cls", None) not in _CONDITION_CLASSES]
            return st.one_of(conditions, *(_for(x) for x in rest))
        case mi.UnionType(types=types):
            return st.one_of(*(_for(x) for x in types))
        case mi.StructType(cls=cls):
            return st.deferred(lambda: _struct(cls))
        case mi.EnumType(cls=cls):
            return st.sampled_from(list(cls))
        case mi.VarTupleType(item_type=item):
            return st.lists(_for(item), max_size=3).map(tuple)
        case mi.ListType(item_type=item):
            return st.lists(_for(item), max_size=3)
        case mi.DictType(key_type=k, value_type=v):
            return st.dictionaries(_for(k), _for(v), max_size=3)
        case _:
            return _scalar(t)


_SCALARS: dict[type[mi.Type], st.SearchStrategy[Any]] = {
    mi.StrType: texts,
    mi.IntType: int64s,
    mi.FloatType: finite_floats,
    mi.BoolType: st.booleans(),
    mi.NoneType: st.none(),
    mi.UUIDType: st.uuids(),
    mi.DateTimeType: timestamps,
    mi.AnyType: json_values,
}


def _scalar(t: mi.Type) -> st.SearchStrategy[Any]:
    strategy = _SCALARS.get(type(t))
    if strategy is None:
        raise NotImplementedError(f"no strategy for wire type {t!r}")
    return strategy
