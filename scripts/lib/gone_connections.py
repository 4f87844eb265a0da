"""A stand-in for API Gateway's management API on which every connection is gone: any request
answers 410 GoneException, as AWS does for a connection that closed. scripts/invoke-events and
scripts/bench point push-fanout at it (tools.sh, start_push_stand_ins), so a sample batch that
finds a recorded connection (left by the `$connect` sample) exercises the "forget it" path
instead of waiting on an address nobody serves.

    gone_connections.py PORT
"""

import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Gone(BaseHTTPRequestHandler):
    def answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        body = b'{"message":null}'
        self.send_response(410)
        self.send_header("x-amzn-ErrorType", "GoneException")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET = do_DELETE = answer

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Gone).serve_forever()
