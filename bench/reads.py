"""Read throughput of this tree beside a baseline revision, in one run, on one store:

    python bench/reads.py --baseline-rev 94ff895              # uncached heatmaps, 1e5 views
    python bench/reads.py --baseline-rev 94ff895 --views 1e6 --seconds 10

The store is bench/run.py's (one asset's views over 30 days). Each revision serves it in turn
(`python -m moments serve` with that revision's src/ on PYTHONPATH, checked out with `git
worktree add`), in alternating rounds so a drift of the machine falls on both; every request
asks its own window (nothing comes from the response cache). Prints requests/s and median
latency per revision and connections, and this tree's ratio to the baseline.
"""

from __future__ import annotations

import argparse
import itertools
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import httpload  # noqa: E402
from beacons import Target, free_port, moments, revision_label, sources, wait_healthy  # noqa: E402
from run import ASSET, build, store_url, uncached_path  # noqa: E402

PATHS = {"heatmap": f"/data/v1/engagement/assets/{ASSET}/heatmap", "layers": f"/v1/engagement/assets/{ASSET}/layers"}


def measure(src: Path, url: str, token: tuple[str, str], now_s: int, path: str, connections: int, seconds: float,
            counter: itertools.count, folder: Path) -> tuple[float, float]:
    """(requests/s, median ms) of `src`'s server on the store at `url`."""
    port = free_port()
    with (folder / "server.log").open("ab") as log:
        server = moments(src, "serve", "--store", url, "--port", str(port), "--log-level", "warning",
                         stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    try:
        target = Target(f"http://127.0.0.1:{port}", "", token, server.pid, "")
        wait_healthy(target, server, folder / "server.log")
        httpload.get_load(target.base_url, uncached_path(path, "", now_s), counter, token, connections, 1.0)  # warm
        result = httpload.get_load(target.base_url, uncached_path(path, "", now_s), counter, token, connections, seconds)
        assert not result.non_200, result.non_200
        return result.rps, result.p50_ms
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline-rev", required=True)
    parser.add_argument("--views", default="1e5")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--connections", default="1,4")
    args = parser.parse_args()
    now_ms = int(time.time() * 1000)
    counter = itertools.count(1)  # every request of the run its own window
    with tempfile.TemporaryDirectory() as folder, sources(args.baseline_rev) as baseline, sources(None) as ours:
        url = store_url("duckdb", Path(folder) / "reads.duckdb")
        _, _, issued, _ = build(url, int(float(args.views)), now_ms)
        token = (issued.token.token_id, issued.secret)
        revisions = {revision_label(args.baseline_rev): baseline, revision_label(None): ours}
        print(f"| endpoint | connections | {' | '.join(revisions)} | this tree / baseline |")
        print("|---|---:|" + "---:|" * (len(revisions) + 1))
        for name, path in PATHS.items():
            for connections in (int(c) for c in args.connections.split(",")):
                samples = {label: [] for label in revisions}
                for _ in range(args.rounds):
                    for label, src in revisions.items():
                        samples[label].append(measure(src, url, token, now_ms // 1000, path, connections,
                                                      args.seconds, counter, Path(folder)))
                rps = {label: float(np.median([s[0] for s in runs])) for label, runs in samples.items()}
                p50 = {label: float(np.median([s[1] for s in runs])) for label, runs in samples.items()}
                base, mine = (rps[label] for label in revisions)
                cells = " | ".join(f"{rps[label]:,.0f} req/s, p50 {p50[label]:.1f} ms" for label in revisions)
                print(f"| {name} | {connections} | {cells} | {mine / base:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
