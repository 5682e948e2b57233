"""The engine's memory lock: pages pinned as they are touched, and only where that is safe."""

import json
import os
import shutil
import subprocess
import sys

import pytest

# Touch 64 MiB after the lock; print what /proc says before and after.
PROBE = """
import json
import numpy as np
from realtime.memlock import lock_memory, locked_kib, may_lock_all

def rss():
    return int(next(x for x in open("/proc/self/status") if x.startswith("VmRSS:")).split()[1])

before = rss()
ok = lock_memory()
after_lock = rss()
a = np.ones(64 << 20, np.uint8)
print(json.dumps({"may": may_lock_all(), "locked": ok, "again": lock_memory(),
                  "rss_growth_kib": after_lock - before, "locked_kib": locked_kib()}))
"""


def _probe(*prefix: str) -> dict:
    r = subprocess.run(
        [*prefix, sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mlockall is Linux's")
def test_lock_pins_touched_pages_without_reading_everything_in():
    out = _probe()
    assert out["locked"] == out["may"] == out["again"]
    if out["locked"]:
        # the 64 MiB touched after the lock are locked; nothing was read in up front
        assert out["locked_kib"] >= 64 << 10, out
        assert out["rss_growth_kib"] < 32 << 10, out
    else:
        assert out["locked_kib"] == 0, out


@pytest.mark.skipif(
    shutil.which("setpriv") is None or shutil.which("prlimit") is None,
    reason="needs util-linux's setpriv and prlimit",
)
def test_no_lock_under_a_finite_limit_without_the_capability():
    # MCL_FUTURE under a 64 KiB limit would make the 64 MiB allocation fail: not taken
    drop = ["setpriv", "--bounding-set", "-ipc_lock", "--inh-caps", "-ipc_lock"]
    out = _probe(*(drop if os.geteuid() == 0 else []), "prlimit", "--memlock=65536")
    assert out == {**out, "may": False, "locked": False, "locked_kib": 0}
