"""FastAPI: enqueue from a request, one `Queue` per app opened and closed by the app's lifespan.

    pip install streamq fastapi uvicorn
    STREAMQ_JOB_QUEUE_URL=redis://localhost:6379 uvicorn examples.fastapi_app:app

The queue (and the connection pool it holds) is made once when the app starts and shared by
every request; each enqueue is one round trip on it. The lifespan closes it when the app stops.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from pydantic import BaseModel

from streamq import Queue


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open the app's queue when it starts, close it (and its pool) when it stops."""
    url = os.environ.get("STREAMQ_JOB_QUEUE_URL", "redis://localhost:6379")
    async with Queue(os.environ.get("EMAILS_QUEUE", "emails"), url=url) as queue:
        app.state.queue = queue
        yield


app = FastAPI(lifespan=lifespan)


def get_queue(request: Request) -> Queue:
    """The app's one queue (a dependency, so a test can override it)."""
    queue: Queue = request.app.state.queue
    return queue


class Signup(BaseModel):
    """The request body of `POST /signup`."""

    email: str


@app.post("/signup", status_code=202)
async def signup(body: Signup, queue: Annotated[Queue, Depends(get_queue)]) -> dict[str, str]:
    """Enqueue the welcome email and answer 202 with its job id."""
    # The idempotency key makes a retried request (a double click, a client retry) enqueue once.
    job_id = await queue.enqueue(
        "send_welcome", args=[body.email], idempotency_key=f"welcome:{body.email}"
    )
    return {"job_id": job_id}
