"""Cold-start and warm-invoke measurements of the release function binaries.

A minimal Lambda Runtime API (the protocol the real service speaks to a `provided.al2023`
bootstrap) hands each binary an event from events/, then repeats it. Per function and event:

* init: process spawn to its first `GET /runtime/invocation/next`, what Lambda reports as Init
  Duration. The fair comparison with a floor function that makes no storage call.
* init CPU: CPU time the process used up to that `next` (/proc schedstat), steadier than wall
  time on a shared machine.
* first response: spawn to the first response (init plus the first invoke). For a function that
  reads storage, the first invoke includes round trips to the stand-in (moto, a Python server:
  warm p50 is nearly all moto), so its ratio to the floor is not a floor comparison.
* first invoke: first response less init.
* warm p50/p95: the runtime's `next` answer to the function's response, over the repeats.
* warm CPU: the function's own CPU time per warm invocation (excludes the stand-in's).
* peak RSS: VmHWM from /proc after the warm repeats; a second table splits the resident set
  into anonymous memory (heap, stacks: the process's own) and file-backed pages (the binary and
  libc, mapped from the page cache, shared and reclaimable).
* instructions: user-space instructions from spawn to the first `next` (init) and to the first
  response (init plus the first invoke), counted by valgrind's callgrind in more spawns (init
  once per binary, as it ends before the first event): the same count on every run of the same binary and event, whatever else the machine does. Init
  CPU also counts the kernel's work (exec, page faults of a larger binary) and swings with the
  machine's load; init instructions do not. Only with a baseline; skipped without valgrind.

Cold figures are medians over BENCH_COLD spawns (default 5), taken in rounds over all the specs
so that a noisy moment hits every function, the floor included. With `--baseline FUNCTION=EVENT`
the baseline is measured in the same rounds and each figure gets its ratio to it. Prints a
Markdown table.

usage: lambda_bench.py BIN_DIR ENV_DOTENV WARM_INVOCATIONS [--baseline FUNCTION=EVENT] FUNCTION=EVENT...
"""

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from lambda_runtime_api import Runtime


def memory_kib(pid):
    """Peak RSS and the current anonymous and file-backed resident sets, KiB."""
    found = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key = line.split(":")[0]
            if key in ("VmHWM", "RssAnon", "RssFile"):
                found[key] = int(line.split()[1])
    return found


