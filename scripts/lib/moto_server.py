"""moto's server with every request handled one at a time, patched, optionally durable.

moto is not safe under concurrent requests (its TransactWriteItems used to roll back by restoring
whole-table copies, which could undo another request's committed writes). DynamoDB makes each
request atomic; serialising requests (connections stay concurrent) gives the tests that same
guarantee while they still race at request granularity: two senders can read the same counter,
and only one transaction may commit on it. It also lets moto_patches.py swap a method for the
length of one request.

moto_patches.py makes moto behave as AWS where GroupShare depends on it (see its list).

With --data-dir, every state change moto acknowledges is journaled and fsync'ed before the answer
leaves, and replayed on the next start, so the local stack survives `kill -9` (moto_journal.py).
Without it, state is in memory only, as the test suite wants.
"""

import argparse
import logging
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from moto.moto_server.werkzeug_app import (  # noqa: E402
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple  # noqa: E402

import moto_patches  # noqa: E402

_lock = threading.Lock()
_app = DomainDispatcherApplication(create_backend_app)
_journal = None  # moto_journal.Journal when --data-dir is given


def serialized(environ, start_response):
    with _lock:
        if _journal is not None:
            return _journal.handle(environ, start_response)
        # Drain the response inside the lock: the work happens while it is produced.
        return list(_app(environ, start_response))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=5000)
    parser.add_argument("--data-dir", help="journal state here and restore it on start")
    parser.add_argument("--compact-mb", type=float, default=64,
                        help="rewrite the journal as a snapshot at startup when larger than this")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    # Before any replay: journaled requests go through the same code they went through live.
    moto_patches.install()
    if args.data_dir:
        import moto_journal

        _journal = moto_journal.Journal(_app, args.data_dir, int(args.compact_mb * 1024 * 1024))
        with _lock:
            _journal.open()
    run_simple(args.host, args.port, serialized, threaded=True, request_handler=MotoRequestHandler)
