"""Nudges to live pages: a publish is never lost between a stream's database read and its wait."""

import asyncio
import threading
import time

from app.live.notify import Notifier


def test_a_publish_during_the_read_wakes_the_next_wait_at_once():
    async def scenario():
        notifier = Notifier()
        notifier.bind(asyncio.get_running_loop())
        with notifier.subscribe(7) as nudges:
            assert notifier.open_streams == 1
            # The training thread publishes while the stream is busy reading the database.
            threading.Thread(target=notifier.publish, args=(7,)).start()
            await asyncio.sleep(0.05)
            started = time.monotonic()
            await nudges.wait(5)
            woke_after = time.monotonic() - started
            started = time.monotonic()
            await nudges.wait(0.2)  # nothing published since: waits out the timeout
            idle = time.monotonic() - started
        return woke_after, idle, notifier.open_streams

    woke_after, idle, left = asyncio.run(scenario())
    assert woke_after < 0.1
    assert idle >= 0.19
    assert left == 0


def test_other_runs_do_not_wake_a_stream():
    async def scenario():
        notifier = Notifier()
        notifier.bind(asyncio.get_running_loop())
        with notifier.subscribe(1) as nudges:
            notifier.publish(2)
            started = time.monotonic()
            await nudges.wait(0.2)
            return time.monotonic() - started

    assert asyncio.run(scenario()) >= 0.19
