"""The bench/fanout.go graph on Dask distributed: N delayed inc(i), then one total over the list.

Run with /usr/bin/python3 (Debian's python3-distributed). N comes from $N (default 10000).
Prints: dask tasks=N build_dispatch_s=... dispatch_to_completed_s=... per_task_us=...
(timed like bench/fanout.go: from building the graph to having the result; the cluster starts before.)
"""
import os
import time

import dask
from dask.distributed import Client, LocalCluster


def inc(i):
    return i + 1


def total(xs):
    return sum(xs)


def main():
    n = int(os.environ.get("N", "10000"))
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      host="127.0.0.1", dashboard_address=None) as cluster, Client(cluster) as client:
        client.submit(inc, 0).result()  # workers are up and warm before timing
        t0 = time.perf_counter()
        graph = dask.delayed(total)([dask.delayed(inc)(i) for i in range(n)])
        future = client.compute(graph)
        t1 = time.perf_counter()
        result = future.result()
        wall = time.perf_counter() - t0
    want = n * (n + 1) // 2
    if result != want:
        raise SystemExit(f"wrong sum {result}, want {want}")
    print(f"dask tasks={n} build_dispatch_s={t1 - t0:.3f} dispatch_to_completed_s={wall:.3f} "
          f"per_task_us={wall / (n + 1) * 1e6:.1f}")


if __name__ == "__main__":
    main()
