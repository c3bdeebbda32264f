"""Celery side of bench/redis_run.sh: N `inc` tasks as one group, wait for all results, then sum them
(with the `total` task, like bench/fanout.go's fan-in). Prints one line like fanout.go:
celery tasks=N dispatch_to_completed_s=... per_task_us=...
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from celery import group  # noqa: E402

from celery_tasks import inc, total  # noqa: E402

n = int(os.environ.get("N", "10000"))
t0 = time.perf_counter()
res = group(inc.s(i) for i in range(n)).apply_async()
t1 = time.perf_counter()
parts = res.get(timeout=3600, disable_sync_subtasks=False)
s = total.delay(parts).get(timeout=600)
t2 = time.perf_counter()
want = n * (n + 1) // 2
if s != want:
    raise SystemExit(f"sum {s}, want {want}")
print(f"celery tasks={n} build_dispatch_s={t1 - t0:.3f} dispatch_to_completed_s={t2 - t0:.3f} "
      f"per_task_us={(t2 - t0) / (n + 1) * 1e6:.1f}")
