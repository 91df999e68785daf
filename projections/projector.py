"""The `stitchd projector` process: every projection's runner on one NATS connection."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import nats
from nats.js import JetStreamContext

from projections.poison import DeadLetters
from projections.recorded import Projection
from projections.runner import ProjectionRunner, RunnerOptions
from telemetry.nats_urls import nats_servers


async def run_projector(
    database_url: str,
    nats_url: str,
    projections: Sequence[Projection],
    options: RunnerOptions | None = None,
    dead_letters: Callable[[JetStreamContext], DeadLetters] | None = None,
) -> None:
    """Run every projection's runner concurrently until cancelled (the `stitchd projector` process)."""
    nc = await nats.connect(nats_servers(nats_url))
    try:
        js = nc.jetstream()
        letters = None if dead_letters is None else dead_letters(js)
        async with asyncio.TaskGroup() as group:
            for projection in projections:
                runner = ProjectionRunner(
                    projection, database_url=database_url, js=js, options=options, dead_letters=letters
                )
                group.create_task(runner.run(), name=f"projection:{projection.NAME}")
    finally:
        await nc.close()
