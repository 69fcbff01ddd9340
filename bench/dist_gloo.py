#!/usr/bin/env python3
"""PyTorch reference for gradlab's collectives: torch.distributed, gloo backend,
over loopback (init_method='tcp://127.0.0.1:PORT'), one OS process per rank
(torch.multiprocessing.spawn), one thread per rank (torch.set_num_threads(1)).

Times each collective at sizes from --min-bytes to --max-bytes (powers of 4) and
prints one JSON row a line on stdout (rank 0 only):
  {"collective", "n", "bytes", "best", "median", "seconds", "algbw", "busbw", "reps"}
with `seconds` = `best`, algbw = bytes / seconds and busbw by nccl-tests'
PERFORMANCE.md (all-reduce algbw * 2(n-1)/n, reduce-scatter and all-gather
algbw * (n-1)/n, broadcast algbw). `bytes` is nccl-tests' size: the all-reduce /
broadcast buffer, the all-gather output (n x the per-rank input), the
reduce-scatter input. One repetition's time is the slowest rank's (MAX over ranks),
after a barrier. A rank ends itself when the launcher dies, and gloo's --timeout
(default 120 s) ends a hung collective. Every collective's result is checked against the exact sum
(small integers in float32) once per size; a wrong result exits non-zero.
A collective that gloo does not support in this torch gives one row
{"collective", "n", "unsupported": "<error>"} instead.

Usage: python3 bench/dist_gloo.py [--world 2,4] [--min-bytes 1024]
       [--max-bytes 268435456] [--collectives all_reduce,all_gather,reduce_scatter,broadcast]
       [--timeout 120]; GRADLAB_GLOO_CORRUPT=1 perturbs rank 0's result (tests the self-check).
"""
import argparse
import datetime
import json
import os
import socket
import statistics
import sys
import threading
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

BUSBW = {
    "all_reduce": lambda n: 2 * (n - 1) / n,
    "reduce_scatter": lambda n: (n - 1) / n,
    "all_gather": lambda n: (n - 1) / n,
    "broadcast": lambda n: 1.0,
}


def reps_for(nbytes):
    """Fewer repetitions for large sizes, so the whole sweep stays short."""
    if nbytes <= 1 << 20:
        return 20
    if nbytes <= 16 << 20:
        return 8
    if nbytes <= 64 << 20:
        return 4
    return 3


def pattern(numel, rank):
    """Rank r's input: r + 1 + (i mod 7), small integers whose sums are exact in float32."""
    return torch.arange(numel, dtype=torch.float32).remainder_(7).add_(rank + 1)


def run_one(name, nbytes, rank, n):
    """Time one collective at nccl-tests size `nbytes`; return (times, ok) or raise if unsupported."""
    if name == "all_reduce":
        numel = nbytes // 4
        x = pattern(numel, rank)
        expect = torch.arange(numel, dtype=torch.float32).remainder_(7).mul_(n).add_(n * (n + 1) / 2)
        op = lambda: dist.all_reduce(x)
        check = lambda: torch.equal(x, expect)
        reset = lambda: x.copy_(pattern(numel, rank))
    elif name == "broadcast":
        numel = nbytes // 4
        x = pattern(numel, rank)
        expect = pattern(numel, 0)
        op = lambda: dist.broadcast(x, src=0)
        check = lambda: torch.equal(x, expect)
        reset = lambda: None
    elif name == "all_gather":
        numel = nbytes // 4 // n
        x = pattern(numel, rank)
        outs = [torch.empty(numel, dtype=torch.float32) for _ in range(n)]
        op = lambda: dist.all_gather(outs, x)
        check = lambda: all(torch.equal(outs[r], pattern(numel, r)) for r in range(n))
        reset = lambda: None
    elif name == "reduce_scatter":
        numel = nbytes // 4 // n
        ins = [pattern(numel, rank) for _ in range(n)]
        out = torch.empty(numel, dtype=torch.float32)
        expect = torch.arange(numel, dtype=torch.float32).remainder_(7).mul_(n).add_(n * (n + 1) / 2)
        op = lambda: dist.reduce_scatter(out, ins)
        check = lambda: torch.equal(out, expect)
        reset = lambda: None
    else:
        raise ValueError(f"unknown collective {name!r}")
    op()  # warm-up, then the check of the result
    if os.environ.get("GRADLAB_GLOO_CORRUPT") == "1" and rank == 0:
        (x if name in ("all_reduce", "broadcast") else outs[0] if name == "all_gather" else out)[0] += 1  # tests the self-check
    ok = torch.tensor([1.0 if check() else 0.0])
    dist.all_reduce(ok, op=dist.ReduceOp.MIN)
    times = []
    for _ in range(reps_for(nbytes)):
        dist.barrier()
        t0 = time.perf_counter()
        op()
        dt = torch.tensor([time.perf_counter() - t0], dtype=torch.float64)
        dist.all_reduce(dt, op=dist.ReduceOp.MAX)
        times.append(dt.item())
    reset()
    return times, ok.item() == 1.0


