"""The dashboard: one HTML page and one JS file, served as they are (no build step)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, RedirectResponse

router = APIRouter(include_in_schema=False)
STATIC = Path(__file__).resolve().parent.parent / "static"


@router.get("/")
def root() -> RedirectResponse:
    return RedirectResponse("/dashboard")


@router.get("/dashboard")
def dashboard() -> FileResponse:
    return FileResponse(STATIC / "dashboard.html", media_type="text/html")


@router.get("/static/{name}")
def static(name: str) -> FileResponse:
    files = {"dashboard.js": "text/javascript", "dashboard.css": "text/css"}
    if name not in files:
        from qservice.errors import NotFound

        raise NotFound(f"static/{name}: no such file")
    return FileResponse(STATIC / name, media_type=files[name])
