"""betterproto messages encode and decode stably, for every message of every proto."""

from __future__ import annotations

import betterproto
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.schemas.proto_support import full_name, message_classes, messages, shape

CLASSES = message_classes()


def test_every_seed_area_is_generated() -> None:
    packages = {full_name(cls).rsplit(".", 1)[0] for cls in CLASSES}
    assert packages == {
        f"stitchd.{area}.v1"
        for area in ("auth", "common", "events", "experiments", "flags", "management", "segments", "stats")
    }


@pytest.mark.parametrize("cls", CLASSES, ids=full_name)
@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_message_survives_encode_decode(cls: type[betterproto.Message], data: st.DataObject) -> None:
    msg = data.draw(messages(cls))
    wire = bytes(msg)
    decoded = cls().parse(wire)
    assert shape(decoded) == shape(msg)
    assert bytes(decoded) == wire


@settings(max_examples=60, deadline=None)
@given(msg=messages(CLASSES[[full_name(c) for c in CLASSES].index("stitchd.flags.v1.SyncResponse")]))
def test_sync_response_round_trips_through_bytes(msg: betterproto.Message) -> None:
    decoded = type(msg)().parse(bytes(msg))
    assert decoded == msg
    assert shape(decoded) == shape(msg)