def orphan_watchdog(parent):
    """End this rank if the launching process dies, so no rank is left behind."""
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            os._exit(1)


def worker(rank, n, port, sizes, collectives, queue, parent, timeout_s):
    threading.Thread(target=orphan_watchdog, args=(parent,), daemon=True).start()
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=n,
                            timeout=datetime.timedelta(seconds=timeout_s))
    try:
        for name in collectives:
            for nbytes in sizes:
                try:
                    times, ok = run_one(name, nbytes, rank, n)
                except RuntimeError as e:
                    if rank == 0:
                        queue.put({"collective": name, "n": n, "unsupported": str(e).splitlines()[0]})
                    dist.barrier()
                    break
                if rank == 0:
                    best, med = min(times), statistics.median(times)
                    algbw = nbytes / best
                    queue.put({"collective": name, "n": n, "bytes": nbytes, "seconds": best, "best": best,
                               "median": med, "algbw": algbw, "busbw": algbw * BUSBW[name](n),
                               "reps": len(times), "correct": ok})
                if not ok:
                    raise SystemExit(f"rank {rank}: {name} at {nbytes} bytes with {n} ranks gave a wrong result")
    finally:
        dist.destroy_process_group()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--world", default="2,4")
    ap.add_argument("--min-bytes", type=int, default=1 << 10)
    ap.add_argument("--max-bytes", type=int, default=256 << 20)
    ap.add_argument("--collectives", default="all_reduce,all_gather,reduce_scatter,broadcast")
    ap.add_argument("--timeout", type=float, default=120.0, help="gloo's timeout per collective, seconds")
    args = ap.parse_args()
    collectives = args.collectives.split(",")
    for c in collectives:
        if c not in BUSBW:
            sys.exit(f"dist_gloo.py: unknown collective {c!r}; choose from {', '.join(BUSBW)}")
    sizes = []
    s = args.min_bytes
    while s <= args.max_bytes:
        sizes.append(s)
        s *= 4
    ctx = mp.get_context("spawn")
    bad = False
    for n in [int(w) for w in args.world.split(",")]:
        queue = ctx.Queue()
        procs = mp.spawn(worker, args=(n, free_port(), sizes, collectives, queue, os.getpid(), args.timeout), nprocs=n, join=False)
        while not procs.join(timeout=0.2):
            while not queue.empty():
                row = queue.get()
                bad = bad or row.get("correct") is False
                print(json.dumps(row), flush=True)
        while not queue.empty():
            row = queue.get()
            bad = bad or row.get("correct") is False
            print(json.dumps(row), flush=True)
    print(json.dumps({"torch": torch.__version__, "done": True}), flush=True)
    if bad:
        sys.exit(1)


if __name__ == "__main__":
    main()
