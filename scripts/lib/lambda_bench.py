"""Cold-start and warm-invoke measurements of the release function binaries.

A minimal Lambda Runtime API (the protocol the real service speaks to a `provided.al2023`
bootstrap) hands each binary an event from events/, then repeats it. Cold = process spawn to the
first response (what Lambda bills as init plus the first invoke). Warm = runtime's `next` answer
to the function's response. Peak RSS comes from /proc. Prints a Markdown table.

usage: lambda_bench.py BIN_DIR ENV_DOTENV WARM_INVOCATIONS FUNCTION=EVENT...
"""

import http.server
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid


class Runtime(http.server.ThreadingHTTPServer):
    def __init__(self, event: bytes, invocations: int):
        super().__init__(("127.0.0.1", 0), Handler)
        self.event = event
        self.left = invocations
        self.sent_at = {}
        self.latencies = []
        self.first_response_at = None
        self.statuses = []
        self.done = threading.Event()


class Handler(http.server.BaseHTTPRequestHandler):
    # One request per connection: on a kept-alive loopback connection, Nagle on one side and
    # delayed ACKs on the other add ~40 ms per exchange, which would measure the harness.
    protocol_version = "HTTP/1.0"

    def log_message(self, *args):
        pass

    def do_GET(self):
        rt = self.server
        if not self.path.endswith("/invocation/next"):
            self.send_error(404)
            return
        if rt.left == 0:
            rt.done.set()
            time.sleep(3600)  # the function waits here until it is stopped
            return
        rt.left -= 1
        rid = str(uuid.uuid4())
        rt.sent_at[rid] = time.perf_counter()
        self.send_response(200)
        self.send_header("Lambda-Runtime-Aws-Request-Id", rid)
        self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 10000))
        self.send_header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:bench")
        self.send_header("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(rt.event)))
        self.end_headers()
        self.wfile.write(rt.event)

    def do_POST(self):
        rt = self.server
        now = time.perf_counter()
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        rid = self.path.split("/")[-2]
        if self.path.endswith("/response"):
            if rt.first_response_at is None:
                rt.first_response_at = now
            else:
                rt.latencies.append(now - rt.sent_at[rid])
            try:
                rt.statuses.append(json.loads(body).get("statusCode", "ok"))
            except Exception:
                rt.statuses.append("ok")
        else:
            rt.statuses.append("error")
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()


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
            rt = Runtime(f.read(), warm + 1)
        threading.Thread(target=rt.serve_forever, daemon=True).start()
        env["AWS_LAMBDA_RUNTIME_API"] = f"127.0.0.1:{rt.server_address[1]}"
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
        lat = sorted(x * 1000 for x in rt.latencies)
        p95 = lat[int(len(lat) * 0.95) - 1]
        statuses = ",".join(sorted({str(s) for s in rt.statuses}))
        size_kib = os.path.getsize(binary) // 1024
        print(f"| {function} | {os.path.basename(event_file)} | {size_kib} KiB | {cold_ms:.1f} ms | "
              f"{statistics.median(lat):.2f} ms | {p95:.2f} ms | {rss / 1024:.1f} MiB | {statuses} |")


if __name__ == "__main__":
    main()
