"""``manage.py demo`` keeps its worker and beat running; only the web server's exit ends it.

The children here are tiny ``python -c`` programs standing in for runserver, the worker and beat.
"""

import subprocess
import sys
import threading
import time

from demo.management.demo_supervisor import DemoSupervisor

SLEEPS = [sys.executable, "-c", "import time; time.sleep(60)"]
CRASHES = [sys.executable, "-c", "import sys; sys.exit(1)"]


def _crashes_once(marker) -> list[str]:
    # The first run leaves a marker and dies (the worker's JSONDecodeError); later runs stay up.
    program = (
        "import pathlib, sys, time\n"
        f"marker = pathlib.Path({str(marker)!r})\n"
        "if not marker.exists():\n"
        "    marker.touch()\n"
        "    sys.exit(1)\n"
        "time.sleep(60)\n"
    )
    return [sys.executable, "-c", program]


def _supervisor(commands, **options):
    lines = []

    def spawn(name, command):
        return subprocess.Popen(command, start_new_session=True)

    supervisor = DemoSupervisor(
        commands, essential={"web"}, spawn=spawn, log=lines.append, **options
    )
    return supervisor, lines


def _wait_for(condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_a_crashed_worker_is_started_again_and_the_web_server_keeps_running(tmp_path):
    supervisor, lines = _supervisor(
        {"web": SLEEPS, "worker": _crashes_once(tmp_path / "crashed"), "beat": SLEEPS}
    )
    supervisor.start()
    try:
        worker = supervisor.children["worker"]
        assert _wait_for(lambda: worker.process.poll() is not None)
        assert supervisor.check() is None  # the demo goes on
        assert worker.starts == 2
        time.sleep(0.3)
        assert supervisor.check() is None
        assert worker.process.poll() is None  # the second worker stays up
        assert supervisor.children["web"].process.poll() is None
        assert supervisor.children["beat"].starts == 1
        assert lines == ["worker exited (1); starting it again."]
    finally:
        supervisor.stop(timeout=5)


def test_a_child_that_keeps_crashing_is_restarted_a_few_times_a_minute_only():
    supervisor, lines = _supervisor({"web": SLEEPS, "beat": CRASHES}, max_restarts=3)
    supervisor.start()
    beat = supervisor.children["beat"]
    try:
        now = 1000.0
        for _ in range(10):
            assert _wait_for(lambda: beat.process.poll() is not None)
            supervisor.check(now=now)
            now += 1
        assert beat.starts == 1 + 3
        assert lines[-1] == "beat exited (1) 3 times within 60 s; trying again later."
        assert len(lines) == 4  # the give-up is said once, not on every look

        supervisor.check(now=1000.0 + 61)  # a minute after the first restart: one more try
        assert beat.starts == 5
    finally:
        supervisor.stop(timeout=5)


def test_the_web_servers_exit_ends_the_demo_and_stops_the_others():
    supervisor, _ = _supervisor({"web": SLEEPS, "worker": SLEEPS, "beat": SLEEPS})
    supervisor.start()
    web = supervisor.children["web"].process
    threading.Timer(0.5, web.terminate).start()
    try:
        assert supervisor.run(poll_seconds=0.05) == "web"
    finally:
        supervisor.stop(timeout=5)
    assert all(child.process.poll() is not None for child in supervisor.children.values())
    assert supervisor.children["worker"].starts == 1
