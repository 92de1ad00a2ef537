"""Minimal FastAPI app with the same trivial endpoint: the reference ceiling.

    granian --interface asgi bench.fastapi_app:application

Mirrors apps/monitoring/api.py's ping: an async view whose output goes through a
pydantic response model, as Ninja's does.
"""

import time

from fastapi import FastAPI
from pydantic import BaseModel


class PingOut(BaseModel):
    pong: bool
    server_time_ms: int


application = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)


@application.get("/api/ping", response_model=PingOut)
async def ping():
    return {"pong": True, "server_time_ms": time.time_ns() // 1_000_000}