def cpu_ns(pid):
    """CPU time of all of a process's threads so far."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total


def run_once(binary, function, event, invocations, env, wrapper=()):
    """One process: `invocations` copies of `event`. Returns (runtime, memory KiB, started);
    the runtime's `cpu` holds the process's CPU time (ns) at each `next`. Under a `wrapper`
    (valgrind) the process is asked to stop (SIGTERM) so that the wrapper can write its report."""
    rt = Runtime([event] * invocations)
    env = dict(env)
    env["AWS_LAMBDA_RUNTIME_API"] = rt.start()
    env["AWS_LAMBDA_FUNCTION_NAME"] = function
    rt.cpu, spawned, pid_known = [], [], threading.Event()

    def on_next():
        # A fast init can ask before Popen has returned here; the function waits meanwhile.
        pid_known.wait(10)
        rt.cpu.append(cpu_ns(spawned[0].pid))

    rt.on_next = on_next
    started = time.perf_counter()
    proc = subprocess.Popen([*wrapper, binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    spawned.append(proc)
    pid_known.set()
    if not rt.done.wait(120):
        print(f"{function}: timed out", file=sys.stderr)
    memory = memory_kib(proc.pid)
    if wrapper:
        proc.terminate()
    else:
        proc.kill()
    proc.wait()
    rt.shutdown()
    return rt, memory, started


def instructions(binary, function, event, env, invocations):
    """Instructions until the process asks for the event after `invocations` of them (0: the end
    of init; 1: the first response) under callgrind, or None without valgrind."""
    if shutil.which("valgrind") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "callgrind.out")
        run_once(binary, function, event, invocations, env,
                 wrapper=("valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"))
        with open(out) as f:
            for line in f:
                if line.startswith("totals:"):
                    return int(line.split()[1])
    return None


def ratio(value, base):
    return f"{value / base:.2f}×" if base else "–"


def main():
    args = sys.argv[1:]
    bin_dir, env_file, warm = args[0], args[1], int(args[2])
    specs = args[3:]
    baseline = None
    if specs and specs[0] == "--baseline":
        baseline = specs[1]
        specs = [baseline] + specs[2:]
    cold_runs = int(os.environ.get("BENCH_COLD", "5"))
    env = dict(os.environ)
    for line in open(env_file):
        if "=" in line:
            k, v = line.strip().split("=", 1)
            env[k] = v
    env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] = "128"
    env["AWS_LAMBDA_FUNCTION_VERSION"] = "$LATEST"
    env["AWS_LAMBDA_LOG_FORMAT"] = "JSON"
    env["AWS_LAMBDA_LOG_LEVEL"] = "WARN"

    results = {spec: {"init": [], "init_cpu": [], "first": [], "answers": []} for spec in specs}
    for round_ in range(cold_runs):
        for spec in specs:
            function, event_file = spec.split("=")
            with open(event_file, "rb") as f:
                event = f.read()
            binary = os.path.join(bin_dir, function, "bootstrap")
            # The first round's process also serves the warm repeats.
            rt, memory, started = run_once(binary, function, event, warm + 1 if round_ == 0 else 1, env)
            r = results[spec]
            r["init"].append((rt.first_next_at - started) * 1000)
            r["first"].append((rt.first_response_at - started) * 1000)
            r["init_cpu"].append(rt.cpu[0] / 1e6)
            r["answers"] += rt.answers
            if round_ == 0:
                # The first answer is a cold one; the rest are warm.
                r["warm"] = sorted(x * 1000 for x in rt.latencies[1:])
                r["rss"] = memory["VmHWM"] / 1024
                r["anon"] = memory["RssAnon"] / 1024
                r["file"] = memory["RssFile"] / 1024
                r["size"] = os.path.getsize(binary) / (1024 * 1024)
                # CPU from the second `next` to the last one: the warm invocations only.
                r["warm_cpu"] = (rt.cpu[-1] - rt.cpu[1]) / 1e6 / max(warm, 1)

    for r in results.values():
        for key in ("init", "init_cpu", "first"):
            r[key] = statistics.median(r[key])
    base = results[baseline] if baseline else None

    cols = ["function", "event", "binary", "init (spawn → first `next`)", "init CPU",
            "first response (spawn → response)", "first invoke", "warm p50", "warm p95", "warm CPU",
            "peak RSS", "statuses"]
    print(f"cold figures: median of {cold_runs} spawns; warm: {warm} repeats in the first spawn")
    print()
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for spec, r in results.items():
        function, event_file = spec.split("=")
        lat = r["warm"]
        p95 = lat[max(int(len(lat) * 0.95) - 1, 0)]
        statuses = ",".join(sorted({
            # Event-driven functions (S3, SQS) answer null.
            "ok" if a is None else "error" if "invocation_error" in a else str(a.get("statusCode", "ok"))
            for a in r["answers"]
        }))

        def fig(key, fmt, unit):
            text = f"{r[key]:{fmt}} {unit}"
            return f"{text} ({ratio(r[key], base[key])})" if base else text

        print(f"| {function} | {os.path.basename(event_file)} | {r['size']:.2f} MiB | {fig('init', '.1f', 'ms')} | "
              f"{fig('init_cpu', '.2f', 'ms')} | {fig('first', '.1f', 'ms')} | {r['first'] - r['init']:.1f} ms | "
              f"{statistics.median(lat):.2f} ms | {p95:.2f} ms | {r['warm_cpu']:.3f} ms | {fig('rss', '.1f', 'MiB')} | "
              f"{statuses} |")

    print()
    print("| function | event | peak RSS | anonymous | file-backed | instructions to init | instructions to the first response |")
    print("|---|---|---|---|---|---|---|")
    init_counts = {}  # init ends before the first event: one count per binary, whatever the event
    for spec, r in results.items():
        function, event_file = spec.split("=")
        binary = os.path.join(bin_dir, function, "bootstrap")
        r["init_instructions"] = r["instructions"] = None
        if base:  # a count means something next to the floor's
            with open(event_file, "rb") as f:
                event = f.read()
            if binary not in init_counts:
                init_counts[binary] = instructions(binary, function, event, env, 0)
            r["init_instructions"] = init_counts[binary]
            r["instructions"] = instructions(binary, function, event, env, 1)
        counts = []
        for key in ("init_instructions", "instructions"):
            if r[key] is None:
                counts.append("–" if not base else "n/a (no valgrind)")
            else:
                text = f"{r[key] / 1e6:.2f} M"
                counts.append(text + (f" ({ratio(r[key], base[key])})" if base.get(key) else ""))
        anon = f"{r['anon']:.1f} MiB" + (f" ({ratio(r['anon'], base['anon'])})" if base else "")
        print(f"| {function} | {os.path.basename(event_file)} | {r['rss']:.1f} MiB | {anon} | "
              f"{r['file']:.1f} MiB | {counts[0]} | {counts[1]} |")


if __name__ == "__main__":
    main()
