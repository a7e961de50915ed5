"""How many CPU threads torch may use: one rule for the service and for training.

`requested` (RNNSERVE_THREADS, or training's --threads) wins when set. Otherwise half the CPUs
this process may use, at least one, divided among the processes torchrun started on the node.
"The CPUs it may use" is the smallest of the machine's count, its CPU affinity and its cgroup
quota (v2 `cpu.max`, v1 `cpu.cfs_quota_us`), so a container limited to 2 CPUs on a 64-core host
counts 2, not 64.

Why half, measured on a 2-CPU VM (median ms per forward of the committed models, bench notes in
the README): idle, 2 threads beat 1 on a 32-item next-word batch (3.4 against 5.2 ms) and tie on
one item; with one other busy process, 1 thread wins (5.0 against 8.5 ms; a 250-token review 2.6
against 6.9 ms), since oneDNN's parallel regions stall when a core is taken. A server shares its
CPUs with its own HTTP handling, its other models and often its clients.
"""

import math
import os
from pathlib import Path

CGROUP_V2_MAX = Path("/sys/fs/cgroup/cpu.max")
CGROUP_V1_QUOTA = Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us")
CGROUP_V1_PERIOD = Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us")


def cgroup_cpu_limit() -> float | None:
    """CPUs allowed by the cgroup's quota, or None when unlimited or unknown."""
    try:
        if CGROUP_V2_MAX.is_file():
            quota, period = CGROUP_V2_MAX.read_text().split()[:2]
            return None if quota == "max" else int(quota) / int(period)
        if CGROUP_V1_QUOTA.is_file() and CGROUP_V1_PERIOD.is_file():
            quota_us = int(CGROUP_V1_QUOTA.read_text())
            return None if quota_us <= 0 else quota_us / int(CGROUP_V1_PERIOD.read_text())
    except (OSError, ValueError):
        return None
    return None


def usable_cpus() -> int:
    """The CPUs this process may run on: affinity, capped by the cgroup quota (rounded up, at least 1)."""
    count = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    limit = cgroup_cpu_limit()
    if limit is not None:
        count = min(count, math.ceil(limit))
    return max(1, count)


def thread_count(requested: int = 0) -> int:
    """`requested` when set (> 0), else half the usable CPUs per local process, at least 1."""
    if requested > 0:
        return requested
    local_processes = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    return max(1, usable_cpus() // 2 // local_processes)
