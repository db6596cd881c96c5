"""Command line: `python -m bot` runs the bot; `python -m bot preview` shows its replies here."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from bot import __version__, demo, logs, preview
from bot.app import Bot, build_app, build_service, settings_or_exit, settle
from bot.check import run_checks
from bot.logs import event
from bot.settings import SettingsError, load_settings, read_environment

log = logging.getLogger("bot")


class ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    """A WSGI server that answers each request on its own thread (Slack sends them in parallel).

    Closing it waits for the requests it is answering.
    """

    daemon_threads = False
    block_on_close = True


class QuietHandler(WSGIRequestHandler):
    """Logs requests through `logging` instead of printing them."""

    def log_message(self, format: str, *args: object) -> None:
        log.debug("http " + format, *args)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; give back the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m bot",
        description="The scim-groups Slack app. Without a command it runs the bot: over Socket Mode "
        "when SLACK_APP_TOKEN is set, else over HTTP on $PORT (default 3000) at /slack/events.",
    )
    parser.add_argument("--version", action="version", version=f"scim-groups {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="{check,preview}")
    shown = commands.add_parser("preview", help="show the reply to /scim-groups TEXT in this terminal")
    shown.add_argument("--demo", action="store_true", help="use the built-in sample directory")
    shown.add_argument("--json", action="store_true", help="print the Block Kit message as JSON")
    shown.add_argument("text", nargs="*", help="what follows /scim-groups, e.g. help")
    commands.add_parser("check", help="check every setting, token and permission; exit 0 when all pass")
    args = parser.parse_args(argv)
    if args.command == "check":
        return run_checks(read_environment(), sys.stdout)
    if args.command == "preview":
        return run_preview(demo_directory=args.demo, as_json=args.json, text=" ".join(args.text))
    settings = settings_or_exit()
    bot = build_app(settings, build_service(settings))
    settle(bot)
    assert settings.slack is not None
    stop = threading.Event()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signal_number, lambda number, frame: stop.set())
    if settings.slack.app_token is not None:
        run_socket_mode(bot, settings.slack.app_token.reveal(), stop)
    else:
        serve_http(bot, settings.port, stop)
    return 0


def wait_for(stop: threading.Event) -> None:
    """Block until `stop` is set, waking often: a signal delivered to another thread is only
    handled when the main thread runs Python code, and an untimed wait would never do so."""
    while not stop.wait(timeout=0.2):
        pass


def serve_http(bot: Bot, port: int, stop: threading.Event) -> None:
    """Serve HTTP on `port` until `stop`; then finish the requests and replies in flight."""
    server = make_server(
        "0.0.0.0",  # noqa: S104 - a local development server; production runs the Procfile
        port,
        bot.wsgi(),
        server_class=ThreadingWSGIServer,
        handler_class=QuietHandler,
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    event(log, "starting", version=__version__, mode="http", port=port)
    wait_for(stop)
    event(log, "stopping", mode="http")
    server.shutdown()  # no new requests
    server.server_close()  # waits for the requests being answered
    bot.drain()


def run_socket_mode(bot: Bot, app_token: str, stop: threading.Event) -> None:
    """Stay connected to Slack over Socket Mode until `stop`; then disconnect cleanly."""
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    handler = SocketModeHandler(bot.app, app_token)
    handler.connect()  # type: ignore[no-untyped-call]
    event(log, "starting", version=__version__, mode="socket")
    wait_for(stop)
    event(log, "stopping", mode="socket")
    handler.close()  # type: ignore[no-untyped-call]
    bot.drain()


def run_preview(*, demo_directory: bool, as_json: bool, text: str) -> int:
    """Show the bot's reply in the terminal, from the demo directory or the configured account."""
    logs.configure("WARNING")
    if demo_directory:
        settings, transport = demo.settings(), demo.transport()
    else:
        try:
            settings, transport = load_settings(read_environment(), slack=False), None
        except SettingsError as error:
            print(f"scim-groups: {error} (or try `python -m bot preview --demo`)", file=sys.stderr)
            return 2
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    bold = (lambda text: f"\033[1m{text}\033[0m") if sys.stdout.isatty() and not as_json else str
    return preview.run(
        build_service(settings, transport=transport),
        text,
        as_json=as_json,
        interactive=interactive,
        out=sys.stdout,
        bold=bold,
    )


if __name__ == "__main__":
    sys.exit(main())
