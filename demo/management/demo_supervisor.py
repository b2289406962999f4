"""Keeps ``manage.py demo``'s processes running: a worker or beat that dies is started again.

Only the web server's exit ends the demo (with Ctrl-C and SIGTERM, which the command handles):
a crashed worker used to take the web server down with it, and every client link with it. A
child that keeps crashing is restarted at most ``max_restarts`` times a minute, so a broken one
logs a few lines a minute instead of spinning.
"""

import os
import signal
import subprocess
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Child:
    name: str
    command: list[str]
    process: subprocess.Popen | None = None
    starts: int = 0
    recent_restarts: deque = field(default_factory=deque)
    waiting_logged: bool = False


class DemoSupervisor:
    """Starts the children, restarts the ones that exit, reports when an essential one does.

    ``spawn(name, command)`` starts one child and returns its Popen; ``log`` takes a line.
    """

    def __init__(
        self,
        commands: dict[str, list[str]],
        *,
        essential: set[str],
        spawn: Callable[[str, list[str]], subprocess.Popen],
        log: Callable[[str], None],
        max_restarts: int = 5,
        window_seconds: float = 60.0,
    ):
        self.children = {name: Child(name, command) for name, command in commands.items()}
        self.essential = essential
        self.spawn = spawn
        self.log = log
        self.max_restarts = max_restarts
        self.window_seconds = window_seconds

    def start(self) -> None:
        for child in self.children.values():
            self._start(child)

    def check(self, *, now: float | None = None) -> str | None:
        """One look at every child: restart the others that exited; return the name of an
        essential child that exited (the demo is over), else None."""
        now = time.monotonic() if now is None else now
        for child in self.children.values():
            code = child.process.poll()
            if code is None:
                continue
            if child.name in self.essential:
                return child.name
            while child.recent_restarts and child.recent_restarts[0] <= now - self.window_seconds:
                child.recent_restarts.popleft()
            if len(child.recent_restarts) >= self.max_restarts:
                if not child.waiting_logged:
                    self.log(
                        f"{child.name} exited ({code}) {self.max_restarts} times within"
                        f" {self.window_seconds:.0f} s; trying again later."
                    )
                    child.waiting_logged = True
                continue
            self.log(f"{child.name} exited ({code}); starting it again.")
            child.recent_restarts.append(now)
            child.waiting_logged = False
            self._start(child)
        return None

    def run(self, *, poll_seconds: float = 0.5) -> str:
        """Supervise until an essential child exits; returns its name."""
        while True:
            stopped = self.check()
            if stopped:
                return stopped
            time.sleep(poll_seconds)

    def stop(self, *, timeout: float = 15.0) -> None:
        # SIGTERM to each leader only: the Celery worker then stops its own pool children
        # (a warm shutdown); the whole group is killed only if one does not stop in time.
        running = [child.process for child in self.children.values() if child.process]
        for process in running:
            if process.poll() is None:
                process.terminate()
        for process in running:
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)

    def _start(self, child: Child) -> None:
        child.process = self.spawn(child.name, child.command)
        child.starts += 1
