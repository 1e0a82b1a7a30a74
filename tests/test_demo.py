"""The demo shows every feature through the API of a real server: planted hotspots, peers for
relative retention, a week before to compare with, segments that watch differently, a video
the trailer plays from, and one token that stays the same across loads and restarts."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import httpx
import numpy as np
import pytest

from moments import accounts
from moments.api.routes.demo_video import VIDEO_FILE, VIDEO_PATH
from moments.lab.demo import CONTENT, load_demo
from moments.engagement.relative import MIN_PEERS
from moments.store.duckdb import DuckDBStore

from conftest import Server, free_port, start_app
from npm import require_tool
from test_serve_banner import BIN, banner_of

DAY_S = 86_400


class Demo:
    def __init__(self, server: Server, issued: accounts.IssuedToken) -> None:
        self.server, self.auth = server, (issued.token.token_id, issued.secret)

    def get(self, path: str, **params) -> dict:
        response = httpx.get(f"{self.server.base_url}{path}", params=params, auth=self.auth, timeout=60)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Iterator[Demo]:
    store = DuckDBStore(str(tmp_path_factory.mktemp("demo") / "demo.duckdb"))
    server = start_app(store)
    _, issued = load_demo(store, server.base_url)
    yield Demo(server, issued)
    server.stop()
    store.close()


def overlap(a: tuple[int, int], b: tuple[int, int]) -> float:
    inter = max(0, min(a[1], b[1]) - max(a[0], b[0]))
    return inter / (max(a[1], b[1]) - min(a[0], b[0]))


@pytest.mark.parametrize("content", CONTENT, ids=[c.asset_id for c in CONTENT])
def test_the_planted_moments_are_the_hotspots_served(demo, content):
    """What the banner's curl lines show, with both segments and both weeks mixed in."""
    found = demo.get(f"/data/v1/engagement/assets/{content.asset_id}/hotspots")["data"]["hotspots"]
    assert len(found) == len(content.audience.moments), found
    for moment in content.audience.moments:
        assert any(overlap((h["start_ms"], h["end_ms"]), (moment.start_ms, moment.end_ms)) >= 0.5
                   and (h["score"] > 0.5) == (moment.kind == "peak") for h in found), (moment, found)


@pytest.mark.parametrize("content", CONTENT, ids=[c.asset_id for c in CONTENT])
def test_every_content_has_peers_of_similar_length(demo, content):
    data = demo.get(f"/v1/engagement/assets/{content.asset_id}/relative")["data"]
    assert data["peers"] >= MIN_PEERS and data["typical"] and data["note"] is None, data["note"]
    band = data["band"]
    assert band["min_ms"] <= content.audience.duration_ms <= band["max_ms"]


def test_this_week_differs_from_the_week_before(demo):
    now = int(time.time())
    week_before = [str(now - 14 * DAY_S), str(now - 7 * DAY_S)]
    body = demo.get("/v1/engagement/assets/demo-keynote/compare",
                    **{"timeframe[]": "7:days", "against_timeframe[]": week_before})["data"]
    assert body["a"]["total_views"] > 0 and body["b"]["total_views"] > 0
    difference = np.array(body["difference"])  # b - a: the week before kept fewer viewers
    assert difference.size and difference.mean() < -0.05 and np.abs(difference).max() > 0.1


def test_segments_watch_differently_so_filters_change_the_curve(demo):
    def curve(*filters: str) -> np.ndarray:
        return np.array(demo.get("/data/v1/engagement/assets/demo-keynote/heatmap",
                                 **{"filters[]": list(filters)})["data"]["value"])

    us, de, phone = curve("country:US"), curve("country:DE"), curve("device_type:phone")
    assert (us - de).mean() > 0.15  # desktop viewers in the US stay far longer
    assert np.allclose(de, phone)  # the German audience is the phone audience
    assert not np.allclose(curve(), us) and not np.allclose(curve(), de)


def test_the_trailer_plays_from_the_video_the_server_ships(demo, browser):
    asset = demo.get("/v1/assets/demo-trailer")["data"]
    assert asset["playback_url"] == f"{demo.server.base_url}{VIDEO_PATH}"
    video = httpx.get(asset["playback_url"])
    assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
    assert video.content == VIDEO_FILE.read_bytes() and video.content[4:8] == b"ftyp" and len(video.content) < 400_000
    part = httpx.get(asset["playback_url"], headers={"Range": "bytes=100-199"})  # how a player seeks
    assert part.status_code == 206 and part.content == video.content[100:200]
    probe = subprocess.run([require_tool("ffprobe", "the demo video is checked with ffprobe"), "-v", "error",
                            "-show_entries", "format=duration:stream=codec_name", "-of", "json", str(VIDEO_FILE)],
                           capture_output=True, text=True, timeout=60)
    described = json.loads(probe.stdout)
    assert described["streams"][0]["codec_name"] == "h264"
    assert float(described["format"]["duration"]) * 1000 == pytest.approx(asset["duration_ms"], abs=100)
    page = browser.new_page()
    try:  # Chromium plays it: a video document, its metadata loaded and a second in
        page.goto(asset["playback_url"])
        page.wait_for_function("() => { const v = document.querySelector('video');"
                               " return v && v.readyState >= 1 && v.duration > 0; }")
        assert page.evaluate("document.querySelector('video').duration") == pytest.approx(90, abs=0.2)
        page.evaluate("document.querySelector('video').muted = true; document.querySelector('video').play()")
        page.wait_for_function("() => document.querySelector('video').currentTime > 1")
    finally:
        page.close()


