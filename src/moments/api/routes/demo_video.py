"""The demo trailer's video (moments.lab.demo), which the server ships: `serve --demo` registers it
as the trailer's playback_url, so the dashboard plays along with the curve offline."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import FileResponse

from moments.lab.demo import VIDEO_FILE, VIDEO_PATH

router = APIRouter()


@router.get(VIDEO_PATH, include_in_schema=False)
async def demo_video() -> FileResponse:
    # Range requests answered (206): the player seeks in it without loading it all.
    return FileResponse(VIDEO_FILE, media_type="video/mp4")
