"""Cold-start and warm-invoke measurements of the release function binaries.

A minimal Lambda Runtime API (the protocol the real service speaks to a `provided.al2023`
bootstrap) hands each binary an event from events/, then repeats it. Cold = process spawn to the
first response (what Lambda bills as init plus the first invoke). Warm = runtime's `next` answer
to the function's response. Peak RSS comes from /proc. Prints a Markdown table.

usage: lambda_bench.py BIN_DIR ENV_DOTENV WARM_INVOCATIONS FUNCTION=EVENT...
"""

import os
import statistics
import subprocess
import sys
import time

from lambda_runtime_api import Runtime


def peak_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def main():
    bin_dir, env_file, warm = sys.argv[1], sys.argv[2], int(sys.argv[3])
    env = dict(os.environ)
    for line in open(env_file):
        if "=" in line:
            k, v = line.strip().split("=", 1)
            env[k] = v
    print("| function | event | binary | cold start (spawn → first response) | warm p50 | warm p95 | peak RSS | statuses |")
    print("|---|---|---|---|---|---|---|---|")
    for spec in sys.argv[4:]:
        function, event_file = spec.split("=")
        with open(event_file, "rb") as f:
            rt = Runtime([f.read()] * (warm + 1))
        env["AWS_LAMBDA_RUNTIME_API"] = rt.start()
        env["AWS_LAMBDA_FUNCTION_NAME"] = function
        env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] = "128"
        env["AWS_LAMBDA_FUNCTION_VERSION"] = "$LATEST"
        env["AWS_LAMBDA_LOG_FORMAT"] = "JSON"
        env["AWS_LAMBDA_LOG_LEVEL"] = "WARN"
        binary = os.path.join(bin_dir, function, "bootstrap")
        started = time.perf_counter()
        proc = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not rt.done.wait(120):
            print(f"{function}: timed out", file=sys.stderr)
        rss = peak_rss_kib(proc.pid)
        proc.kill()
        proc.wait()
        rt.shutdown()
        cold_ms = (rt.first_response_at - started) * 1000
        # The first answer is the cold start; the rest are warm.
        lat = sorted(x * 1000 for x in rt.latencies[1:])
        p95 = lat[int(len(lat) * 0.95) - 1]
        statuses = ",".join(sorted({
            "error" if "invocation_error" in a else str(a.get("statusCode", "ok")) for a in rt.answers
        }))
        size_kib = os.path.getsize(binary) // 1024
        print(f"| {function} | {os.path.basename(event_file)} | {size_kib} KiB | {cold_ms:.1f} ms | "
              f"{statistics.median(lat):.2f} ms | {p95:.2f} ms | {rss / 1024:.1f} MiB | {statuses} |")


if __name__ == "__main__":
    main()
