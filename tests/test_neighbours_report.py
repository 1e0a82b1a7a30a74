"""bench/neighbours.py --from-log over the committed log: the section has a column for every
revision the log holds, keeps the rest of the page, and each number in it is in the log, is
one of the script's constants, or is computed from those. Renders only; never a timing assertion."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOG = ROOT / "bench" / "last-neighbours-run.log"
NUMBER = re.compile(r"(?<![\w.])\d[\d,]*(?:\.\d+)?(?![\w])")


def load_script():
    sys.path.insert(0, str(ROOT / "bench"))
    spec = importlib.util.spec_from_file_location("neighbours", ROOT / "bench" / "neighbours.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_from_log_renders_every_revision_from_the_log(tmp_path: Path, monkeypatch) -> None:
    neighbours = load_script()
    out = tmp_path / "benchmarks.md"
    out.write_text("# Benchmarks\n\nhead\n\n<!-- filters section: bench/run.py --filters -->\nkept\n"
                   "<!-- end of filters section -->\n")
    monkeypatch.setattr(sys, "argv", ["neighbours.py", "--from-log", str(LOG), "--out", str(out)])
    neighbours.main()
    page = out.read_text()
    assert page.startswith("# Benchmarks\n\nhead\n") and "\nkept\n" in page
    start, end = sys.modules["report"].SECTIONS["neighbours"]
    text = page[page.index(start):page.index(end)]

    runs = neighbours.read_log(LOG)
    header = next(line for line in text.splitlines() if line.startswith("| |"))
    revisions = list(dict.fromkeys(run["rev"] for run in runs))
    assert len(header.split("|")) - 3 == len(revisions) and all(rev in header for rev in revisions)

    allowed: set[float] = set()

    def allow(value: float) -> None:
        for v in (value, value / 1000):
            allowed.update({round(v), round(v, 1), round(v, 2)})

    for number in NUMBER.findall(LOG.read_text()):
        allow(float(number.replace(",", "")))
    for run in runs:  # derived: ratios, totals, charges
        if run["idle"]["b_ms"] and run["flood"]["b_ms"]:
            allow(run["flood"]["b_ms"]["p99"] / run["idle"]["b_ms"]["p99"])
        allow(run["peers"] + 1)
        allow(sum(neighbours.peer_views(i, run["views_per_peer"]) for i in range(run["peers"] + 1)))
        cost, limit = neighbours.relative_cost(run["peers"]), neighbours.Environment.__dataclass_fields__[
            "rate_limit_per_s"].default
        for value in (cost, limit, run["a_rate"] * cost, cost / limit, len(runs)):
            allow(value)
    for value in (neighbours.B_VIEWS, neighbours.B_RATE, neighbours.TIMEOUT_S, neighbours.DURATION_MS / 60_000,
                  neighbours.DAYS, neighbours.PEERS_PER_REQUEST):
        allow(value)
    stray = [n for n in NUMBER.findall(text) if float(n.replace(",", "")) not in allowed]
    assert not stray, stray
