"""moto's server, with one emulator bug fixed for the tests (started by `testkit::Moto::start`).

moto 5.x's `Shard.put_record` says of itself "this function is not safe for concurrency": it
reads the shard's last sequence number and stores the record under that number plus one, so two
`PutRecords` calls answered by two server threads at once can give two records the same sequence
number, and the later silently replaces the earlier. Real Kinesis takes concurrent calls (the
relay keeps several in flight, and several relays write one stream), so a record lost that way
is the emulator's loss, not the caller's. Here one lock serializes that function; everything
else is moto as installed.
"""

import sys
import threading

from moto.kinesis import models
from moto.server import main

_LOCK = threading.Lock()
_PUT_RECORD = models.Shard.put_record


def _put_record(self, *args, **kwargs):
    with _LOCK:
        return _PUT_RECORD(self, *args, **kwargs)


models.Shard.put_record = _put_record

if __name__ == "__main__":
    sys.exit(main())
