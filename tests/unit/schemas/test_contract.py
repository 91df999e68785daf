"""The seed's field numbers are permanent and Stitchd's extensions only ever add new numbers."""

from __future__ import annotations

import betterproto
import pytest

from schemas.generated.stitchd.auth.v1 import (
    AuthProviderResponse,
    CreateAuthProviderRequest,
    DeleteAuthProviderRequest,
    OidcAuthorizeRequest,
    OidcAuthorizeResponse,
    OidcCallbackRequest,
    OidcCallbackResponse,
    OidcConfig,
    SamlConfig,
    UpdateAuthProviderRequest,
)
from schemas.generated.stitchd.common.v1 import Context, ParameterValue
from schemas.generated.stitchd.flags.v1 import (
    FeatureFlag,
    FlagRule,
    FlagSyncServiceBase,
    FlagSyncServiceStub,
    SyncRequest,
    SyncResponse,
    Variant,
    VariantValue,
)
from schemas.generated.stitchd.segments.v1 import ListSegmentMeta, RuleSegment
from tests.unit.schemas.proto_support import class_meta

# Seed fields, numbered in the seed's declaration order; these numbers can never change.
SEED: dict[type[betterproto.Message], list[str]] = {
    ParameterValue: ["int_value", "double_value", "string_value", "bool_value", "semver_value"],
    Context: ["context_type", "key", "parameters", "private_parameters"],
    VariantValue: ["bool_value", "int_value", "double_value", "string_value", "json_value"],
    Variant: ["key", "value"],
    FlagRule: ["rule_payload", "variant_key", "allocation"],
    FeatureFlag: ["key", "enabled", "value_type", "variants", "rules"],
    SyncRequest: ["contexts"],
    SyncResponse: ["flags", "server_timestamp_ms", "rule_segments", "list_segments", "environment_id"],
    RuleSegment: ["key", "context_type", "rule_payload", "id"],
    ListSegmentMeta: ["key", "context_type", "id"],
    OidcConfig: ["issuer_url", "client_id", "client_secret", "scopes"],
    SamlConfig: ["idp_metadata_url", "idp_metadata_xml", "name_id_format", "sp_entity_id"],
    AuthProviderResponse: [
        "id",
        "org_id",
        "provider_type",
        "display_name",
        "enabled",
        "created_at",
        "updated_at",
        "acs_url",
        "oidc",
        "saml",
    ],
    CreateAuthProviderRequest: ["org_id", "display_name", "enabled", "oidc", "saml"],
    UpdateAuthProviderRequest: ["provider_id", "display_name", "enabled", "oidc", "saml"],
    DeleteAuthProviderRequest: ["provider_id"],
    OidcAuthorizeRequest: ["provider_id", "org_id", "redirect_uri"],
    OidcAuthorizeResponse: ["redirect_url"],
    OidcCallbackRequest: ["provider_id", "code", "state", "redirect_uri"],
    OidcCallbackResponse: ["access_token", "refresh_token", "expires_in", "user_id", "org_id"],
}
EXTENSIONS: dict[type[betterproto.Message], list[str]] = {
    AuthProviderResponse: ["version", "default_role", "group_roles", "email_domains", "has_client_secret"],
    CreateAuthProviderRequest: ["default_role", "group_roles", "email_domains"],
    UpdateAuthProviderRequest: ["version", "default_role", "group_roles", "email_domains"],
    DeleteAuthProviderRequest: ["version"],
    OidcAuthorizeResponse: ["state"],
    FlagRule: ["rule_id", "description"],
    FeatureFlag: [
        "off_variant_key",
        "fallthrough",
        "hashing",
        "version",
        "project_id",
        "environment_id",
        "archived",
    ],
    SyncRequest: ["environment_id", "since_sequence"],
    SyncResponse: [
        "sequence_number",
        "is_snapshot",
        "is_heartbeat",
        "removed_flag_keys",
        "removed_segment_keys",
        "changed_list_segment_keys",
    ],
}


def _numbers(cls: type[betterproto.Message]) -> dict[str, int]:
    return {name: field.number for name, field in class_meta(cls).meta_by_field_name.items()}


@pytest.mark.parametrize("cls", list(SEED), ids=lambda c: c.__name__)
def test_seed_fields_keep_their_numbers(cls: type[betterproto.Message]) -> None:
    numbers = _numbers(cls)
    assert [numbers[name] for name in SEED[cls]] == list(range(1, len(SEED[cls]) + 1))


@pytest.mark.parametrize("cls", list(EXTENSIONS), ids=lambda c: c.__name__)
def test_extensions_take_numbers_after_the_seed(cls: type[betterproto.Message]) -> None:
    numbers = _numbers(cls)
    assert min(numbers[name] for name in EXTENSIONS[cls]) > len(SEED[cls])
    assert len(set(numbers.values())) == len(numbers)


def test_sync_service_offers_streaming_and_unary_sync() -> None:
    handlers = FlagSyncServiceBase().__mapping__()
    prefix = "/stitchd.flags.v1.FlagSyncService/"
    kinds = {path.removeprefix(prefix): handler.cardinality.name for path, handler in handlers.items()}
    assert kinds == {"SyncDefinitions": "UNARY_STREAM", "Sync": "UNARY_UNARY"}
    assert callable(FlagSyncServiceStub.sync_definitions)
    assert callable(FlagSyncServiceStub.sync)
