"""Every stream kind the bus knows: its permanent `stream_type` name and the domain fold of its events."""

from __future__ import annotations

from commands.bus import StreamKind
from domain.auth_providers import provider as auth_providers
from domain.event_definitions import event_definition as event_definitions
from domain.experiments import experiment as experiments
from domain.flags import flag as flags
from domain.flags import flag_config as flag_configs
from domain.segments import segment as segments
from domain.tenancy import email as emails
from domain.tenancy import environment as environments
from domain.tenancy import org as orgs
from domain.tenancy import project as projects
from domain.tenancy import user as users

FLAG = StreamKind("flag", flags.replay)
FLAG_CONFIG = StreamKind("flag_config", flag_configs.replay)
SEGMENT = StreamKind("segment", segments.replay)
EVENT_DEFINITION = StreamKind("event_definition", event_definitions.replay)
EXPERIMENT = StreamKind("experiment", experiments.replay)
ORG = StreamKind("org", orgs.replay)
PROJECT = StreamKind("project", projects.replay)
ENVIRONMENT = StreamKind("environment", environments.replay)
USER = StreamKind("user", users.replay)
EMAIL = StreamKind("email", emails.replay)
AUTH_PROVIDER = StreamKind("auth_provider", auth_providers.replay)

KINDS = (
    FLAG,
    FLAG_CONFIG,
    SEGMENT,
    EVENT_DEFINITION,
    EXPERIMENT,
    ORG,
    PROJECT,
    ENVIRONMENT,
    USER,
    EMAIL,
    AUTH_PROVIDER,
)
