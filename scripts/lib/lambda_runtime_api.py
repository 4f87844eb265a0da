"""A minimal Lambda Runtime API: the protocol the real service speaks to a `provided.al2023`
bootstrap. It hands out events in order, one per `next`, and records each answer (the parsed
response, or `{"invocation_error": ...}`) with the time from handing out to answering, and when
the first `next` came (the end of init, as Lambda's Init Duration counts it). Used by
lambda_bench.py (timings) and deployed_identity.py (answers).
"""

import http.server
import json
import threading
import time
import uuid


class Runtime(http.server.ThreadingHTTPServer):
    def __init__(self, events):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.events = [e if isinstance(e, bytes) else json.dumps(e).encode() for e in events]
        self.sent_at = {}
        self.answers = []
        self.latencies = []
        # When the function first asked for work (the end of its init) and first answered.
        self.first_next_at = None
        self.first_response_at = None
        # Called at each `next`, while the function waits: lambda_bench.py reads its CPU time.
        self.on_next = None
        self.done = threading.Event()

    def start(self):
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return f"127.0.0.1:{self.server_address[1]}"


class _Handler(http.server.BaseHTTPRequestHandler):
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
        if rt.first_next_at is None:
            rt.first_next_at = time.perf_counter()
        if rt.on_next:
            rt.on_next()
        if not rt.events:
            rt.done.set()
            time.sleep(3600)  # the function waits here until it is stopped
            return
        event = rt.events.pop(0)
        rid = str(uuid.uuid4())
        rt.sent_at[rid] = time.perf_counter()
        self.send_response(200)
        self.send_header("Lambda-Runtime-Aws-Request-Id", rid)
        self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 10000))
        self.send_header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:local")
        self.send_header("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(event)))
        self.end_headers()
        self.wfile.write(event)

    def do_POST(self):
        rt = self.server
        now = time.perf_counter()
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        rid = self.path.split("/")[-2]
        try:
            answer = json.loads(body)
        except Exception:
            answer = {"raw": body.decode(errors="replace")}
        if not self.path.endswith("/response"):
            answer = {"invocation_error": answer}
        if rt.first_response_at is None:
            rt.first_response_at = now
        rt.latencies.append(now - rt.sent_at.get(rid, now))
        rt.answers.append(answer)
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()
