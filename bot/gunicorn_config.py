"""gunicorn settings for the Procfile's web process.

gunicorn reads this in its master process before it forks, so a missing or malformed setting
stops the whole server at once with one plain line, instead of every worker failing to boot.
"""

import os
import tempfile
from typing import Any

# Each worker process counts its own metrics; prometheus-client adds them up at scrape time
# from files in this folder. It must be set before prometheus_client is first imported.
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="scim-groups-metrics-"))

from prometheus_client import multiprocess

from bot.app import SHUTDOWN_GRACE_SECONDS, settings_or_exit

_settings = settings_or_exit()

bind = [f"0.0.0.0:{_settings.port}"]
# gunicorn reads WEB_CONCURRENCY from the environment only; this reads .env as well.
workers = _settings.web_concurrency
# Requests are read in an event loop and answered whole, so slow or huge bodies from strangers
# hold up no one (bot/web.py). Threads, not processes, carry the answers' concurrency: they
# mostly wait on Cloudflare, and one process keeps one cache. WEB_CONCURRENCY adds processes
# when wanted.
worker_class = "bot.web.Worker"
# Slack gives up after 3 s; a request still running after 30 s is stuck, not slow.
timeout = 30
# On SIGTERM a worker stops taking requests, finishes those it has, then posts the replies it
# still owes (the front's lifespan shutdown calls bot.app.Bot.drain); this leaves room for that.
graceful_timeout = int(SHUTDOWN_GRACE_SECONDS) + 5
# No access log: every command and click already leaves an audit line (bot.service), and
# probes of /healthz would drown it.
accesslog = None
# gunicorn 25.1 and later open a control socket in $XDG_RUNTIME_DIR or ~/.gunicorn: nothing here
# uses it, and a read-only home (a container, the hardened systemd unit) has no room for it.
control_socket_disable = True
# With LOG_FORMAT=json, gunicorn's own lines (booting, workers, signals) are JSON objects too, as
# the bot's are: a log pipeline reads one format.
if _settings.log_format == "json":
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "bot.logs.JsonFormatter"}},
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
        },
        "loggers": {
            "gunicorn.error": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
            "gunicorn.access": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        },
        # gunicorn merges this into its own defaults, whose root logger names their handler.
        "root": {"handlers": ["stderr"], "level": "INFO"},
    }


def child_exit(server: Any, worker: Any) -> None:
    """Drop a dead worker's live metrics (its counters stay counted)."""
    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
