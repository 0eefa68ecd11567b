"""The ``zenml-devices`` command: parses arguments, builds the services, launches the UI.

``--help`` and ``--version`` answer without importing Textual (or httpx): the UI and
the client are imported only once the app is about to run.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

from zenml_devices_tui import __version__

EPILOG = """\
server URL: the argument, else $ZENML_DEVICES_URL, else the server used last time,
else the app asks. Plain http:// is accepted only for loopback hosts unless --insecure.

keys: see the README or press ? in the app. Tokens are kept in the OS keyring when one
is usable, else in tokens.json (mode 0600) in the config directory
($ZENML_DEVICES_HOME, else $XDG_CONFIG_HOME/zenml-devices, else ~/.config/zenml-devices).
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="zenml-devices",
        description="Sign in to a ZenML server and manage your authorized devices.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("url", nargs="?", metavar="URL", help="the ZenML server, e.g. https://zenml.example.com")
    parser.add_argument("--demo", action="store_true", help="run against an embedded demo server (no network)")
    parser.add_argument(
        "--refresh",
        type=_positive_seconds,
        default=None,
        metavar="SECONDS",
        help="refresh the device table every SECONDS (default 5)",
    )
    parser.add_argument("--read-only", action="store_true", help="show devices; lock, unlock and delete are disabled")
    parser.add_argument("--ca-cert", metavar="PATH", help="verify the server's TLS certificate with this CA bundle")
    parser.add_argument(
        "--insecure",
        action="store_true",
        help="skip TLS verification and allow plain http:// to non-loopback hosts (shows a warning)",
    )
    parser.add_argument("--logout", action="store_true", help="forget the stored token for the server and exit")
    parser.add_argument("--version", action="version", version=f"zenml-devices {__version__}")
    return parser


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not (0.5 <= value <= 3600):
        raise argparse.ArgumentTypeError("the refresh interval must be between 0.5 and 3600 seconds")
    return value


def fail(message: str) -> int:
    print(f"zenml-devices: {message}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _run(args)
    except KeyboardInterrupt:
        return 130


def _run(args: argparse.Namespace) -> int:
    from zenml_devices_tui.core.config import ConfigError, load_config, load_state
    from zenml_devices_tui.core.errors import ZenMLError
    from zenml_devices_tui.core.paths import config_dir
    from zenml_devices_tui.core.urls import check_transport_security, normalize_server_url

    if args.demo and args.url:
        return fail("--demo runs against the embedded demo server; leave out the URL.")
    if args.ca_cert and not os.path.isfile(args.ca_cert):
        return fail(f"the CA bundle {args.ca_cert!r} does not exist.")

    directory = config_dir()
    try:
        config = load_config(directory)
    except ConfigError as exc:
        return fail(str(exc))

    url: str | None = None
    if args.demo:
        from zenml_devices_tui.demo.server import DemoServer

        demo = DemoServer(auto_approve_after=2.0, polling_interval=2)
        url = demo.base_url
    else:
        demo = None
        url = args.url or os.environ.get("ZENML_DEVICES_URL") or None
        if url is None:
            url = load_state(directory).last_server
    if url is not None:
        try:
            url = normalize_server_url(url)
            if not args.demo:
                check_transport_security(url, insecure=args.insecure)
        except ZenMLError as exc:
            return fail(exc.message)

    from zenml_devices_tui.core.context import build_context

    try:
        context = build_context(
            directory,
            config,
            server_url=url,
            demo=demo,
            refresh=args.refresh,
            read_only=args.read_only,
            ca_cert=args.ca_cert,
            insecure=args.insecure,
        )
    except ZenMLError as exc:
        return fail(exc.message)

    if args.logout:
        if url is None:
            return fail("--logout needs a server URL (argument or $ZENML_DEVICES_URL).")
        return _logout(directory, url, context.token_store)

    from zenml_devices_tui.ui.app import DevicesApp

    app = DevicesApp(context)
    app.run()
    return app.return_code or 0


def _logout(directory, url: str, primary) -> int:  # type: ignore[no-untyped-def]
    """Remove the token from every store that may hold it: the one this run uses, the keyring, the file.

    The backend in use can differ from the one that saved the token (a keyring appeared
    since, or ZENML_DEVICES_TOKEN_STORE changed), and a token left behind is a live secret.
    """
    from zenml_devices_tui.core.errors import ZenMLError
    from zenml_devices_tui.core.token_store import TOKENS_FILE, TokenStore, usable_keyring

    stores = [primary]
    if primary.backend != "keyring":
        ring = usable_keyring()
        if ring is not None:
            stores.append(TokenStore("keyring", keyring_backend=ring))
    if primary.backend != "file" and (directory / TOKENS_FILE).exists():
        stores.append(TokenStore("file", config_dir=directory))
    removed: list[str] = []
    errors = 0
    for store in stores:
        try:
            if store.delete(url):
                removed.append(store.backend)
        except ZenMLError as exc:
            errors += 1
            fail(exc.message)
    if removed:
        print(f"Signed out of {url}: token removed from the {' and '.join(removed)} store.")
    elif not errors:
        print(f"No token stored for {url}.")
    return 2 if errors else 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
