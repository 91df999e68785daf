"""The credential-management rule (gateway.auth.authority.may_manage) as properties."""

from __future__ import annotations

from uuid import UUID

from hypothesis import given
from hypothesis import strategies as st

from domain.tenancy.org import SYSTEM_ORG_ID
from gateway.auth.authority import Action, may_manage

ORGS = [SYSTEM_ORG_ID, *(UUID(int=i) for i in range(1, 5))]
org_sets = st.frozensets(st.sampled_from(ORGS), max_size=5)


@given(org_sets, org_sets, st.sampled_from(ORGS))
def test_credentials_need_every_membership_administered_or_a_system_admin(
    targets: frozenset[UUID], admin_of: frozenset[UUID], caller_org: UUID
) -> None:
    allowed = may_manage(
        target_orgs=targets, admin_of=admin_of, caller_org=caller_org, action=Action.SET_CREDENTIALS
    )
    if allowed:
        assert SYSTEM_ORG_ID in admin_of or (targets <= admin_of and caller_org in targets)
    if SYSTEM_ORG_ID in targets and SYSTEM_ORG_ID not in admin_of:
        assert not allowed


@given(org_sets, org_sets, st.sampled_from(ORGS))
def test_ending_a_membership_needs_admin_rights_in_that_organisation(
    targets: frozenset[UUID], admin_of: frozenset[UUID], caller_org: UUID
) -> None:
    allowed = may_manage(
        target_orgs=targets, admin_of=admin_of, caller_org=caller_org, action=Action.END_MEMBERSHIP
    )
    if caller_org in admin_of and caller_org in targets:
        assert allowed
    if allowed:
        assert SYSTEM_ORG_ID in admin_of or caller_org in admin_of


def test_a_two_org_member_is_out_of_reach_of_one_orgs_admin() -> None:
    one, two = UUID(int=1), UUID(int=2)
    assert not may_manage(
        target_orgs=frozenset({one, two}), admin_of=frozenset({one}), caller_org=one,
        action=Action.SET_CREDENTIALS,
    )  # fmt: skip
    assert may_manage(
        target_orgs=frozenset({one, two}), admin_of=frozenset({one, two}), caller_org=one,
        action=Action.SET_CREDENTIALS,
    )  # fmt: skip
