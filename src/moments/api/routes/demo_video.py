"""The demo trailer's video, which the server ships: `serve --demo` (moments.lab.demo) registers
it as the trailer's playback_url, so the dashboard plays along with the curve offline."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

VIDEO_FILE = Path(__file__).parent.parent / "static" / "demo-trailer.mp4"  # api/static/README.md: how it was made
VIDEO_PATH = "/demo/trailer.mp4"

router = APIRouter()


@router.get(VIDEO_PATH, include_in_schema=False)
async def demo_video() -> FileResponse:
    # Range requests answered (206): the player seeks in it without loading it all.
    return FileResponse(VIDEO_FILE, media_type="video/mp4")
