"""PauseClock: training wall time leaves out the time the process was suspended."""
import os
import signal
import subprocess
import sys
import time

import pytest

from licodec.train.clock import PauseClock


def test_gaps_over_threshold_count_as_pauses():
    c = PauseClock(interval=0.5, threshold=2.0, clock=lambda: 0.0, start=False)
    for t in (0.5, 1.0, 1.5):
        c.tick(t)
    assert c.elapsed(0.0, now=1.5) == 1.5  # regular ticks: no pause
    c.tick(11.5)  # the process stood still for ~10 s
    c.tick(12.0)
    assert c.paused_since(0.0) == pytest.approx(9.5)
    assert c.elapsed(0.0, now=12.0) == pytest.approx(2.5)
    assert c.elapsed(11.5, now=12.0) == pytest.approx(0.5)  # a pause that ended before `since` is not subtracted
    c.tick(13.0)  # a late tick under the threshold is not a pause
    assert c.paused_since(0.0) == pytest.approx(9.5)


def test_elapsed_is_never_negative():
    c = PauseClock(interval=0.5, threshold=2.0, clock=lambda: 0.0, start=False)
    c.tick(10.0)
    assert c.elapsed(9.0, now=10.0) == 0.0


def test_thread_ticks_and_stops():
    c = PauseClock(interval=0.01, threshold=5.0)
    last = c._last
    time.sleep(0.1)
    assert c._last > last
    c.close()
    assert not c._thread.is_alive()


@pytest.mark.skipif(not hasattr(signal, "SIGSTOP"), reason="needs POSIX job control")
def test_a_stopped_process_does_not_count_the_stop():
    code = (
        "import sys, time\n"
        "from licodec.train.clock import PauseClock\n"
        "c = PauseClock(interval=0.05, threshold=0.5)\n"
        "t0 = time.monotonic()\n"
        "print('ready', flush=True)\n"
        "sys.stdin.readline()\n"
        "print(f'{time.monotonic() - t0:.3f} {c.elapsed(t0):.3f}', flush=True)\n"
    )
    p = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "ready"
        time.sleep(0.3)
        os.kill(p.pid, signal.SIGSTOP)
        time.sleep(2.0)
        os.kill(p.pid, signal.SIGCONT)
        time.sleep(0.3)
        out, _ = p.communicate("\n", timeout=30)
    finally:
        p.kill()
    wall, counted = map(float, out.split())
    assert wall > 2.5
    assert wall - counted == pytest.approx(2.0, abs=0.3)
