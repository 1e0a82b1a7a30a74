"""`moments serve --workers N`: the owner process and N-1 door processes on one socket.

The owner holds the store, serves every route, and assembles every journal; doors
(api/door.py) take beacons on the other cores and pass the rest to the owner over a Unix
socket. The owner binds the listening socket before it starts the doors, which inherit it,
so the kernel spreads connections over all N processes. A door that dies is started again;
on shutdown the doors stop first (their journals are durable), then the owner applies what
every journal holds. A door whose owner is killed outright stops by itself.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import uvicorn
from starlette.types import ASGIApp

from moments.api.connections import bounded, uvicorn_options
from moments.api.door import OWNER_SOCKET
from moments.api.logs import LogSettings
from moments.api.observe import Observed
from moments.config import Settings

log = logging.getLogger("moments.workers")


class Doors:
    """The door processes, kept running until `stop`."""

    def __init__(self, count: int, listener: socket.socket, root: Path, settings: Settings,
                 logs: LogSettings) -> None:
        self.listener, self.root, self.settings, self.logs = listener, root, settings, logs
        self.processes: dict[str, subprocess.Popen] = {}
        self._stopping = threading.Event()
        for number in range(1, count):
            self._start(f"door-{number}")
        self._watcher = threading.Thread(target=self._watch, name="doors", daemon=True)
        self._watcher.start()

    def _start(self, name: str) -> None:
        command = [sys.executable, "-m", "moments", "door", "--fd", str(self.listener.fileno()),
                   "--journal-dir", str(self.root), "--name", name, *self.logs.door_args()]
        if self.settings.beacon_path:
            command += ["--beacon-path", self.settings.beacon_path]
        env = {**os.environ, "MOMENTS_MAX_INGEST_BACKLOG_BYTES": str(self.settings.max_ingest_backlog_bytes)}
        self.processes[name] = subprocess.Popen(command, pass_fds=[self.listener.fileno()], env=env,
                                                stdin=subprocess.DEVNULL)

    def _watch(self) -> None:
        while not self._stopping.wait(1.0):
            for name, process in list(self.processes.items()):
                if process.poll() is not None and not self._stopping.is_set():
                    log.error("door %s exited with %s; starting it again", name, process.returncode)
                    self._start(name)

    def signal_stop(self) -> None:
        self._stopping.set()
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)

    def wait(self, timeout_s: float = 30) -> None:
        for process in self.processes.values():
            try:
                process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


class _Owner(uvicorn.Server):
    """uvicorn's server, which stops the doors first when asked to exit, and waits for them
    (still answering what they pass on) before its own shutdown applies every journal."""

    doors: Doors

    def handle_exit(self, sig: int, frame) -> None:
        self.doors.signal_stop()
        super().handle_exit(sig, frame)

    async def shutdown(self, sockets=None) -> None:
        self.doors.signal_stop()
        await asyncio.to_thread(self.doors.wait)
        await super().shutdown(sockets)


def config(app: ASGIApp, settings: Settings, logs: LogSettings) -> uvicorn.Config:
    """How each server process runs `app` (making it configures this process's logging)."""
    return uvicorn.Config(bounded(app, settings), **uvicorn_options(settings), **logs.uvicorn_options())


def run(config: uvicorn.Config, journal_root: Path, listener: socket.socket, workers: int, settings: Settings,
        logs: LogSettings) -> None:
    """Serve the owner's app (`config`) on the listening socket in this process and workers-1 doors."""
    journal_root.mkdir(parents=True, exist_ok=True)
    listener.set_inheritable(True)
    owner_path = journal_root / OWNER_SOCKET
    owner_path.unlink(missing_ok=True)
    internal = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    internal.bind(str(owner_path))
    internal.listen(2048)
    server = _Owner(config)
    server.doors = Doors(workers, listener, journal_root, settings, logs)
    try:
        server.run(sockets=[listener, internal])
    finally:  # also when the server failed to start
        server.doors.signal_stop()
        server.doors.wait()
        owner_path.unlink(missing_ok=True)


def run_door(fd: int, journal_root: Path, name: str, settings: Settings, logs: LogSettings) -> None:
    from moments.api.door import create_door

    listener = socket.socket(fileno=fd)
    door = create_door(journal_root, name, settings)
    # The door logs and times what it is sent (beacons, and what it passes on, with the client's
    # address); its metrics stay its own, /metrics is the owner's.
    server = uvicorn.Server(config(Observed(door, door.state.metrics), settings, logs))
    owner = os.getppid()

    def leave_with_the_owner() -> None:  # an owner killed outright cannot stop its doors
        while os.getppid() == owner:
            time.sleep(0.5)
        server.should_exit = True

    threading.Thread(target=leave_with_the_owner, daemon=True).start()
    server.run(sockets=[listener])
