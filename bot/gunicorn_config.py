"""gunicorn settings for the Procfile's web process.

gunicorn reads this in its master process before it forks, so a missing or malformed setting
stops the whole server at once with one plain line, instead of every worker failing to boot.
"""

from bot.app import settings_or_exit

_settings = settings_or_exit()

bind = [f"0.0.0.0:{_settings.port}"]
# Threads, not processes, carry the concurrency: answers mostly wait on Cloudflare, and one
# process keeps one cache. WEB_CONCURRENCY adds processes when wanted.
worker_class = "gthread"
threads = 8
# Slack gives up after 3 s; a request still running after 30 s is stuck, not slow.
timeout = 30
graceful_timeout = 20
accesslog = "-"
