"""Server-sent events about one run: a snapshot re-read whenever the run is nudged, until it is not busy.

The training page (epoch progress) and the result page (debrief branches) follow a run the same
way; only what a snapshot holds differs.
"""

from __future__ import annotations

import asyncio
import json
from typing import Callable

from fastapi import Request
from sqlalchemy.exc import SQLAlchemyError
from sse_starlette.sse import EventSourceResponse
from starlette.concurrency import run_in_threadpool

from app.runs import service
from app.web import require_student

#: How long a stream waits for a nudge before re-reading the database anyway: 2 s after a change,
#: doubling up to the stream's maximum while nothing changes. Nudges wake the stream at once, so the
#: re-reads only cover a lost nudge; with hundreds of players waiting, polling every 2 s cost as many
#: database reads as all the page views together.
STREAM_POLL_SECONDS = 2.0
STREAM_POLL_MAX_SECONDS = 16.0


def _authorize(request: Request, run_id: int) -> None:
    """The stream's owner check, with a session that is closed before the stream starts."""
    with request.app.state.session_factory() as db:
        service.owned_run(db, require_student(request, db), run_id)


async def run_events(request: Request, run_id: int, snapshot: Callable[[object, int], dict | None],
                     max_wait: float = STREAM_POLL_MAX_SECONDS) -> EventSourceResponse:
    """The run owner's stream: "progress" with each new ``snapshot(session_factory, run_id)``, then "ready"
    once its ``busy`` is false; it ends without "ready" if the snapshot is None (the run is gone)."""
    # Off the event loop, and no connection held: a stream can stay open for minutes.
    await run_in_threadpool(_authorize, request, run_id)
    factory = request.app.state.session_factory
    notifier = request.app.state.notifier

    async def stream():
        last = None
        wait = STREAM_POLL_SECONDS
        # Subscribed before the first read: a nudge that lands while the database is read is not lost.
        with notifier.subscribe(run_id) as nudges:
            while True:
                try:
                    current = await run_in_threadpool(snapshot, factory, run_id)
                except SQLAlchemyError:
                    # The database is briefly unreachable: keep the stream open and look again.
                    await asyncio.sleep(STREAM_POLL_SECONDS)
                    continue
                if current is None:
                    return
                if current != last:
                    yield {"event": "progress", "data": json.dumps(current)}
                    last = current
                    wait = STREAM_POLL_SECONDS
                else:
                    wait = min(wait * 2, max_wait)
                if not current["busy"]:
                    yield {"event": "ready", "data": json.dumps(current)}
                    return
                await nudges.wait(wait)

    return EventSourceResponse(stream(), ping=15)
