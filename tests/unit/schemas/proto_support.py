"""Generic helpers over the generated betterproto classes: strategies and a runtime-neutral shape.

`shape()` (betterproto) and `pb_shape()` (official protobuf runtime) map a message to the same plain
structure, including oneof cases and sub-message presence, so two runtimes can be compared exactly.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable
from typing import Any, cast

import betterproto
from betterproto import ProtoClassMetadata
from google.protobuf.descriptor import FieldDescriptor  # type: ignore[import-untyped, unused-ignore]
from google.protobuf.message import Message as PbMessage  # type: ignore[import-untyped, unused-ignore]
from hypothesis import strategies as st

import schemas.generated.stitchd as generated_root

INT_RANGES: dict[str, tuple[int, int]] = {
    "int32": (-(2**31), 2**31 - 1),
    "sint32": (-(2**31), 2**31 - 1),
    "sfixed32": (-(2**31), 2**31 - 1),
    "int64": (-(2**63), 2**63 - 1),
    "sint64": (-(2**63), 2**63 - 1),
    "sfixed64": (-(2**63), 2**63 - 1),
    "uint32": (0, 2**32 - 1),
    "fixed32": (0, 2**32 - 1),
    "uint64": (0, 2**64 - 1),
    "fixed64": (0, 2**64 - 1),
}


def class_meta(cls: type[betterproto.Message]) -> ProtoClassMetadata:
    """The field metadata betterproto keeps for a generated class."""
    return cls._betterproto  # type: ignore[arg-type]  # its classproperty is mistyped for classes


def generated_modules() -> list[Any]:
    """Every generated `stitchd.<area>.v1` module."""
    names = [m.name for m in pkgutil.walk_packages(generated_root.__path__, generated_root.__name__ + ".")]
    return [importlib.import_module(n) for n in sorted(names) if n.endswith(".v1")]


def message_classes() -> list[type[betterproto.Message]]:
    """Every generated message class, in a stable order."""
    found: list[type[betterproto.Message]] = []
    for module in generated_modules():
        for value in vars(module).values():
            is_message = isinstance(value, type) and issubclass(value, betterproto.Message)
            if is_message and value.__module__ == module.__name__:
                found.append(value)
    return sorted(found, key=full_name)


def full_name(cls: type[betterproto.Message]) -> str:
    """The protobuf full name, e.g. `stitchd.flags.v1.FeatureFlag`."""
    package = cls.__module__.removeprefix("schemas.generated.")
    return f"{package}.{cls.__name__}"


def _scalar(proto_type: str) -> st.SearchStrategy[Any]:
    if proto_type in INT_RANGES:
        low, high = INT_RANGES[proto_type]
        return st.integers(low, high)
    simple: dict[str, st.SearchStrategy[Any]] = {
        "bool": st.booleans(),
        "string": st.text(max_size=12),
        "bytes": st.binary(max_size=12),
        "double": st.floats(allow_nan=False),
        "float": st.floats(allow_nan=False, width=32),
    }
    return simple[proto_type]


def _single(cls: type[betterproto.Message], name: str, proto_type: str) -> st.SearchStrategy[Any]:
    target = class_meta(cls).cls_by_field.get(name)
    if proto_type == "enum":
        assert target is not None
        return st.sampled_from(list(cast(Iterable[Any], target)))
    if proto_type == "message":
        assert target is not None
        return messages(target)
    return _scalar(proto_type)


def _field(cls: type[betterproto.Message], name: str) -> st.SearchStrategy[Any]:
    meta = class_meta(cls).meta_by_field_name[name]
    if meta.proto_type == "map":
        key_type, value_type = meta.map_types or ("string", "string")
        value = _single(cls, f"{name}.value", value_type)
        # betterproto 2.0.0b7 drops a map entry whose key and value are both defaults; all our maps
        # are keyed by non-empty names (context types, parameter names, metric keys).
        keys = st.text(min_size=1, max_size=12) if key_type == "string" else _scalar(key_type)
        return st.dictionaries(keys, value, max_size=3)
    one = _single(cls, name, meta.proto_type)
    if class_meta(cls).default_gen[name] is list:
        return st.lists(one, max_size=3)
    return one


@st.composite
def _message(draw: st.DrawFn, cls: type[betterproto.Message]) -> betterproto.Message:
    kwargs: dict[str, Any] = {}
    groups: dict[str, list[str]] = {}
    for name, meta in class_meta(cls).meta_by_field_name.items():
        if meta.group is not None:
            groups.setdefault(meta.group, []).append(name)
        elif meta.proto_type != "message" or draw(st.booleans()):
            kwargs[name] = draw(_field(cls, name))
    for members in groups.values():
        chosen = draw(st.sampled_from([None, *members]))
        if chosen is not None:
            kwargs[chosen] = draw(_field(cls, chosen))
    return cls(**kwargs)


def messages(cls: type[betterproto.Message]) -> st.SearchStrategy[Any]:
    """Arbitrary instances of a generated message class: any field values, oneof cases and presence."""
    return _message(cls)


def shape(msg: betterproto.Message) -> dict[str, Any]:
    """A betterproto message as plain data: set oneof members only, None for absent sub-messages."""
    out: dict[str, Any] = {}
    groups: set[str] = set()
    for name, meta in class_meta(type(msg)).meta_by_field_name.items():
        if meta.group is not None:
            groups.add(meta.group)
            continue
        out[name] = _bp_value(getattr(msg, name), meta.proto_type)
    for group in groups:
        name, value = betterproto.which_one_of(msg, group)
        if name:
            out[name] = _bp_value(value, class_meta(type(msg)).meta_by_field_name[name].proto_type)
    return out


def _bp_value(value: Any, proto_type: str) -> Any:
    if isinstance(value, list):
        return [_bp_value(v, proto_type) for v in value]
    if isinstance(value, dict):
        return {k: _bp_value(v, proto_type) for k, v in value.items()}
    if isinstance(value, betterproto.Message):
        return shape(value) if proto_type == "map" or betterproto.serialized_on_wire(value) else None
    if isinstance(value, betterproto.Enum):
        return int(value)
    return value


def pb_shape(msg: PbMessage) -> dict[str, Any]:
    """An official-runtime message as the same plain data as `shape()`."""
    out: dict[str, Any] = {}
    for field in msg.DESCRIPTOR.fields:
        oneof = field.containing_oneof
        if oneof is not None and msg.WhichOneof(oneof.name) != field.name:
            continue
        value = getattr(msg, field.name)
        if _is_map(field):
            message_valued = field.message_type.fields_by_name["value"].message_type is not None
            out[field.name] = {k: pb_shape(v) if message_valued else v for k, v in value.items()}
        elif field.is_repeated:
            out[field.name] = [pb_shape(v) if field.message_type else v for v in value]
        elif field.message_type is not None:
            out[field.name] = pb_shape(value) if msg.HasField(field.name) else None
        else:
            out[field.name] = value
    return out


def fill_pb(target: PbMessage, source: betterproto.Message) -> None:
    """Copy a betterproto message into an official-runtime message field by field (no bytes involved)."""
    source_shape = shape(source)
    _fill(target, source_shape)


def _fill(target: PbMessage, data: dict[str, Any]) -> None:
    for field in target.DESCRIPTOR.fields:
        if field.name not in data or data[field.name] is None:
            continue
        value = data[field.name]
        container = getattr(target, field.name)
        if _is_map(field):
            message_valued = field.message_type.fields_by_name["value"].message_type is not None
            for key, item in value.items():
                if message_valued:
                    _fill(container[key], item)
                else:
                    container[key] = item
        elif field.is_repeated:
            for item in value:
                if field.message_type is not None:
                    _fill(container.add(), item)
                else:
                    container.append(item)
        elif field.message_type is not None:
            container.SetInParent()
            _fill(container, value)
        else:
            setattr(target, field.name, value)


def _is_map(field: FieldDescriptor) -> bool:
    return field.message_type is not None and field.message_type.GetOptions().map_entry
