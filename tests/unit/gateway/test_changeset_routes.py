"""The changeset routes translate operations into one changeset and shape the bus's answer (FakeBus)."""

from __future__ import annotations

from uuid import uuid4

import msgspec

from commands.flags import AddFlagRule, ExpectFlagConfig
from commands.revert import RevertChangeset
from domain.flags.commands import SetFallthrough
from domain.segments.commands import CreateSegment
from gateway.auth.guards import EnvironmentScope
from gateway.changesets import apply_changeset, revert_changeset
from schemas.http_changesets import ChangesetBody
from tests.unit.gateway.fake_bus import FakeDeps

ENV = EnvironmentScope(environment_id=uuid4(), project_id=uuid4(), org_id=uuid4(), actor="ann")
IN_BETA = {"kind": "leaf", "attribute": {"context_type": "user"}, "op": "in_segment", "value": "beta"}
BODY = {
    "operations": [
        {"op": "create_segment", "key": "beta", "kind": "list"},
        {
            "op": "add_rule",
            "flag": "checkout",
            "rule": {"condition": IN_BETA, "serve": {"variant_key": "on"}},
        },
        {"op": "set_fallthrough", "flag": "checkout", "fallthrough": {"variant_key": "on"}},
    ]
}


async def test_operations_become_one_changeset_in_order_under_one_command_id() -> None:
    deps, cid = FakeDeps(), uuid4()
    view = await apply_changeset(deps, ENV, msgspec.convert(BODY, ChangesetBody), cid)
    [(commands, scope, sent_id)] = deps.bus.sent
    assert [type(c) for c in commands] == [
        CreateSegment,
        ExpectFlagConfig,
        AddFlagRule,
        ExpectFlagConfig,
        SetFallthrough,
    ]
    assert {c.command_id for c in commands} == {cid} == {sent_id}
    assert getattr(scope, "environment_id", None) == ENV.environment_id
    assert view.changeset_id == str(cid)
    assert deps.settled == [view.position]


async def test_a_revert_is_keyed_per_environment_so_repeats_match_and_other_tenants_never_do() -> None:
    deps, changeset = FakeDeps(), uuid4()
    other = msgspec.structs.replace(ENV, environment_id=uuid4())
    await revert_changeset(deps, ENV, changeset)
    await revert_changeset(deps, ENV, changeset)
    await revert_changeset(deps, other, changeset)
    ids = [sent_id for _, _, sent_id in deps.bus.sent]
    assert ids[0] == ids[1] != ids[2]
    assert all(
        isinstance(c[0], RevertChangeset) and c[0].changeset_id == changeset for c, _, _ in deps.bus.sent
    )
