"""Command line: `python -m bot` runs the bot; `python -m bot preview` shows its replies here."""

from __future__ import annotations

import argparse
import logging
import signal
import socket
import sys
import threading

from bot import __version__, demo, logs, preview, web
from bot.app import SHUTDOWN_GRACE_SECONDS, Bot, build_app, build_service, settings_or_exit, settle
from bot.check import run_checks
from bot.cloudflare import CloudflareClient
from bot.logs import event
from bot.query import from_slack
from bot.settings import SettingsError, load_settings, read_environment

log = logging.getLogger("bot")


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
    shown.add_argument("--home", action="store_true", help="show the Home tab instead of a reply")
    shown.add_argument(
        "--alert", action="store_true", help="show the alert the last day's failed SCIM pushes would post"
    )
    shown.add_argument("text", nargs="*", help="what follows /scim-groups, e.g. help")
    commands.add_parser("check", help="check every setting, token and permission; exit 0 when all pass")
    args = parser.parse_args(argv)
    if args.command == "check":
        try:
            env = read_environment()
        except SettingsError as error:
            print(f"✗ {error}", file=sys.stdout)
            return 1
        return run_checks(env, sys.stdout)
    if args.command == "preview":
        return run_preview(
            demo_directory=args.demo,
            as_json=args.json,
            text=" ".join(args.text),
            home=args.home,
            alert=args.alert,
        )
    settings = settings_or_exit()
    bot = build_app(settings, build_service(settings))
    assert settings.slack is not None
    if settings.slack.app_token is None:
        return serve_http(bot, settings.port)
    settle(bot)
    stop = threading.Event()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signal_number, lambda number, frame: stop.set())
    return run_socket_mode(bot, settings.slack.app_token.reveal(), stop)


def wait_for(stop: threading.Event) -> None:
    """Block until `stop` is set, waking often: a signal delivered to another thread is only
    handled when the main thread runs Python code, and an untimed wait would never do so."""
    while not stop.wait(timeout=0.2):
        pass


def serve_http(bot: Bot, port: int) -> int:
    """Serve HTTP on `port` until SIGTERM or SIGINT; then finish the requests and replies in flight.

    Give back the exit status: 2, with one line naming the fix, when the port is taken.
    """
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind(("0.0.0.0", port))  # noqa: S104 - Slack must reach it
    except OSError as error:
        listener.close()
        print(
            f"scim-groups: cannot listen on port {port} ({error.strerror}): stop the process that "
            "uses it, or set PORT to another port.",
            file=sys.stderr,
        )
        return 2
    settle(bot)
    event(log, "starting", version=__version__, mode="http", port=port)
    # uvicorn stops on SIGTERM or SIGINT: no new requests, those in flight finished, then the
    # front's lifespan shutdown posts the replies still owed (Bot.drain).
    web.server(bot.front(), graceful_seconds=int(SHUTDOWN_GRACE_SECONDS)).run(sockets=[listener])
    event(log, "stopped", mode="http")
    return 0


def run_socket_mode(bot: Bot, app_token: str, stop: threading.Event) -> int:
    """Stay connected to Slack over Socket Mode until `stop`; then disconnect cleanly.

    Give back the exit status: 2, with one line naming the fix, when Slack refuses the app
    token or cannot be reached.
    """
    from slack_bolt.adapter.socket_mode import SocketModeHandler
    from slack_sdk.errors import SlackApiError, SlackClientError

    handler = SocketModeHandler(bot.app, app_token)
    try:
        with logs.quiet("slack_bolt", "slack_sdk"):  # a failure is said below, in one line
            handler.connect()  # type: ignore[no-untyped-call]
    except SlackApiError as error:
        print(
            f"scim-groups: Slack refused SLACK_APP_TOKEN ({error.response.get('error')}): create an "
            "app-level token with connections:write (Basic Information) and turn on Socket Mode.",
            file=sys.stderr,
        )
        return 2
    except (SlackClientError, OSError) as error:
        print(
            f"scim-groups: Slack could not be reached for Socket Mode ({type(error).__name__}): check "
            "SLACK_API_URL and the network.",
            file=sys.stderr,
        )
        return 2
    event(log, "starting", version=__version__, mode="socket")
    wait_for(stop)
    event(log, "stopping", mode="socket")
    handler.close()  # type: ignore[no-untyped-call]
    bot.drain()
    return 0


def run_preview(
    *, demo_directory: bool, as_json: bool, text: str, home: bool = False, alert: bool = False
) -> int:
    """Show the bot's reply in the terminal, from the demo directory or the configured account."""
    logs.configure("WARNING")
    workspace = None
    if demo_directory:
        settings, transport, workspace = demo.settings(), demo.transport(), demo.Workspace()
        text = from_slack(workspace.escaped(text))  # as Slack sends a person picked as you type @
    else:
        try:
            settings, transport = load_settings(read_environment(), slack=False), None
        except SettingsError as error:
            print(f"scim-groups: {error} (or try `python -m bot preview --demo`)", file=sys.stderr)
            return 2
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    bold = (lambda text: f"\033[1m{text}\033[0m") if sys.stdout.isatty() and not as_json else str
    if alert:
        client = CloudflareClient(settings.cloudflare, transport=transport)
        try:
            return preview.show_alert(client, hours=24, as_json=as_json, out=sys.stdout, bold=bold)
        finally:
            client.close()
    service = build_service(settings, transport=transport, workspace=workspace)
    if home:
        return preview.show_home(service, as_json=as_json, out=sys.stdout, bold=bold)
    return preview.run(
        service,
        text,
        as_json=as_json,
        interactive=interactive,
        out=sys.stdout,
        bold=bold,
    )


if __name__ == "__main__":
    sys.exit(main())
