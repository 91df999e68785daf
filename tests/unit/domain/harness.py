"""Drive deciders over a command sequence and check the fold after every step (shared by domain tests)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from domain.codec import decode_event, encode_event, type_of
from domain.errors import DomainError
from domain.events import Event

NOW = datetime(2026, 4, 1, 12, 0, tzinfo=UTC)
S = TypeVar("S")
Step = Callable[[Any], Sequence[Event]]


def at(minutes: int) -> datetime:
    """A clock reading `minutes` after NOW."""
    return NOW + timedelta(minutes=minutes)


def step(decide: Callable[[Any, Any], Sequence[Event]], cmd: Any) -> Step:
    """A step deciding `cmd` against whatever state the run has reached."""
    return lambda state: decide(state, cmd)


def round_trip(events: Iterable[Event]) -> list[Event]:
    """The events as a reader of the event store sees them."""
    return [decode_event(type_of(e), encode_event(e)) for e in events]


class Run:
    """The outcome of driving steps: final state, full history, refusals in order."""

    def __init__(self) -> None:
        self.state: Any = None
        self.history: list[Event] = []
        self.refused: list[DomainError] = []
        self.accepted = 0


def drive(steps: Iterable[Step], evolve: Callable[[Any, Any], Any], replay: Callable[[Any], Any]) -> Run:
    """Apply each step's decision; after each, replay of the history must equal the state decided on."""
    run = Run()
    for step in steps:
        try:
            events = step(run.state)
        except DomainError as refused:
            run.refused.append(refused)
            continue
        run.accepted += 1
        for event in events:
            assert event.version == len(run.history) + 1, "versions are contiguous from 1"
            assert not run.history or event.stream_id == run.history[0].stream_id, "one stream per aggregate"
            run.state = evolve(run.state, event)
            run.history.append(event)
        assert replay(run.history) == run.state
        assert replay(round_trip(run.history)) == run.state
        assert getattr(run.state, "version", 0) == len(run.history)
    return run


def current(events: Sequence[Event], replay: Callable[[Any], S | None]) -> S:
    """The replayed state, which must exist."""
    state = replay(events)
    assert state is not None
    return state
