"""The application for the Procfile's gunicorn: `bot.asgi:application` (see bot/web.py)."""

import logging

from bot import __version__
from bot.app import build_app, build_service, settings_or_exit, settle
from bot.logs import event

_settings = settings_or_exit()
bot = build_app(_settings, build_service(_settings))
application = bot.front()
settle(bot)
event(logging.getLogger("bot"), "starting", version=__version__, mode="http", server="gunicorn")
