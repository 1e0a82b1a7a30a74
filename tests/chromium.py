"""What the browser tests share: Debian's Chromium driven by Playwright, ffmpeg-made test
media, and a static file server on 127.0.0.1. (The `browser` fixture is in conftest.py.)

Playwright drives the system Chromium (`executable_path`); it never downloads browsers.
"""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from conftest import free_port
from npm import require_tool

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--autoplay-policy=no-user-gesture-required"]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
# Folders this run wrote screenshots to; conftest.py prints them at the end of the run.
written_artifact_dirs: set[Path] = set()


def artifact_dir(name: str) -> Path:
    """artifacts/NAME (gitignored; CI keeps it), created and listed in the run's summary."""
    folder = ARTIFACTS / name
    folder.mkdir(parents=True, exist_ok=True)
    written_artifact_dirs.add(folder)
    return folder


def make_test_video(path: Path, seconds: int, size: str = "320x240") -> Path:
    """A testsrc H.264 (baseline, 1 s GOP so seeks land on time, moov first) + AAC tone mp4."""
    ffmpeg = require_tool("ffmpeg", "the browser tests make their test video with ffmpeg")
    command = [ffmpeg, "-hide_banner", "-loglevel", "error", "-y",
               "-f", "lavfi", "-i", f"testsrc=size={size}:rate=25:duration={seconds}",
               "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=44100:duration={seconds}",
               "-c:v", "libx264", "-profile:v", "baseline", "-pix_fmt", "yuv420p", "-g", "25",
               "-keyint_min", "25", "-sc_threshold", "0", "-c:a", "aac", "-b:a", "64k",
               "-t", str(seconds), "-movflags", "+faststart", str(path)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return path


def make_test_hls(mp4: Path, folder: Path, segment_s: int = 4) -> Path:
    """The mp4 repackaged (no re-encode) as an HLS VOD playlist with MPEG-TS segments."""
    ffmpeg = require_tool("ffmpeg", "the browser tests make their test stream with ffmpeg")
    folder.mkdir(parents=True, exist_ok=True)
    playlist = folder / "index.m3u8"
    command = [ffmpeg, "-hide_banner", "-loglevel", "error", "-y", "-i", str(mp4), "-c", "copy",
               "-f", "hls", "-hls_time", str(segment_s), "-hls_playlist_type", "vod",
               "-hls_segment_filename", str(folder / "segment%03d.ts"), str(playlist)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return playlist


class StaticSite:
    """Folders served over HTTP (with Range requests, which Chromium uses to seek in an mp4)."""

    def __init__(self, mounts: dict[str, Path]) -> None:
        # The longest prefix first, so "/" does not shadow "/media".
        routes = [Mount(prefix.rstrip("/") or "/", StaticFiles(directory=folder))
                  for prefix, folder in sorted(mounts.items(), key=lambda item: -len(item[0]))]
        port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(Starlette(routes=routes), host="127.0.0.1", port=port,
                                                    log_level="warning", lifespan="off"))
        threading.Thread(target=self.server.run, daemon=True).start()
        deadline = time.time() + 10
        while not self.server.started:
            assert time.time() < deadline, "static server did not start"
            time.sleep(0.02)
        self.base_url = f"http://127.0.0.1:{port}"

    def check_range_requests(self, path: str) -> None:
        response = httpx.get(f"{self.base_url}{path}", headers={"Range": "bytes=100-199"})
        assert response.status_code == 206 and len(response.content) == 100

    def stop(self) -> None:
        self.server.should_exit = True
