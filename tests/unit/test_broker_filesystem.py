"""The demo's filesystem broker delivers every message whole and once (kombu issue #1551).

A publisher writes message files while a worker polls the folder. Each write is slowed down
(half the bytes, a pause, the rest) so the window a real machine opens now and then is open every
time: stock kombu hands the worker half a message and raises JSONDecodeError, ours does not.
"""

import builtins
import json
import threading
import time
from pathlib import Path
from queue import Empty

import pytest
from kombu import Connection

STOCK = "kombu.transport.filesystem:Transport"
OURS = "config.broker_filesystem:Transport"
MESSAGES = 15


def _channel(transport: str, folder: Path):
    for sub in ("queue", "processed", "control"):
        (folder / sub).mkdir(exist_ok=True)
    connection = Connection(
        "filesystem://",
        transport=transport,
        transport_options={
            "data_folder_in": str(folder / "queue"),
            "data_folder_out": str(folder / "queue"),
            "processed_folder": str(folder / "processed"),
            "store_processed": False,
            "control_folder": str(folder / "control"),
        },
    )
    return connection, connection.default_channel


class _SlowFile:
    """A message file whose write stops halfway for a while: a busy disk or a descheduled
    publisher, made to happen on every message."""

    def __init__(self, real):
        self._real = real

    def write(self, data):
        half = len(data) // 2
        written = self._real.write(data[:half])
        self._real.flush()
        time.sleep(0.05)
        return written + self._real.write(data[half:])

    def __getattr__(self, name):
        return getattr(self._real, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._real.close()


@pytest.fixture
def slow_message_writes(monkeypatch, tmp_path):
    real_open = builtins.open

    def open_slowly(file, mode="r", *args, **kwargs):
        opened = real_open(file, mode, *args, **kwargs)
        writing = any(flag in mode for flag in "wx")
        if writing and str(file).startswith(str(tmp_path / "queue")):
            return _SlowFile(opened)
        return opened

    monkeypatch.setattr(builtins, "open", open_slowly)


def _publish_and_consume(*, publisher, consumer, timeout: float = 20.0) -> list[int]:
    """Publish MESSAGES from a thread while polling for them here; returns what was received."""
    publishing = threading.Thread(
        target=lambda: [publisher._put("celery", {"n": n}) for n in range(MESSAGES)]
    )
    publishing.start()
    received = []
    deadline = time.monotonic() + timeout
    try:
        while len(received) < MESSAGES and time.monotonic() < deadline:
            try:
                received.append(consumer._get("celery")["n"])
            except Empty:
                time.sleep(0.001)
    finally:
        publishing.join()
    return received


def test_stock_kombu_hands_a_polling_worker_half_a_message(tmp_path, slow_message_writes):
    # The race this module exists for: proves the slowed write opens it.
    connection, channel = _channel(STOCK, tmp_path)
    with pytest.raises(json.JSONDecodeError), connection:
        _publish_and_consume(publisher=channel, consumer=channel)


def test_our_transport_delivers_every_message_whole_and_once(tmp_path, slow_message_writes):
    connection, channel = _channel(OURS, tmp_path)
    with connection:
        received = _publish_and_consume(publisher=channel, consumer=channel)
    assert received == list(range(MESSAGES))
    assert list((tmp_path / "queue").iterdir()) == []
    assert list((tmp_path / "processed").iterdir()) == []


def test_a_message_still_being_written_by_stock_kombu_waits_for_the_next_poll(
    tmp_path, slow_message_writes
):
    # A publisher running stock code (an old process during an upgrade) writes in place: our
    # worker puts a half-written file back instead of dying, and takes it once it is whole.
    stock_connection, stock_channel = _channel(STOCK, tmp_path)
    connection, channel = _channel(OURS, tmp_path)
    with stock_connection, connection:
        received = _publish_and_consume(publisher=stock_channel, consumer=channel)
    assert received == list(range(MESSAGES))
    assert list((tmp_path / "queue").iterdir()) == []


def test_a_message_that_never_parses_is_set_aside_not_fatal(tmp_path, monkeypatch):
    from config import broker_filesystem

    monkeypatch.setattr(broker_filesystem, "UNREADABLE_AFTER_SECONDS", 0.0)
    connection, channel = _channel(OURS, tmp_path)
    with connection:
        (tmp_path / "queue" / "1_broken.celery.msg").write_text('{"n": ')
        channel._put("celery", {"n": 1})
        assert channel._get("celery") == {"n": 1}
        with pytest.raises(Empty):
            channel._get("celery")
    assert [path.name for path in (tmp_path / "processed").iterdir()] == [
        "1_broken.celery.msg.unreadable"
    ]


def test_a_publisher_waits_for_an_exchange_file_a_worker_is_still_writing(tmp_path):
    # Stock kombu creates the file empty, then writes it; read in between, it does not parse.
    connection, channel = _channel(OURS, tmp_path)
    exchange_file = tmp_path / "control" / "celery.exchange"
    exchange_file.write_text("")
    threading.Timer(0.1, exchange_file.write_text, args=['[["celery", "", "celery"]]']).start()
    with connection:
        assert [binding.queue for binding in channel.get_table("celery")] == ["celery"]
        _, stock_channel = _channel(STOCK, tmp_path)
        exchange_file.write_text("")
        with pytest.raises(json.JSONDecodeError):
            stock_channel.get_table("celery")
