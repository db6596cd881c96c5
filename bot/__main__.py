"""Command line: `python -m bot` runs the bot; `python -m bot preview` shows its replies here."""

from __future__ import annotations

import argparse
import logging
import sys
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from bot import __version__, demo, preview
from bot.app import build_app, build_service, build_wsgi, configure_logging, settings_or_exit
from bot.settings import SettingsError, load_settings, read_environment

log = logging.getLogger("bot")


class ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    """A WSGI server that answers each request on its own thread (Slack sends them in parallel)."""

    daemon_threads = True


class QuietHandler(WSGIRequestHandler):
    """Logs requests through `logging` instead of printing them."""

    def log_message(self, format: str, *args: object) -> None:
        log.debug("http " + format, *args)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; give back the exit status."""
    parser = argparse.ArgumentParser(prog="python -m bot", description="The scim-groups Slack app.")
    parser.add_argument("--version", action="version", version=f"scim-groups {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="{preview}")
    shown = commands.add_parser("preview", help="show the reply to /scim-groups TEXT in this terminal")
    shown.add_argument("--demo", action="store_true", help="use the built-in sample directory")
    shown.add_argument("--json", action="store_true", help="print the Block Kit message as JSON")
    shown.add_argument("text", nargs="*", help="what follows /scim-groups, e.g. help")
    args = parser.parse_args(argv)
    if args.command == "preview":
        return run_preview(demo_directory=args.demo, as_json=args.json, text=" ".join(args.text))
    configure_logging()
    settings = settings_or_exit()
    app = build_app(settings, build_service(settings))
    assert settings.slack is not None
    if settings.slack.socket_mode and settings.slack.app_token is not None:
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        log.info("scim-groups %s starting in Socket Mode", __version__)
        SocketModeHandler(app, settings.slack.app_token.reveal()).start()  # type: ignore[no-untyped-call]
        return 0
    log.info("scim-groups %s serving HTTP on port %d at /slack/events", __version__, settings.port)
    server = make_server(
        "0.0.0.0",  # noqa: S104 - local development server; production runs the Procfile
        settings.port,
        build_wsgi(app),
        server_class=ThreadingWSGIServer,
        handler_class=QuietHandler,
    )
    with server:
        server.serve_forever()
    return 0


def run_preview(*, demo_directory: bool, as_json: bool, text: str) -> int:
    """Show the bot's reply in the terminal, from the demo directory or the configured account."""
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
