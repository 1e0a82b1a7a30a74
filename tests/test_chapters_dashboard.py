"""The dashboard's chapters (web/chapters.js, chart.js) in Debian's Chromium on the demo data:
the chart's chapter stretches where the API's chapters lie, each titled; the panel's table the
API's figures and intervals, with its leaves by tenth drawn; each hotspot named by its chapter;
the tooltip naming the moment's chapter; a chapter clicked plays from its start; content without
chapters says why.
"""

from __future__ import annotations

import pytest

from test_dashboard import (browsing, demo, media, media_site, no_trouble, show, sign_in,  # noqa: F401 (fixtures)
                            wait_for_media_time)


def percent(share: float) -> str:
    return f"{share * 100:.1f}%"


def chapters_of(chapters: list[dict], start: int, end: int) -> str:
    return " → ".join(c["title"] for c in chapters if c["end_ms"] > c["start_ms"] and c["start_ms"] < end
                      and c["end_ms"] > start)


def shown_chapters(page, count: int) -> None:
    page.wait_for_function("n => document.querySelectorAll('#chapters-rows tr').length === n "
                           "&& document.querySelectorAll('.chapter-band').length === n", arg=count)


@pytest.mark.parametrize("kind, scope_id", [("assets", "demo-keynote"), ("playback-ids", "demotutorialpb1")])
def test_the_chapters_are_drawn_listed_and_name_the_hotspots(browsing, demo, kind, scope_id):
    page = browsing.page
    sign_in(page, demo.server.base_url, demo.token_id, demo.secret)
    page.wait_for_selector(".id-item")
    show(page, kind, scope_id)
    report = demo.api(f"/v1/engagement/{kind}/{scope_id}/chapters")["data"]
    chapters, duration = report["chapters"], report["duration_ms"]
    assert len(chapters) == 5 and report["total_views"] > 0
    shown_chapters(page, len(chapters))

    # On the chart: each chapter's stretch where the API lays it, titled (shortened to fit).
    frame = page.locator(".strip-frame")
    left, width = float(frame.get_attribute("x")), float(frame.get_attribute("width"))
    bands = page.eval_on_selector_all(".chapter-band", "els => els.map(e => [e.dataset.title, +e.getAttribute('x'), "
                                                        "+e.getAttribute('width')])")
    for (title, x, w), chapter in zip(bands, chapters):
        assert title == chapter["title"]
        assert x == pytest.approx(left + chapter["start_ms"] / duration * width, abs=0.01)
        assert x + w == pytest.approx(left + chapter["end_ms"] / duration * width, abs=0.01)
    titles = page.eval_on_selector_all(".chapter-title", "els => els.map(e => e.textContent)")
    assert titles and all(any(c["title"] == t or (t.endswith("…") and c["title"].startswith(t[:-1]))
                              for c in chapters) for t in titles)

    # The table: the API's figures and intervals, and ten bars of leaves per chapter.
    rows = page.eval_on_selector_all("#chapters-rows tr", """rows => rows.map(r => ({
        title: r.querySelector('.chapter-title').textContent,
        values: [...r.querySelectorAll('.chapter-value')].map(e => e.textContent),
        intervals: [...r.querySelectorAll('.chapter-interval')].map(e => e.textContent),
        tenths: [...r.querySelectorAll('.chapter-tenths rect')].map(e => +e.dataset.share),
        median: r.querySelector('.chapter-median')?.textContent}))""")
    names = ("reached", "finished", "average_watched")
    for row, chapter in zip(rows, chapters):
        assert row["title"] == chapter["title"]
        assert row["values"] == [percent(chapter[name]) for name in names]
        assert row["intervals"] == [f"{percent(chapter['intervals'][n][0])}–{percent(chapter['intervals'][n][1])}"
                                    for n in names]
        assert row["tenths"] == pytest.approx(chapter["leaves_by_tenth"])
        assert row["median"].startswith("median ") == (chapter["leave_median_ms"] is not None)

    # Each hotspot names the chapters it lies in; the planted moments are in chapters of their own.
    hotspots = demo.api(f"/data/v1/engagement/{kind}/{scope_id}/hotspots")["data"]["hotspots"]
    labels = page.eval_on_selector_all(".hotspot-list li", "items => items.map(li => [+li.dataset.startMs, "
                                                           "+li.dataset.endMs, li.querySelector('.hs-chapter')?.textContent])")
    assert sorted(labels) == sorted([h["start_ms"], h["end_ms"], f"in {chapters_of(chapters, h['start_ms'], h['end_ms'])}"]
                                    for h in hotspots)
    assert hotspots

    # The tooltip names the chapter of the moment under the pointer.
    second = chapters[1]
    box = page.locator(".hit").bounding_box()
    middle = (second["start_ms"] + second["end_ms"]) / 2 / duration
    page.mouse.move(box["x"] + box["width"] * middle, box["y"] + box["height"] / 2)
    page.wait_for_selector(".chart-tooltip:not([hidden])")
    assert page.text_content(".tooltip-chapter") == f"Chapter: {second['title']}"
    browsing.shot(f"chapters-{kind}-{scope_id}")
    no_trouble(browsing)


def test_clicking_a_chapter_plays_it_and_content_without_chapters_says_why(browsing, demo):
    page = browsing.page
    sign_in(page, demo.server.base_url, demo.token_id, demo.secret)
    page.wait_for_selector(".id-item")
    show(page, "assets", "demo-trailer")
    chapters = demo.api("/v1/engagement/assets/demo-trailer/chapters")["data"]["chapters"]
    shown_chapters(page, len(chapters))
    page.wait_for_selector("#player:not([hidden])")
    page.locator("#chapters-rows tr").nth(1).locator(".chapter-seek").click()
    wait_for_media_time(page, chapters[1]["start_ms"] / 1000)

    show(page, "assets", "demo-clip-1")
    page.wait_for_function("() => document.querySelector('#chapters-status').textContent.startsWith('No chapters')")
    assert page.text_content("#chapters-status") == (
        "No chapters: asset 'demo-clip-1' has no chapters: PUT /v1/assets/demo-clip-1 with them.")
    assert page.is_hidden("#chapters-table")
    assert page.eval_on_selector_all(".chapter-band", "els => els.length") == 0
    assert page.eval_on_selector_all(".hs-chapter", "els => els.length") == 0
    no_trouble(browsing)
