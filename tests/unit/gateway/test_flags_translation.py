"""Pure translation and history helpers: HTTP bodies <-> domain, diffs, folds, segment references."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.conditions.ast import And, Attribute, Leaf, Not, Op, Or
from domain.envelope import Metadata, RecordedEvent
from domain.flags.events import FlagConfigCreated, FlagRulesReplaced
from domain.flags.model import FlagConfig, Rule, Serve
from domain.flags.validation import segment_refs
from gateway import experiment_views
from gateway import flag_views as views
from gateway.errors import InvalidArgument
from gateway.idempotency import IdempotencyKeyReused
from gateway.writes import command_id
from projections.flags import rule_segments
from readmodels.diff import Change, diff
from readmodels.history import REDACTED, fold_with_changes, merge_fold, state_document
from schemas.http_flags import CreateFlagBody, HashingConfigBody, RuleBody, ServeBody

NOW = datetime(2026, 1, 1, tzinfo=UTC)
names = st.text(alphabet="abcdefgh_", min_size=1, max_size=6).filter(lambda n: n != "key")
specs = st.dictionaries(st.sampled_from(["user", "org", "device"]), st.lists(names, max_size=3, unique=True))
json_leaves = st.booleans() | st.integers(-5, 5) | st.text(max_size=3)  # None marks "absent" in a Change
documents = st.recursive(
    json_leaves,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text("abc", min_size=1, max_size=2), inner, max_size=3)
    ),
    max_leaves=12,
)


@settings(max_examples=100)
@given(specs)
def test_hashing_configs_round_trip(spec: dict[str, list[str]]) -> None:
    hash_spec = {ct: tuple(params) for ct, params in spec.items()}
    configs = [
        HashingConfigBody(parameter_key=c.parameter_key, parameter_type=c.parameter_type, order=c.order)
        for c in views.hashing_view(hash_spec)
    ]
    assert views.hash_spec(configs) == hash_spec


def _apply(doc: Any, change: Change) -> Any:
    """Set `change.after` at its path (a test oracle for diff on dicts)."""
    if change.path == "":
        return change.after
    *parents, last = change.path.split(".")
    node = doc
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if isinstance(node, list):
        node[int(last)] = change.after
    elif change.after is None:
        del node[last]
    else:
        node[last] = change.after
    return doc


@settings(max_examples=150)
@given(documents, documents)
def test_diff_changes_rebuild_the_after_document(before: Any, after: Any) -> None:
    changes = diff(before, after)
    same = msgspec.json.encode(before, order="sorted") == msgspec.json.encode(after, order="sorted")
    assert (changes == []) == same
    doc = msgspec.json.decode(msgspec.json.encode(before))
    for change in changes:
        doc = _apply(doc, change)
    assert msgspec.json.encode(doc, order="sorted") == msgspec.json.encode(after, order="sorted")


def test_rules_get_stable_ids_and_translate_serves() -> None:
    leaf = Leaf(Attribute("user", "plan"), Op.EQ, "pro")
    bodies = [
        RuleBody(condition=leaf, serve=ServeBody(variant_key="on")),
        RuleBody(condition=leaf, serve=ServeBody(variant_key="off"), id="keep"),
    ]
    rules = views.rules(bodies)
    assert [r.id for r in rules] == ["rule-1", "keep"]
    assert rules[0].serve == Serve(variant_key="on")


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(b'{"key":"a","value_type":"bool","variants":[],"extra":1}', type=CreateFlagBody)


def test_segment_references_are_found_anywhere_in_a_condition() -> None:
    def seg(key: str) -> Leaf:
        return Leaf(Attribute("user"), Op.IN_SEGMENT, key)

    tree = And(
        (
            seg("a"),
            Or((Not(seg("b")), Leaf(Attribute("user", "x"), Op.EQ, "c"))),
        )
    )
    assert segment_refs(tree) == {"a", "b"}
    rules = (Rule(id="r", condition=tree, serve=Serve(variant_key="on")),)
    assert rule_segments(rules) == ["a", "b"]


class _KeysDb:
    """Just enough of a psycopg connection for gateway.idempotency.bind_key."""

    def __init__(self) -> None:
        self.bound: dict[Any, str] = {}

    async def execute(self, query: str, params: tuple[Any, str]) -> Any:
        command, digest = params
        found = self.bound.setdefault(command, digest)

        class Cursor:
            async def fetchone(self) -> tuple[str]:
                return (found,)

        return Cursor()


async def test_idempotency_key_is_scoped_deterministic_and_bound_to_its_body() -> None:
    class Env:
        org_id, environment_id = uuid4(), uuid4()

    env: Any = Env()
    db: Any = _KeysDb()

    async def cid(kind: str, key: str | None, body: object = "b") -> Any:
        return await command_id(env, kind, key, body=body, db=db)

    assert await cid("flag.create", "k") == await cid("flag.create", "k")
    assert await cid("flag.create", "k") != await cid("segment.create", "k")
    assert await cid("flag.create", None) != await cid("flag.create", None)
    with pytest.raises(InvalidArgument):
        await cid("flag.create", " ")
    with pytest.raises(IdempotencyKeyReused):
        await cid("flag.create", "k", body="another body")


def test_status_spellings_and_pending_results() -> None:
    assert {experiment_views.status_of(s) for s in ("active", "ACTIVE", "EXPERIMENT_STATUS_ACTIVE")} == {
        "ACTIVE"
    }
    with pytest.raises(InvalidArgument):
        experiment_views.status_of("running")
    pending = experiment_views.results_view(uuid4(), None, iterations=[], now=datetime.now(UTC))
    assert pending.computation_status == "pending"
    assert pending.variant_results == []


def _stored(position: int, event: Any, stream_type: str) -> RecordedEvent:
    return RecordedEvent(
        position=position,
        stream_id=event.stream_id,
        stream_type=stream_type,
        version=event.version,
        event_id=uuid4(),
        type=type(event).__struct_config__.tag,
        data=msgspec.json.encode(event),
        metadata=Metadata(actor="ann"),
        recorded_at=NOW,
    )


def test_folding_a_config_stream_reports_each_events_changes() -> None:
    sid, env = uuid4(), uuid4()
    config = FlagConfig(off_variant="off", fallthrough=Serve(variant_key="off"))
    rule = Rule(id="r", condition=Leaf(Attribute("user"), Op.EXISTS), serve=Serve(variant_key="on"))
    events = [
        FlagConfigCreated(
            stream_id=sid,
            version=1,
            occurred_at=NOW,
            project_id=uuid4(),
            environment_id=env,
            key="k",
            config=config,
        ),
        FlagRulesReplaced(stream_id=sid, version=2, occurred_at=NOW, rules=(rule,)),
    ]
    changes = fold_with_changes([_stored(i + 1, e, "flag_config") for i, e in enumerate(events)])
    assert changes[1][0].path == ""
    assert changes[1][0].before is None
    assert [c.path for c in changes[2]] == ["config.rules"]
    assert changes[2][0].before == []
    merged = merge_fold(None, events[1])
    assert set(merged) == {"rules"}


def test_credential_digests_are_redacted_from_history_documents() -> None:
    doc = state_document(
        {"name": "prod", "keys": [{"key_hash": "abc", "prefix": "sdk_live_1"}], "key_hash": "x"}
    )
    assert doc == {
        "name": "prod",
        "keys": [{"key_hash": REDACTED, "prefix": "sdk_live_1"}],
        "key_hash": REDACTED,
    }
