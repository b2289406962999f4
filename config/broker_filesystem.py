"""The demo's broker: kombu's filesystem transport without its read-before-written race.

Stock kombu (5.x, issue #1551) creates a message file under its final name and then writes it;
a worker polling the folder can claim and read the file in between, get half a JSON document and
die with ``Unrecoverable error: JSONDecodeError``. Here a message is written under a temporary
name the readers ignore and renamed into place (``os.replace`` is atomic on POSIX), so a reader
sees a whole message or none. A reader claims a file with one ``os.rename`` into the processed
folder (the same file system; stock moves it to the system temp folder, a copy when /tmp is
elsewhere), and a file that does not parse is put back for the next poll instead of killing the
worker: a publisher still running stock code writes it to the end through the handle it holds.

Selected in settings (``CELERY_BROKER_TRANSPORT``) whenever the broker URL is ``filesystem://``.
"""

import logging
import os
import time
import uuid
from queue import Empty

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import bytes_to_str, str_to_bytes
from kombu.utils.json import dumps, loads

logger = logging.getLogger(__name__)

# Readers only take names ending ``.<queue>.msg``; a file being written ends in this instead.
WRITING_SUFFIX = ".writing"
# A message that still does not parse this long after its last write is not being written any
# more: it is set aside (kept, under the processed folder) so it stops costing every poll.
UNREADABLE_AFTER_SECONDS = 60.0
TABLE_READ_ATTEMPTS = 100


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        # Same name scheme as stock (monotonic ms first, so a sorted listing is oldest first).
        name = f"{int(round(time.monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        writing = final + WRITING_SUFFIX
        try:
            with open(writing, "xb") as message_file:
                message_file.write(str_to_bytes(dumps(payload)))
            os.replace(writing, final)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc

    def _get(self, queue):
        wanted = f"{queue}.msg"
        os.makedirs(self.processed_folder, exist_ok=True)
        for name in sorted(os.listdir(self.data_folder_in)):
            if name.partition(".")[2] != wanted:
                continue
            queued = os.path.join(self.data_folder_in, name)
            claimed = os.path.join(self.processed_folder, name)
            try:
                # One rename, one winner: another worker gets FileNotFoundError and moves on.
                os.rename(queued, claimed)
            except OSError:
                continue
            try:
                with open(claimed, "rb") as message_file:
                    raw = message_file.read()
                payload = loads(bytes_to_str(raw))
            except ValueError:
                self._unreadable(claimed=claimed, queued=queued)
                continue
            except OSError as exc:
                raise ChannelError(f"Cannot read file {claimed!r} from queue.") from exc
            if not self.store_processed:
                os.remove(claimed)
            return payload
        raise Empty()

    def _unreadable(self, *, claimed: str, queued: str) -> None:
        """A claimed message that does not parse: back in the queue for the next poll (it may
        still be being written), unless it has stopped changing long ago."""
        if time.time() - os.stat(claimed).st_mtime < UNREADABLE_AFTER_SECONDS:
            os.rename(claimed, queued)
            return
        os.rename(claimed, claimed + ".unreadable")
        logger.error("broker message %s does not parse; set aside", os.path.basename(claimed))

    def get_table(self, exchange):
        # Stock creates an exchange's binding file empty and only then locks and writes it: a
        # publisher reading in between gets "" (the same race, once per exchange, when a worker
        # first declares it). The writer takes milliseconds: read again rather than fail.
        for _ in range(TABLE_READ_ATTEMPTS - 1):
            try:
                return super().get_table(exchange)
            except ValueError:
                time.sleep(0.01)
        return super().get_table(exchange)


class Transport(filesystem.Transport):
    Channel = Channel
