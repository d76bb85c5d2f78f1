"""moto's server with one request at a time.

moto's TransactWriteItems snapshots the whole table and, when a condition fails, restores the
snapshot, undoing any write another thread made meanwhile. Real DynamoDB isolates transactions
(serializable), so tests of concurrent writers need requests to run one after another here.
Connections are still accepted in parallel (threaded), only the work is serialized.

Usage: python serial_moto.py HOST PORT
"""

import sys
import threading

from werkzeug.serving import run_simple

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)

app = DomainDispatcherApplication(create_backend_app)
lock = threading.Lock()


def serial(environ, start_response):
    with lock:
        return list(app(environ, start_response))


run_simple(sys.argv[1], int(sys.argv[2]), serial, threaded=True, request_handler=MotoRequestHandler)
