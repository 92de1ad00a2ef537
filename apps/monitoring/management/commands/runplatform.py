"""`make run`: migrate, make sure a dev superuser exists, start every process.

The processes are listed in a Procfile and run by honcho, so one Ctrl-C stops all
of them. Embedded defaults (no DATABASE_URL/REDIS_URL) use Procfile.embedded: one web
worker (API, admin, WebSocket, in-process queue and bus, and the monitor inside it, so
its events reach the WebSocket and SSE clients), the localnet and the market. With real
services, Procfile runs the Celery worker and the monitor as processes of their own.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import OperationalError


class Command(BaseCommand):
    help = "Migrate, ensure a development superuser, and start the whole platform."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", 8000)))
        parser.add_argument("--no-start", action="store_true", help="prepare only")

    def handle(self, *args, port: int, no_start: bool, **options) -> None:
        try:
            call_command("migrate", interactive=False, verbosity=0)
        except OperationalError as exc:
            db = settings.DATABASES["default"]
            raise CommandError(
                f"cannot use the database {db.get('NAME')!r} on {db.get('HOST') or 'local'}: "
                f"{str(exc).strip().splitlines()[-1]}. Check DATABASE_URL (does the database "
                "exist? `createdb` it) or unset it to run on SQLite."
            ) from None
        self._ensure_dev_superuser()
        embedded = not (os.environ.get("DATABASE_URL") or settings.REDIS_URL)
        procfile = "Procfile.embedded" if embedded else "Procfile"
        base = f"http://127.0.0.1:{port}"
        self.stdout.write(
            "\n".join(
                [
                    "",
                    f"Platform ({'embedded defaults' if embedded else 'real services'}):",
                    f"  API        {base}/api/",
                    f"  API docs   {base}/api/docs",
                    f"  health     {base}/api/health",
                    f"  admin      {base}/admin/",
                    f"  WebSocket  ws://127.0.0.1:{port}/ws/",
                    f"  metrics    {base}/metrics",
                    f"  chain RPC  {', '.join(settings.SOLANA_RPC_URLS)}",
                    f"  geyser     {settings.GEYSER_URL}",
                    "  market     "
                    + (
                        f"seed {settings.MARKET_SEED}, "
                        f"{settings.MARKET_LAUNCHES_PER_MINUTE:g} launches/min"
                        if settings.MARKET_ENABLED
                        else "off (MARKET_ENABLED=false)"
                    ),
                    "Ctrl-C stops everything.",
                    "",
                ]
            )
        )
        if no_start:
            return
        sys.stdout.flush()
        env = dict(os.environ, PORT=str(port), PYTHONUNBUFFERED="1")
        if not embedded:
            # Several web workers: Prometheus counters live in shared files, fresh per start.
            metrics_dir = Path(settings.VAR_DIR) / "prometheus"
            shutil.rmtree(metrics_dir, ignore_errors=True)
            metrics_dir.mkdir(parents=True)
            env.setdefault("PROMETHEUS_MULTIPROC_DIR", str(metrics_dir))
        venv_bin = str(Path(sys.executable).parent)
        env["PATH"] = venv_bin + os.pathsep + env.get("PATH", "")
        honcho = str(Path(venv_bin) / "honcho")
        root = str(settings.BASE_DIR)
        os.chdir(root)
        processes = _procfile_processes(Path(root) / procfile)
        if not settings.MARKET_ENABLED:
            processes.remove("market")
        command = [honcho, "start", "-f", procfile, "-d", root, *processes]
        os.execvpe(honcho, command, env)  # noqa: S606

    def _ensure_dev_superuser(self) -> None:
        if not settings.DEBUG:
            return  # production creates staff explicitly (createsuperuser)
        user_model = get_user_model()
        if user_model.objects.filter(is_superuser=True).exists():
            return
        password = secrets.token_urlsafe(12)
        user_model.objects.create_superuser("admin", "admin@localhost", password)
        self.stdout.write(
            self.style.WARNING(
                f"Created development superuser: admin / {password}  (shown once; "
                "reset with `python manage.py changepassword admin`)"
            )
        )


def _procfile_processes(procfile: Path) -> list[str]:
    """Process names in a Procfile, in order (honcho starts only those named)."""
    names = []
    for line in procfile.read_text().splitlines():
        name, sep, _ = line.partition(":")
        if sep and name.strip() and not line.lstrip().startswith("#"):
            names.append(name.strip())
    return names
