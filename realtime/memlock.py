"""Keep the engine's memory in RAM: ``mlockall``, as real-time audio programs do.

A page the audio callback or the worker touches must never have to be read back from
disk in the middle of a period. Under memory pressure (or a kernel's proactive reclaim:
this project's build machine pages out file pages idle for 60 s) code and data of the
engine's libraries can be evicted and their next use stalls for a disk read.
``mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT)`` pins every page once it has been
touched, and only those (nothing is read in up front, so the resident size does not
grow).

Only where nothing can fail later: with ``MCL_FUTURE`` under a finite locked-memory
limit, allocations beyond the limit would fail. So the lock is taken only when the limit
is unlimited or the process may lock without limit (``CAP_IPC_LOCK``, e.g. root); else
nothing is locked and ``lock_memory`` says so.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import resource
import sys

MCL_CURRENT, MCL_FUTURE, MCL_ONFAULT = 1, 2, 4  # <sys/mman.h> on Linux
CAP_IPC_LOCK = 14  # <linux/capability.h>

_locked: bool | None = None  # this process's outcome, once tried


def may_lock_all() -> bool:
    """Whether locking every future page cannot make a later allocation fail."""
    if not sys.platform.startswith("linux"):
        return False
    soft, _ = resource.getrlimit(resource.RLIMIT_MEMLOCK)
    if soft == resource.RLIM_INFINITY:
        return True
    caps = _status_field("self", "CapEff")
    if caps is None:
        return False
    return bool(int(caps, 16) >> CAP_IPC_LOCK & 1)


def lock_memory() -> bool:
    """Lock this process's pages as they are touched; True if they are (tried once)."""
    global _locked
    if _locked is None:
        _locked = False
        if may_lock_all():
            libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
            _locked = libc.mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) == 0
    return _locked


def locked_kib(pid: int | str = "self") -> int:
    """The process's locked memory (``VmLck``), KiB; 0 where /proc has no answer."""
    return int(_status_field(pid, "VmLck") or 0)


def _status_field(pid: int | str, key: str) -> str | None:
    """The first word of ``key``'s line in /proc/<pid>/status; None if there is none."""
    try:
        with open(f"/proc/{pid}/status") as f:
            return next((x.split()[1] for x in f if x.startswith(f"{key}:")), None)
    except OSError:
        return None
