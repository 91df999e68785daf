"""Stopping processes: a task that swallows a cancellation is cancelled again, never waited on forever."""

from __future__ import annotations

import asyncio

import pytest

from stitchd.processes import _cancel


async def _swallows_first_cancel(log: list[str]) -> None:
    try:
        await asyncio.sleep(3600)
    except asyncio.CancelledError:
        log.append("swallowed")  # as a library connecting or waiting for notifies may do
    await asyncio.sleep(3600)


async def test_a_task_that_swallows_one_cancellation_still_stops() -> None:
    log: list[str] = []
    task = asyncio.create_task(_swallows_first_cancel(log))
    await asyncio.sleep(0)
    await _cancel([task], within=5.0)
    assert log == ["swallowed"]
    assert task.cancelled()


async def test_a_task_that_never_stops_is_left_behind_after_the_bound() -> None:
    async def stubborn() -> None:
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                continue

    task = asyncio.create_task(stubborn(), name="stubborn")
    await asyncio.sleep(0)
    await _cancel([task], within=0.3)
    assert not task.done()
    task.get_coro().close()


async def test_an_error_raised_while_stopping_is_raised() -> None:
    async def fails_on_cleanup() -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            raise RuntimeError("broken cleanup")

    task = asyncio.create_task(fails_on_cleanup())
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="broken cleanup"):
        await _cancel([task])


async def test_a_task_that_already_ended_is_left_to_the_caller() -> None:
    async def fails() -> None:
        raise RuntimeError("reported by serve")

    task = asyncio.create_task(fails())
    await asyncio.sleep(0)
    await _cancel([task])
    assert isinstance(task.exception(), RuntimeError)
