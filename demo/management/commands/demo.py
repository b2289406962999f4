"""``manage.py demo``: migrate, seed the demo clinic once, then run the web server, the Celery
workers (one for the default queue, one for urgent alerts) and Celery beat together. A worker or
beat that dies is started again; the web server's exit, Ctrl-C or SIGTERM stops them all."""

import os
import signal
import subprocess
import sys
import threading

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from clients.models import Clinic
from demo.management.demo_supervisor import DemoSupervisor

DEMO_PASSWORD = "demo-password-2026"


def celery_processes(python: str) -> dict[str, list[str]]:
    """The demo's Celery processes. Urgent alert work has a worker of its own, so a therapist's
    urgent mail is not queued behind a backlog of check-in mails on the default queue; the main
    worker takes urgent work too when it has nothing else."""
    worker = [python, "-m", "celery", "-A", "config", "worker", "-l", "INFO"]
    return {
        "worker": [*worker, "-Q", "celery,urgent", "--concurrency", "2", "-n", "demo-worker@%h"],
        "urgent": [*worker, "-Q", "urgent", "--concurrency", "1", "-n", "demo-urgent@%h"],
        "beat": [python, "-m", "celery", "-A", "config", "beat", "-l", "INFO"],
    }


def _raise_keyboard_interrupt(signum, frame):
    raise KeyboardInterrupt


class Command(BaseCommand):
    help = "Run the app with demo data: web server, Celery workers and beat (Ctrl-C stops all)."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--clients", type=int, default=60)
        parser.add_argument("--no-seed", action="store_true")

    def handle(self, *args, port, clients, no_seed, **options):
        call_command("migrate", interactive=False, verbosity=0)
        if not no_seed and not Clinic.objects.filter(slug="demo").exists():
            self.stdout.write("Seeding the demo clinic…")
            call_command("seed_demo", clients=clients, password=DEMO_PASSWORD)
        env = {**os.environ, "DEMO_MODE": "1", "SITE_URL": f"http://127.0.0.1:{port}"}
        python = sys.executable
        processes = {
            "web": [python, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
            **celery_processes(python),
        }
        supervisor = DemoSupervisor(
            processes,
            essential={"web"},
            spawn=lambda name, command: self._spawn(name, command, env),
            log=self.stderr.write,
        )
        supervisor.start()
        self._banner(port)
        # `kill` and service managers send SIGTERM: stop the children then too, not only on Ctrl-C.
        signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
        try:
            stopped = supervisor.run()
            self.stderr.write(f"{stopped} stopped; shutting the others down.")
        except KeyboardInterrupt:
            self.stdout.write("\nStopping the web server, workers and beat…")
        finally:
            supervisor.stop()

    def _spawn(self, name, command, env) -> subprocess.Popen:
        process = subprocess.Popen(
            command,
            cwd=settings.BASE_DIR,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        threading.Thread(target=self._relay, args=(name, process), daemon=True).start()
        return process

    def _relay(self, name, process):
        for line in process.stdout:
            self.stdout.write(f"{name:>6} | {line.rstrip()}")

    def _banner(self, port):
        from clients.models import Membership

        logins = Membership.objects.filter(clinic__slug="demo").select_related("user")
        self.stdout.write(self.style.SUCCESS(f"\nDemo running at http://127.0.0.1:{port}/"))
        self.stdout.write(f"Log in with any of these (password: {DEMO_PASSWORD}):")
        for membership in logins.order_by("role", "user__username"):
            self.stdout.write(f"  {membership.user.username:<14} {membership.get_role_display()}")
        if settings.MFA_REQUIRED:
            self.stdout.write(
                "The supervisor and the clinic admin set up an authenticator app at first sign-in"
                " (any TOTP app); MFA_REQUIRED=false make demo skips that."
            )
        waiting = _urgent_alert_holders()
        if waiting:
            self.stdout.write(
                f"An urgent alert is waiting on the caseload of: {', '.join(waiting)}"
            )
        self.stdout.write(
            "Django admin: /admin/ (as clinicadmin); e-mails sent: /outbox/; health: /healthz\n"
            "Press Ctrl-C to stop.\n"
        )


def _urgent_alert_holders() -> list[str]:
    """The therapists with an urgent alert still open in the demo: where to look first."""
    from outcomes.models import Alert, AlertSeverity, AlertState

    return sorted(
        set(
            Alert.objects.filter(
                clinic__slug="demo", severity=AlertSeverity.URGENT, state=AlertState.OPEN
            ).values_list("episode__therapist__username", flat=True)
        )
    )
