"""moto's server with DynamoDB's operations taken one at a time.

moto serves requests on threads, and its TransactWriteItems copies the tables first and puts
the copy back when a condition fails: a transaction failing beside one that succeeds then
undoes the other's writes (a lost counter increment). DynamoDB itself never does that, so the
store's race tests would fail for moto's sake. One lock around the DynamoDB backend's
operations restores what DynamoDB promises; requests still arrive concurrently, and every
other service is untouched.
"""

import functools
import inspect
import sys
import threading

from moto.dynamodb.models import DynamoDBBackend
from moto.server import main

_LOCK = threading.RLock()


def _serialized(method):
    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        with _LOCK:
            return method(*args, **kwargs)

    return wrapper


for _name, _value in list(vars(DynamoDBBackend).items()):
    if inspect.isfunction(_value) and not _name.startswith("_"):
        setattr(DynamoDBBackend, _name, _serialized(_value))

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
