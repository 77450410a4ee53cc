"""The bare endpoint of the ceilings (``bench.ceilings``): the services' HTTP stack (FastAPI on
uvicorn, uvloop and httptools when installed, as ``propfee.cli`` runs them) with nothing
behind one route, a GET that returns a constant."""

from __future__ import annotations

from fastapi import FastAPI

app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)


@app.get("/bare")
async def bare() -> dict[str, str]:
    return {"status": "ok"}
