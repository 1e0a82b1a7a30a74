"""The hotspot evaluation: simulated audiences with planted moments, run through the real
import and query path, scored against the truth, next to the obvious alternative
(`scipy.signal.find_peaks` with a prominence threshold). `moments eval-hotspots` prints it.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from scipy.signal import find_peaks

from moments import accounts, stats
from moments.engagement.heatmap import bucket_count
from moments.ingestion.imports import import_records
from moments.model import Scope, View
from moments.simulate import Audience, Moment, Scenario, simulate_views
from moments.store.duckdb import DuckDBStore

MATCH_IOU = 0.3
BASELINE_PROMINENCE = 0.03  # 3 points of share: what a user would try first
MIN = 60_000


@dataclass(frozen=True)
class Case:
    name: str
    audience: Audience
    kind: str  # "null" (no moment), "few" (a handful of views), "planted"


@dataclass
class Found:
    start_ms: int
    end_ms: int
    peak: bool


@dataclass
class Result:
    case: Case
    ours: list[Found]
    baseline: list[Found]
    effects: list[float] = field(default_factory=list)  # realised effect of each planted moment, share points


def null_cases(views: tuple[int, ...], durations: tuple[int, ...]) -> list[Case]:
    cases = []
    for i, n in enumerate(views):
        for j, d in enumerate(durations):
            seed = 100 + 10 * i + j
            audience = Audience(duration_ms=d, n_views=n, hazard_per_minute=min(0.6, 2.0 * MIN / d),
                                hazard_growth=(seed % 3) * 0.7, intro_drop=0.1 + 0.05 * (seed % 4),
                                midway_share=0.03 * (seed % 3), seed=seed)
            cases.append(Case(f"null {n} views {d // 1000}s", audience, "null"))
    return cases


def planted_cases() -> list[Case]:
    def audience(d: int, n: int, moments: tuple[Moment, ...], seed: int, **kw) -> Audience:
        return Audience(duration_ms=d, n_views=n, hazard_per_minute=kw.pop("hazard", min(0.5, 2.0 * MIN / d)),
                        moments=moments, seed=seed, **kw)

    return [
        Case("peak 2min", audience(120_000, 3000, (Moment(50_000, 65_000, "peak", 0.3),), 1), "planted"),
        Case("valley 2min", audience(120_000, 3000, (Moment(60_000, 80_000, "valley", 0.4),), 2), "planted"),
        Case("peak 10min", audience(600_000, 3000, (Moment(240_000, 300_000, "peak", 0.25),), 3), "planted"),
        Case("valley 1h", audience(3_600_000, 3000, (Moment(1_200_000, 1_500_000, "valley", 0.4),), 4), "planted"),
        Case("2 peaks 2 valleys 10min", audience(600_000, 5000, (
            Moment(60_000, 90_000, "valley", 0.4), Moment(200_000, 230_000, "peak", 0.3),
            Moment(330_000, 370_000, "valley", 0.4), Moment(480_000, 520_000, "peak", 0.25)), 5), "planted"),
        Case("3 peaks 2 valleys 3h", audience(10_800_000, 5000, (
            Moment(900_000, 1_200_000, "peak", 0.3), Moment(2_400_000, 2_800_000, "valley", 0.4),
            Moment(4_500_000, 4_800_000, "peak", 0.3), Moment(6_600_000, 7_000_000, "valley", 0.4),
            Moment(9_000_000, 9_400_000, "peak", 0.3)), 6), "planted"),
        Case("subtle peak 5min 3000 views", audience(300_000, 3000, (Moment(150_000, 180_000, "peak", 0.09),), 7),
             "planted"),
        Case("subtle valley 5min 3000 views", audience(300_000, 3000, (Moment(120_000, 150_000, "valley", 0.16),),
                                                    8), "planted"),
        Case("subtle peak+valley 20min 4000 views", audience(1_200_000, 4000, (
            Moment(300_000, 360_000, "valley", 0.13), Moment(800_000, 860_000, "peak", 0.08)), 9), "planted"),
        Case("late peak 1h", audience(3_600_000, 4000, (Moment(3_000_000, 3_200_000, "peak", 0.12),), 10,
                                      hazard=0.04), "planted"),
        Case("peak after steep intro 3min", audience(180_000, 3000, (Moment(100_000, 115_000, "peak", 0.3),), 11,
                                                    intro_drop=0.4), "planted"),
        Case("valley with rewatches and joins 8min", audience(480_000, 3000, (
            Moment(200_000, 240_000, "valley", 0.35),), 12, rewatch_share=0.4, midway_share=0.15), "planted"),
    ]


def random_cases(count: int, seed: int = 1000) -> list[Case]:
    """Moments of random kind, length, place and strength in random audiences (seeded)."""
    rng = np.random.default_rng(seed)
    cases = []
    for i in range(count):
        d = int(np.exp(rng.uniform(np.log(60_000), np.log(7_200_000))))
        n = int(rng.integers(2000, 8000))
        moments, cursor = [], d * 0.08
        for _ in range(int(rng.integers(1, 4))):
            length = d * rng.uniform(0.04, 0.1)
            start = cursor + d * rng.uniform(0.03, 0.15)
            if start + length > d * 0.95:
                break
            kind = "peak" if rng.random() < 0.5 else "valley"
            strength = rng.uniform(0.12, 0.35) if kind == "peak" else rng.uniform(0.15, 0.45)
            moments.append(Moment(int(start), int(start + length), kind, float(strength)))
            cursor = start + length
        audience = Audience(duration_ms=d, n_views=n, hazard_per_minute=float(rng.uniform(0.3, 4.0)) * MIN / d,
                            hazard_growth=float(rng.uniform(0, 2)), intro_drop=float(rng.uniform(0, 0.4)),
                            midway_share=float(rng.uniform(0, 0.15)), rewatch_share=float(rng.uniform(0, 0.3)),
                            moments=tuple(moments), seed=seed + i)
        cases.append(Case(f"random #{i} {d // 1000}s", audience, "planted"))
    return cases


def control_cases() -> list[Case]:
    return [
        Case("steep intro drop 5min", Audience(duration_ms=300_000, n_views=3000, intro_drop=0.5,
                                               hazard_per_minute=0.1, seed=20), "null"),
        Case("steady steep trend 10min", Audience(duration_ms=600_000, n_views=5000, intro_drop=0.0,
                                                  hazard_per_minute=0.4, hazard_growth=1.5, seed=21), "null"),
        Case("many mid-way joins 10min", Audience(duration_ms=600_000, n_views=3000, midway_share=0.5,
                                                  hazard_per_minute=0.1, seed=22), "null"),
    ] + [
        Case(f"few views ({n}) strong peak", Audience(duration_ms=120_000, n_views=n, seed=30 + n,
                                                      moments=(Moment(40_000, 60_000, "peak", 0.8),)), "few")
        for n in (3, 8, 15, 25)
    ]


def suite(quick: bool = False) -> list[Case]:
    if quick:
        nulls = null_cases((50, 2000), (20_000, 600_000))
        planted = [c for c in planted_cases() if c.name in ("peak 2min", "2 peaks 2 valleys 10min",
                                                             "subtle peak 5min 3000 views",
                                                             "subtle valley 5min 3000 views", "late peak 1h")]
        return nulls + planted + random_cases(4) + control_cases()[:1] + control_cases()[-2:]
    return (null_cases((50, 300, 2000, 20_000), (20_000, 120_000, 600_000, 3_600_000, 10_800_000))
            + planted_cases() + random_cases(24) + control_cases())


def record(view: View) -> dict:
    """A simulated view in the import format."""
    return {"view_id": view.view_id, "asset_id": view.asset_id, "view_start": view.view_start_ms,
            "view_end": view.view_end_ms, "duration_ms": view.duration_ms, "ranges": [list(r) for r in view.ranges]}


def baseline(values: np.ndarray, duration_ms: int) -> list[Found]:
    """find_peaks on the curve and on its negation, ranges at half prominence."""
    found = []
    bucket = duration_ms / len(values)
    for sign in (1, -1):
        _, props = find_peaks(sign * values, prominence=BASELINE_PROMINENCE, width=1)
        for lo, hi in zip(props["left_ips"], props["right_ips"]):
            found.append(Found(round(lo * bucket), round((hi + 1) * bucket), sign == 1))
    return found


def realised_effects(audience: Audience, values: np.ndarray) -> list[float]:
    """Mean share change over each planted range against the same audience without moments."""
    from moments.engagement.heatmap import heatmap
    from moments.simulate import range_set

    plain = heatmap(range_set(replace(audience, moments=())), audience.duration_ms)
    edges = np.arange(len(values) + 1) * audience.duration_ms / len(values)
    effects = []
    for m in audience.moments:
        inside = (edges[:-1] >= m.start_ms) & (edges[1:] <= m.end_ms)
        effects.append(float((values[inside] - plain[inside]).mean() * 100) if inside.any() else 0.0)
    return effects


def run_case(store: DuckDBStore, case: Case, now_ms: int) -> Result:
    environment, _ = accounts.create_environment(store, case.name)
    scenario = Scenario(view_id_prefix="v", asset_id="content", start_ms=now_ms - 86_400_000, span_ms=3_600_000)
    result = import_records(store, environment.environment_id, (record(v) for v in simulate_views(case.audience,
                                                                                                 scenario)))
    assert not result.rejected, result.rejected[:3]
    window = (now_ms // 1000 - 2 * 86_400, now_ms // 1000)
    engagement = stats.engagement(store, environment, Scope.ASSET, "content", window, now_ms, 3600, True)
    ours = [Found(h.start_ms, h.end_ms, h.score > 0.5) for h in engagement.hotspots]
    theirs = baseline(engagement.values, engagement.duration_ms) if engagement.total_views else []
    effects = realised_effects(case.audience, engagement.values) if case.audience.moments and \
        engagement.total_views else []
    return Result(case, ours, theirs, effects)


def iou(a: tuple[int, int], b: tuple[int, int]) -> float:
    inter = max(0, min(a[1], b[1]) - max(a[0], b[0]))
    return inter / (max(a[1], b[1]) - min(a[0], b[0]))


def matches(found: list[Found], moments: tuple[Moment, ...]) -> tuple[int, int]:
    """(found ranges that match a planted moment, planted moments matched): same sign, IoU >= 0.3."""
    def hit(f: Found, m: Moment) -> bool:
        return f.peak == (m.kind == "peak") and iou((f.start_ms, f.end_ms), (m.start_ms, m.end_ms)) >= MATCH_IOU

    return sum(any(hit(f, m) for m in moments) for f in found), sum(any(hit(f, m) for f in found) for m in moments)


@dataclass
class Score:
    found: int = 0
    true_found: int = 0
    planted: int = 0
    recalled: int = 0
    null_false: int = 0

    @property
    def precision(self) -> float:
        return self.true_found / self.found if self.found else 1.0

    @property
    def recall(self) -> float:
        return self.recalled / self.planted if self.planted else 1.0


def score(results: list[Result], pick) -> Score:
    total = Score()
    for r in results:
        found = pick(r)
        if r.case.kind == "planted":
            true_found, recalled = matches(found, r.case.audience.moments)
            total.found += len(found)
            total.true_found += true_found
            total.planted += len(r.case.audience.moments)
            total.recalled += recalled
        else:
            total.null_false += len(found)
    return total


def evaluate(quick: bool = False) -> tuple[list[Result], float]:
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        store = DuckDBStore(str(Path(folder) / "eval.duckdb"))
        now_ms = int(time.time() * 1000)
        results = [run_case(store, case, now_ms) for case in suite(quick)]
        store.close()
    return results, time.perf_counter() - started


def table(results: list[Result]) -> str:
    lines = ["| case | views | duration | buckets | planted | effect (pts) | ours found / matched | "
             "find_peaks found / matched |", "|---|---:|---:|---:|---:|---|---:|---:|"]
    for r in results:
        a = r.case.audience
        moments = a.moments if r.case.kind == "planted" else ()
        ours, theirs = matches(r.ours, moments), matches(r.baseline, moments)
        effects = ", ".join(f"{e:+.1f}" for e in r.effects) or "-"
        lines.append(f"| {r.case.name} | {a.n_views} | {a.duration_ms / 1000:g} s | {bucket_count(a.duration_ms)} | "
                     f"{len(moments)} | {effects} | {len(r.ours)} / {ours[0]} | {len(r.baseline)} / {theirs[0]} |")
    return "\n".join(lines)


def sign_errors(results: list[Result], pick) -> int:
    """Found ranges on a planted moment (IoU >= 0.3) whose score is on the wrong side of 0.5."""
    return sum(
        f.peak != (m.kind == "peak")
        for r in results if r.case.kind == "planted"
        for f in pick(r) for m in r.case.audience.moments
        if iou((f.start_ms, f.end_ms), (m.start_ms, m.end_ms)) >= MATCH_IOU
    )


def recall_at_least(results: list[Result], pick, points: float) -> tuple[int, int]:
    """(recalled, planted) over the planted moments whose realised effect is >= `points`."""
    recalled = planted = 0
    for r in results:
        if r.case.kind != "planted":
            continue
        for moment, effect in zip(r.case.audience.moments, r.effects):
            if abs(effect) >= points:
                planted += 1
                recalled += matches(pick(r), (moment,))[1]
    return recalled, planted


DETECTORS = (("moments", lambda r: r.ours), (f"find_peaks, prominence {BASELINE_PROMINENCE}", lambda r: r.baseline))


def summary(results: list[Result]) -> str:
    nulls = sum(r.case.kind != "planted" for r in results)
    rows = ["| detector | precision | recall | recall, moments >= 5 pts | false hotspots on null/few-view cases "
            "| wrong side of 0.5 |", "|---|---:|---:|---:|---:|---:|"]
    for name, pick in DETECTORS:
        s = score(results, pick)
        big, big_total = recall_at_least(results, pick, 5.0)
        rows.append(f"| {name} | {s.precision:.3f} ({s.true_found}/{s.found}) | {s.recall:.3f} "
                    f"({s.recalled}/{s.planted}) | {big / max(big_total, 1):.3f} ({big}/{big_total}) | "
                    f"{s.null_false} on {nulls} cases | {sign_errors(results, pick)} |")
    return "\n".join(rows)