def test_loading_again_keeps_the_token_and_mints_none(tmp_path):
    store = DuckDBStore(str(tmp_path / "demo.duckdb"))
    try:
        environment, first = load_demo(store)
        accounts.rotate_token(store, first.token.token_id)  # someone rotated it: the next load restores it
        _, second = load_demo(store)
        assert (second.token.token_id, second.secret) == (first.token.token_id, first.secret)
        assert [token.token_id for token, _ in store.tokens(environment.environment_id)] == [first.token.token_id]
        stored = store.get_token(first.token.token_id)
        assert accounts.secret_matches(first.secret, stored.secret_hash) and stored.permissions == ("read", "write")
        other = DuckDBStore(str(tmp_path / "other.duckdb"))  # another store has a token of its own
        try:
            _, elsewhere = load_demo(other)
        finally:
            other.close()
        assert elsewhere.token.token_id != first.token.token_id and elsewhere.secret != first.secret
    finally:
        store.close()


def test_the_demo_env_key_gives_no_token(tmp_path):
    """Env keys are public (every beacon carries one): a store holding the same demo environment,
    env key and all, derives another token; the derivation keyed by the env key (how it
    was made before) gives no token either."""
    store = DuckDBStore(str(tmp_path / "demo.duckdb"))
    copy = DuckDBStore(str(tmp_path / "copy.duckdb"))
    try:
        environment, issued = load_demo(store)
        copy.create_environment(environment)
        _, other = load_demo(copy)
        assert copy.get_environment(environment.environment_id).env_key == environment.env_key
        assert (other.token.token_id, other.secret) != (issued.token.token_id, issued.secret)
        by_env_key = hmac.new(environment.env_key.encode(), b"moments demo token secret", hashlib.sha256).digest()
        guess = base64.urlsafe_b64encode(by_env_key).rstrip(b"=").decode()
        assert not accounts.secret_matches(guess, store.get_token(issued.token.token_id).secret_hash)
    finally:
        store.close()
        copy.close()


def test_serve_demo_prints_the_same_token_on_every_start_and_its_lines_run(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if k not in ("MUX_TOKEN_ID", "MUX_TOKEN_SECRET", "MUX_BASE_URL", "MOMENTS_URL", "MOMENTS_STORE", "MOMENTS_DB")}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"

    def start() -> tuple[list[str], str]:
        port = free_port()
        server = subprocess.Popen([sys.executable, "-m", "moments", "serve", "--demo", "--db",
                                   str(tmp_path / "demo.duckdb"), "--port", str(port), "--log-level", "warning"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        url = f"http://127.0.0.1:{port}"
        try:
            lines = banner_of(server, url)
            lines += [server.stdout.readline().rstrip("\n") for _ in range(2)]  # relative, compare
        finally:
            server.terminate()
            server.wait(timeout=30)
        return lines, url

    first, _ = start()
    lines, url = start()
    token = [line for line in lines if line.startswith(("  token id:", "  token secret:"))]
    assert len(token) == 2 and token == [line for line in first if line.startswith(("  token id:", "  token secret:"))]
    shell = lines[lines.index("From a shell (the moments CLI, Mux's SDKs and moments.client read these variables):") + 1:]
    exports, relative, compare = shell[0], shell[3], shell[4]
    assert relative == "  moments relative --asset demo-keynote" and compare.startswith("  moments compare ")
    server = subprocess.Popen([sys.executable, "-m", "moments", "serve", "--db", str(tmp_path / "demo.duckdb"),
                               "--port", url.rsplit(":", 1)[1], "--log-level", "warning"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:  # the same store served without --demo: the printed lines still work as printed
        deadline = time.time() + 60
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                assert time.time() < deadline and server.poll() is None
                time.sleep(0.2)
        answers = {}
        for name, line in (("relative", relative), ("compare", compare)):
            done = subprocess.run(["bash", "-c", f"{exports} && {line.strip()} --json"], cwd=tmp_path, env=env,
                                  capture_output=True, text=True, timeout=60)
            assert done.returncode == 0, (line, done.stderr)
            answers[name] = json.loads(done.stdout)["data"]
        assert answers["relative"]["peers"] >= MIN_PEERS
        assert np.abs(np.array(answers["compare"]["difference"])).max() > 0.1
        assert shlex.split(compare)[-1].isdigit()  # the week before, in epoch seconds
    finally:
        server.terminate()
        server.wait(timeout=30)
