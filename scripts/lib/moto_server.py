"""moto's server with every request handled one at a time.

moto's TransactWriteItems rolls back by restoring deep copies of whole tables, so under
concurrent requests a failed transaction can undo another request's committed writes. DynamoDB
itself makes each request atomic; serialising requests (connections stay concurrent) gives the
tests that same guarantee while they still race at request granularity: two senders can read the
same counter, and only one transaction may commit on it.
"""

import argparse
import threading

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple

_lock = threading.Lock()
_app = DomainDispatcherApplication(create_backend_app)


def serialized(environ, start_response):
    with _lock:
        # Drain the response inside the lock: the work happens while it is produced.
        return list(_app(environ, start_response))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=5000)
    args = parser.parse_args()
    run_simple(args.host, args.port, serialized, threaded=True, request_handler=MotoRequestHandler)
