"""GET load for bench/run.py, on bench/beacons.py's client (keep-alive HTTP/1.1 over asyncio streams).

`get_load` keeps N connections each sending its next GET as soon as the previous one is
answered, for a fixed time; each request's path comes from a function of a run-wide counter,
so a caller can give every request a path of its own (a distinct window: the response cache
cannot answer) or the same one (it can). `get_ceiling` is the same clients against
beacons.py's instant local server: what this generator can send at most. `Flood` runs
beacons.py's beacon clients in a process of their own while the caller measures queries.
"""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing
import socket
import time
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Callable, Iterator

import beacons
from beacons import Connection, ConnectionLost, Load, Pool, Tally, get_request, instant_server, percentile


@dataclass
class LoadResult:
    connections: int
    seconds: float
    requests: int  # answered 200
    distinct_paths: int  # distinct paths asked (equals requests + non_200 when every request had its own)
    rps: float  # 200 answers per second
    p50_ms: float | None
    p99_ms: float | None
    non_200: dict[str, int]

    def json(self) -> dict:
        return asdict(self)


async def _get_load(host: str, port: int, authority: str, path_of: Callable[[int], str], counter: Iterator[int],
                    token: tuple[str, str] | None, connections: int, seconds: float) -> LoadResult:
    latencies: list[float] = []
    statuses: Counter = Counter()
    paths: set[str] = set()
    deadline = time.monotonic() + seconds

    async def client() -> None:
        connection = Connection(host, port)
        while time.monotonic() < deadline:
            path = path_of(next(counter))
            paths.add(path)
            request = get_request(authority, path, token)
            started = time.perf_counter()
            try:
                answer = await connection.exchange(request)
            except ConnectionLost:
                statuses["connection lost"] += 1
                continue
            if answer.status == 200:
                latencies.append((time.perf_counter() - started) * 1000)
            else:
                statuses[str(answer.status)] += 1
                if answer.retry_after_s is not None:  # a refusal (429/503): wait as told, as a client should
                    await asyncio.sleep(min(answer.retry_after_s, max(0.0, deadline - time.monotonic())))
        connection.close()

    started = time.monotonic()
    await asyncio.gather(*(client() for _ in range(connections)))
    elapsed = time.monotonic() - started
    return LoadResult(connections, elapsed, len(latencies), len(paths), len(latencies) / elapsed,
                      percentile(latencies, 50), percentile(latencies, 99), dict(statuses))


def get_load(base_url: str, path_of: Callable[[int], str], counter: Iterator[int], token: tuple[str, str] | None,
             connections: int, seconds: float) -> LoadResult:
    target = beacons.Target(base_url, "")
    return asyncio.run(_get_load(target.host, target.port, target.authority, path_of, counter, token, connections,
                                 seconds))


def get_ceiling(connections: int, seconds: float) -> LoadResult:
    """GETs/s of these clients (distinct paths) against beacons.py's instant server in its own process."""
    listener = socket.create_server(("127.0.0.1", 0))
    process = multiprocessing.get_context("fork").Process(target=instant_server, args=(listener,), daemon=True)
    process.start()
    try:
        return get_load(f"http://127.0.0.1:{listener.getsockname()[1]}", lambda i: f"/ceiling?i={i}",
                        itertools.count(), ("id", "secret"), connections, seconds)
    finally:
        process.terminate()
        process.join()
        listener.close()


async def timed_get(connection: Connection, authority: str, path: str, token: tuple[str, str]) -> tuple[int, float]:
    started = time.perf_counter()
    answer = await connection.exchange(get_request(authority, path, token))
    return answer.status, (time.perf_counter() - started) * 1000


def post_request(authority: str, path: str, token: tuple[str, str], body: bytes, content_type: str) -> bytes:
    head = get_request(authority, path, token).replace(b"GET ", b"POST ", 1).removesuffix(b"\r\n")
    return head + b"Content-Type: %s\r\nContent-Length: %d\r\n\r\n%s" % (content_type.encode(), len(body), body)


class RenewedPool(Pool):
    """Viewers rendered beforehand, a new batch (fresh view ids) whenever one is used up: a flood of any length."""

    def __init__(self, scenarios: list, tag: str, count: int) -> None:
        super().__init__(scenarios, f"{tag}0-", count)
        self.scenarios, self.tag, self.count, self.batches = scenarios, tag, count, 1

    def take(self):
        viewer = super().take()
        if viewer is None:
            self.viewers = [beacons.render(self.scenarios[i % len(self.scenarios)], f"{self.tag}{self.batches}-{i}")
                            for i in range(self.count)]
            self.next, self.batches = 0, self.batches + 1
            viewer = super().take()
        return viewer


FLOOD_CHUNK_S = 2.0  # the flood runs in chunks of this length until told to stop


def _flood(base_url: str, env_key: str, clients: int, ready, stop, results) -> None:
    target = beacons.Target(base_url, env_key)
    scenarios = beacons.load_scenarios(env_key, target.authority)
    pool = RenewedPool(scenarios, "flood", 2000)
    tally = Tally()
    ready.set()

    async def run() -> None:
        while not stop.is_set():
            await beacons.clients(target.host, target.port, Load(clients, FLOOD_CHUNK_S), pool, tally,
                                  time.monotonic() + FLOOD_CHUNK_S)

    started = time.monotonic()
    asyncio.run(run())
    elapsed = time.monotonic() - started
    results.put({"clients": clients, "seconds": elapsed, "posts": tally.posts, "events": tally.events,
                 "posts_per_s": tally.posts / elapsed, "events_per_s": tally.events / elapsed,
                 "ack_p50_ms": percentile(tally.latencies_ms, 50), "ack_p99_ms": percentile(tally.latencies_ms, 99),
                 "non_2xx": dict(tally.answers), "scenarios": len(scenarios), "viewers_rendered":
                 pool.batches * pool.count})


class Flood:
    """beacons.py's back-to-back beacon clients (captured mux-embed POSTs, fresh view ids) in a
    forked process, from when its first viewers are rendered until `stop()`, which returns its tally."""

    def __init__(self, base_url: str, env_key: str, clients: int) -> None:
        context = multiprocessing.get_context("fork")
        self.ready, self.stopping, self.results = context.Event(), context.Event(), context.Queue()
        self.process = context.Process(target=_flood, args=(base_url, env_key, clients, self.ready, self.stopping,
                                                            self.results), daemon=True)
        self.process.start()
        if not self.ready.wait(300):
            self.process.kill()
            raise RuntimeError("the beacon flood did not start")

    def stop(self) -> dict:
        self.stopping.set()
        out = self.results.get(timeout=beacons.GRACE_S + 120)
        self.process.join(60)
        return out
