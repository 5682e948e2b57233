"""What the engine does about the interpreter's pauses: the heap frozen before streaming
(no full collection walks torch's objects while audio runs), the collector's pauses
counted, and the engine process's threads raised so that none holding the lock is
preempted by the window."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import textwrap
import time

from model.separator import Separator
from realtime.engine import Engine, StreamSettings


def test_start_freezes_the_heap_and_counts_the_collectors_pauses():
    engine = Engine(Separator.from_preset("tiny"))
    try:
        engine.start(StreamSettings())
        assert gc.get_freeze_count() > 10_000  # torch's and numpy's objects, at least
        time.sleep(0.3)
        before = engine.status()
        assert before.gc_full == 0  # the freeze's own pass is not counted
        gc.disable()  # only the pass below: making the junk would start some itself
        try:
            junk = [[i] for i in range(200_000)]  # 200 000 new tracked objects
            gc.collect()
        finally:
            gc.enable()
        after = engine.status()
        assert after.gc_full == 1
        # the pass walked the new objects: it took measurable time, and is the longest
        assert after.gc_max_ms > 0.0
        del junk
    finally:
        engine.close()
        gc.unfreeze()


def test_raise_threads_makes_ordinary_threads_real_time_and_keeps_higher_ones():
    # In a child process: the policy of the test process itself must not change.
    code = textwrap.dedent(
        """
        import os, threading, time
        from realtime.engine import ENGINE_RT_PRIORITY, raise_threads

        stop = threading.Event()
        def idle():
            stop.wait()
        def fifo5():
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(5))
            stop.wait()
        threads = [threading.Thread(target=idle), threading.Thread(target=fifo5)]
        for t in threads:
            t.start()
        time.sleep(0.1)
        raise_threads()
        later = threading.Thread(target=idle)  # started after: inherits the raise
        later.start()
        time.sleep(0.1)
        for t in (threading.main_thread(), *threads, later):
            tid = t.native_id
            print(os.sched_getscheduler(tid), os.sched_getparam(tid).sched_priority,
                  os.getpriority(os.PRIO_PROCESS, tid))
        stop.set()
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
        cwd=os.path.dirname(os.path.dirname(__file__)),
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    rows = [tuple(map(int, line.split())) for line in out.stdout.split("\n") if line]
    main, idle, fifo5, later = rows
    assert fifo5[:2] == (os.SCHED_FIFO, 5)  # already real-time: left at its priority
    if os.geteuid() == 0:  # root may use real-time scheduling
        from realtime.engine import ENGINE_RT_PRIORITY

        for row in (main, idle, later):
            assert row[:2] == (os.SCHED_FIFO, ENGINE_RT_PRIORITY)
    else:  # else a lower nice value
        for row in (main, idle, later):
            assert row[0] == os.SCHED_OTHER and row[2] < 0
