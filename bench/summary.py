"""What the summary and chapter figures cost beside the heatmap, at each audience size, in one run:

    python bench/summary.py                      # DuckDB at 1e5, 1e6, 1e7 views
    python bench/summary.py --sizes 1e5 --seconds 1

The store is bench/run.py's (one asset's views over 30 days, bulk-loaded). In process, every
call on its own window (nothing cached): the heatmap, /summary (its figures are the heatmap's,
so it should cost the same), /summary?per_view=true, /chapters (the asset's 10 chapters) and /layers
(all three read every counted view).
Prints a Markdown table: median ms and the ratio to the heatmap measured beside it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from run import ASSET, build, store_url, timed_for, windows  # noqa: E402

from moments import stats  # noqa: E402
from moments.config import Settings  # noqa: E402
from moments.model import Scope  # noqa: E402
from moments.stats.chapters import chapters  # noqa: E402
from moments.stats.query import EngagementQuery  # noqa: E402
from moments.stats.summary import summary  # noqa: E402
from moments.store import open_store  # noqa: E402


def measure(url: str, environment_id: str, now_ms: int, seconds: float) -> dict[str, float]:
    store = open_store(url)
    environment = store.get_environment(environment_id)
    idle = Settings().idle_timeout_s
    window_of = windows(now_ms // 1000)

    def asked(k: int) -> EngagementQuery:
        return EngagementQuery(environment, Scope.ASSET, ASSET, window_of(k), (), now_ms, idle)

    calls = {
        "heatmap": lambda k: stats.engagement(store, asked(k)),
        "summary": lambda k: summary(store, asked(k)),
        "summary per_view": lambda k: summary(store, asked(k), per_view=True),
        "chapters": lambda k: chapters(store, asked(k)),
        "layers": lambda k: stats.layers(store, asked(k)),
    }
    medians = {}
    for name, call in calls.items():
        call(0)  # warm
        medians[name] = float(np.median(timed_for(lambda k: call(k + 1), seconds)))
    store.close()
    return medians


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1e5,1e6,1e7", help="Views per size, comma-separated.")
    parser.add_argument("--seconds", type=float, default=3.0, help="Seconds of calls per measurement (at least 3 calls).")
    args = parser.parse_args()
    now_ms = int(time.time() * 1000)
    rows = []
    for size in (int(float(s)) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as folder:
            url = store_url("duckdb", Path(folder) / "bench.duckdb")
            environment_id = build(url, size, now_ms)[0]
            medians = measure(url, environment_id, now_ms, args.seconds)
        base = medians["heatmap"]
        rows.append(f"| {size:,} | " + " | ".join(f"{ms:,.1f} ms ({ms / base:.2f}x)" for ms in medians.values()) + " |")
        print(rows[-1], flush=True)
    print("\n| views | " + " | ".join(["heatmap", "summary", "summary per_view", "chapters", "layers"]) + " |")
    print("|---:|" + "---:|" * 5)
    print("\n".join(rows))


if __name__ == "__main__":
    main()
