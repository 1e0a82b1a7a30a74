"""A thread that drains the journals under a root (journal.Journals) into somewhere else:
the store (assembler.Assembler) or a shared inbox (forwarder.Forwarder).

It takes a batch (`drain_once`), at most one every `interval_s` unless more is waiting;
waits for this process's next sync when nothing was there; on a failure keeps the records
and tries again after RETRY_AFTER_FAILURE_S. `stop` returns once what is durable is drained.
"""

from __future__ import annotations

import logging
import threading
import time

from moments.ingestion.journal import Journals

RETRY_AFTER_FAILURE_S = 1.0
IDLE_WAIT_S = 0.5


class Drain:
    def __init__(self, journals: Journals, name: str, interval_s: float = 0.0) -> None:
        self.journals, self.interval_s = journals, interval_s
        self.failures = 0
        self._log = logging.getLogger(f"moments.{name}")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def drain_once(self) -> tuple[int, bool]:
        """Take one batch: (records taken, whether more is waiting already)."""
        raise NotImplementedError

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop after draining what is durable now."""
        self._stop.set()
        self.journals.wake()
        self._thread.join()

    def _loop(self) -> None:
        while True:
            stopping = self._stop.is_set()
            started = time.monotonic()
            try:
                taken, more = self.drain_once()
            except Exception:  # the destination failed: keep the records, try again shortly
                self.failures += 1
                self._log.exception("draining beacon records failed; retrying")
                if self._stop.wait(RETRY_AFTER_FAILURE_S):
                    return
                continue
            if stopping and not taken:
                self.journals.save_marks()
                return
            if more or stopping:
                continue
            if taken:  # one batch per interval_s at most: what arrives meanwhile goes in the next
                self._stop.wait(max(0.0, self.interval_s - (time.monotonic() - started)))
            else:
                self.journals.wait_for_own(IDLE_WAIT_S)
