"""The trainer's time and signals: wall time that leaves pauses out, and a clean stop on
SIGINT/SIGTERM at a step boundary."""
from __future__ import annotations

import signal
import threading
import time

__all__ = ["PauseClock", "StopSignals"]


class PauseClock:
    """Wall time minus the time the process was suspended (SIGSTOP, Ctrl-Z, a paused VM).

    A daemon thread ticks every ``interval`` seconds; a gap between two ticks longer than
    ``threshold`` can only mean the whole process stood still (the thread needs the GIL for
    microseconds per tick, and Python hands it over every few ms), and counts as a pause of
    the gap minus one interval. ``elapsed(since)`` is the monotonic time since ``since``
    less the pauses recorded meanwhile. So a run paused for a timing measurement (or a
    laptop asleep) does not book the pause as training time in its card. Precision: one
    interval per pause.
    """

    def __init__(self, interval: float = 0.5, threshold: float = 2.0, clock=time.monotonic, start: bool = True) -> None:
        self.interval, self.threshold, self.clock = interval, threshold, clock
        self._pauses: list[tuple[float, float]] = []  # (resumed at, seconds paused)
        self._last = clock()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = None
        if start:
            self._thread = threading.Thread(target=self._run, name="licodec-pause-clock", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.tick()

    def tick(self, now: float | None = None) -> None:
        """Record a tick (the thread's; tests pass ``now``)."""
        now = self.clock() if now is None else now
        with self._lock:
            gap = now - self._last
            if gap > self.threshold:
                self._pauses.append((now, gap - self.interval))
            self._last = now

    def paused_since(self, since: float) -> float:
        """Seconds of pauses that ended after ``since`` (monotonic time)."""
        with self._lock:
            return sum(p for at, p in self._pauses if at > since)

    def elapsed(self, since: float, now: float | None = None) -> float:
        """Monotonic seconds from ``since`` to now, less the pauses within (never negative)."""
        now = self.clock() if now is None else now
        return max(0.0, now - since - self.paused_since(since))

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


class StopSignals:
    """Within the block, SIGINT and SIGTERM only record that they came.

    A further signal more than a second after the first raises KeyboardInterrupt at once
    (Ctrl-C pressed again). Sooner ones are ignored: Ctrl-C under torchrun reaches a worker
    twice, from the terminal and forwarded by the agent.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.received: int | None = None
        self._at = 0.0
        self._old: dict = {}

    def _handler(self, signum, frame) -> None:
        if self.received is None:
            self.received, self._at = signum, time.monotonic()
        elif time.monotonic() - self._at > 1.0:
            raise KeyboardInterrupt

    def __enter__(self) -> "StopSignals":
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self._old[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
