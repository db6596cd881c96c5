"""The WSGI application for gunicorn (see the Procfile): `bot.wsgi:application`."""

from bot.app import build_app, build_service, build_wsgi, configure_logging, settings_or_exit

configure_logging()
_settings = settings_or_exit()
application = build_wsgi(build_app(_settings, build_service(_settings)))
