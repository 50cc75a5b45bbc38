import subprocess
import sys

import pytest


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_keep_freed_memory_sets_glibcs_thresholds():
    # in a fresh process (it changes the allocator of the process that calls it): glibc
    # accepts both settings, and a freed 64 MB buffer is not returned to the system
    code = (
        "import ctypes, licodec.native as n\n"
        "def rss():\n"
        "    return int(open('/proc/self/statm').read().split()[1]) * 4096\n"
        "if not n.keep_freed_memory():\n"
        "    print('no glibc'); raise SystemExit\n"
        "import numpy as np\n"
        "a = np.ones(64 << 20, dtype=np.uint8); before = rss(); del a\n"
        "assert rss() > before - (32 << 20), (rss(), before)\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    if out.stdout.strip() == "no glibc":
        pytest.skip("no glibc (mallopt)")
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_without_keep_freed_memory_a_large_buffer_goes_back():
    # the control: by default glibc returns a freed 64 MB buffer (so the test above can fail)
    code = (
        "def rss():\n"
        "    return int(open('/proc/self/statm').read().split()[1]) * 4096\n"
        "import numpy as np\n"
        "a = np.ones(64 << 20, dtype=np.uint8); before = rss(); del a\n"
        "assert rss() < before - (32 << 20), (rss(), before)\n"
        "print('ok')\n"
    )
    if not sys.platform.startswith("linux"):
        pytest.skip("/proc")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
