"""Item 2: every ingested number is bounded at the edge (int64, finite float64), on every ingest route.

A value a 64-bit ClickHouse column cannot hold is answered 400 in the envelope and never published,
so it can never reach (and stop) the stats worker.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import AsyncIterator

import msgspec
import nats
import pytest
from hypothesis import given
from hypothesis import strategies as st
from nats.js import JetStreamContext

from gateway.app import create_app
from gateway.deps import GatewaySettings
from gateway.exposures import JetStreamIngest
from schemas import ingest
from schemas.http_ingest import ExposureBody, MetricEventBody
from schemas.numbers import INT64_MAX, INT64_MIN
from tests.integration.gateway.support import Api, Clock, assert_envelope, gateway_deps, http_client
from tests.integration.gateway.test_ingest import define, post, stored
from tests.stack import Stack

POISON_VALUES = [b"9" * 400, b"-" + b"9" * 400, str(2**63).encode(), str(-(2**63) - 1).encode(), b"1e400",
                 b"-1e400", b"NaN", b"Infinity"]  # fmt: skip


@pytest.fixture
async def js(stack: Stack) -> AsyncIterator[JetStreamContext]:
    nc = await nats.connect(stack.nats_url)
    yield nc.jetstream()
    await nc.close()


@pytest.fixture
async def api(stack: Stack, js: JetStreamContext) -> AsyncIterator[Api]:
    clock = Clock()
    deps = dataclasses.replace(
        gateway_deps(stack, clock),
        ingest=JetStreamIngest(js, ack_timeout=5.0),
        settings=GatewaySettings(write_wait_seconds=20.0, max_body_bytes=1 << 20),
    )
    async with http_client(create_app(deps)) as client:
        yield Api(client=client, deps=deps, clock=clock)


def _with_raw(template: bytes, raw: bytes) -> bytes:
    return template.replace(b"@", raw)


@pytest.mark.integration
async def test_out_of_range_numbers_are_refused_on_every_ingest_route(api: Api, js: JetStreamContext) -> None:
    tenant = await api.tenant()
    await define(api, tenant, "items", "int")
    position = await define(api, tenant, "revenue", "double")
    env = tenant.environment_id
    headers = {"x-sdk-key": tenant.sdk_key, "x-stitchd-min-position": str(position),
               "content-type": "application/json"}  # fmt: skip
    templates = [
        ("events", b'{"metric_key": "revenue", "context_key": "u1", "value": @}'),
        ("events", b'{"metric_key": "items", "context_key": "u1", "value": @}'),
        ("events/batch", b'{"events": [{"metric_key": "items", "context_key": "ok", "value": 1},'
                         b' {"metric_key": "items", "context_key": "u1", "value": @}]}'),
        ("exposures/batch", b'{"exposures": [{"flag_key": "f", "variant_key": "on", "context_key": "u1",'
                            b' "sequence": @}]}'),
    ]  # fmt: skip
    for route, template in templates:
        for raw in POISON_VALUES:
            response = await api.client.post(
                f"/v1/environments/{env}/{route}", content=_with_raw(template, raw), headers=headers
            )
            assert_envelope(response, 400, "INVALID_ARGUMENT")
    assert await stored(js, env, "metric") == []
    assert await stored(js, env, "exposure") == []
    # the bounds themselves are accepted
    for value in (INT64_MAX, INT64_MIN):
        body = {"metric_key": "items", "context_key": "u1", "value": value}
        assert (await post(api, tenant, "events", body, position=position)).json()["accepted_count"] == 1
    exposure = {"flag_key": "f", "variant_key": "on", "context_key": "u1", "sequence": INT64_MAX}
    assert (await post(api, tenant, "exposures/batch", {"exposures": [exposure]})).json() == {
        "accepted_count": 1
    }


@given(st.integers(min_value=-(2**70), max_value=2**70))
def test_an_integer_metric_value_decodes_exactly_when_it_fits_int64(value: int) -> None:
    raw = msgspec.json.encode({"metric_key": "k", "context_key": "u", "value": value})
    fits = INT64_MIN <= value <= INT64_MAX
    try:
        body = msgspec.json.decode(raw, type=MetricEventBody)
    except msgspec.ValidationError:
        assert not fits
    else:
        assert fits
        assert body.value == value


@given(st.floats(allow_nan=True, allow_infinity=True) | st.integers(-(2**70), 2**70))
def test_the_wire_decoder_refuses_what_a_64_bit_column_cannot_hold(number: float) -> None:
    """The stats worker's decoder applies the same bounds to anything published around the gateway."""
    metric = {"event_id": "e", "environment_id": "env", "metric_key": "k", "context_type": "user",
              "context_key": "u", "value": number, "timestamp_ms": 0, "received_at_ms": 0}  # fmt: skip
    exposure = {"event_id": "e", "environment_id": "env", "flag_key": "f", "variant_key": "v",
                "context_type": "user", "context_key": "u", "sequence": number,
                "timestamp_ms": 0}  # fmt: skip
    is_int = isinstance(number, int)
    fits = INT64_MIN <= number <= INT64_MAX if is_int else math.isfinite(number)
    cases = [("metric", metric, fits), ("exposure", exposure, fits and is_int)]
    for kind, body, valid in cases:
        raw = json.dumps(body).encode()  # NaN / Infinity literals, as a hand-written publisher may send
        try:
            ingest.decode(f"stitchd.ingest.env.{kind}", raw)
        except (msgspec.ValidationError, msgspec.DecodeError):
            assert not valid
        else:
            assert valid


@given(st.integers(-(2**70), 2**70))
def test_an_exposure_sequence_is_a_non_negative_int64(sequence: int) -> None:
    raw = msgspec.json.encode({"flag_key": "f", "variant_key": "v", "context_key": "u", "sequence": sequence})
    try:
        msgspec.json.decode(raw, type=ExposureBody)
    except msgspec.ValidationError:
        assert not 0 <= sequence <= INT64_MAX
    else:
        assert 0 <= sequence <= INT64_MAX
