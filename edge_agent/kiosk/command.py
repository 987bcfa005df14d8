"""``edge-agent kiosk``: serves the customer screen and the clerk panel on this device.

Loopback by default. Any other address would expose the clerk panel to the
store network, so it is refused unless TLS (certificate and key) and an
access token are given; even then the camera preview is sent only to a page
on this device.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from edge_agent.errors import KioskListenError
from edge_agent.kiosk.catalog import DEFAULT_LANGUAGE, LANGUAGES

__all__ = ["KioskListenError", "add_parser", "check_exposure", "check_port", "listen_address"]

DEFAULT_LISTEN = "127.0.0.1:8080"


def listen_address(spec: str) -> tuple[str, int]:
    """(host, port) of ``--listen HOST:PORT``, brackets of an IPv6 host removed; a clear error otherwise."""
    host, sep, port = spec.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise KioskListenError(f"--listen {spec!r}: give HOST:PORT, e.g. {DEFAULT_LISTEN}")
    return host.strip("[]"), int(port)


def check_exposure(host: str, cert: Path | None, key: Path | None, token: str) -> None:
    """Refuses a non-loopback address without TLS and a token (a clear error, not a quiet downgrade)."""
    from edge_agent.kiosk.app import is_loopback

    if is_loopback(host):
        return
    missing = [name for name, value in (("--tls-cert", cert), ("--tls-key", key), ("a token", token)) if not value]
    if missing:
        raise KioskListenError(f"--listen {host} is not a loopback address: the kiosk then needs TLS and an access "
                               f"token, missing {', '.join(missing)} (--tls-cert, --tls-key, --token-file or "
                               "EDGE_AGENT_KIOSK_TOKEN)")
    for path in (cert, key):
        assert path is not None
        if not path.is_file():
            raise KioskListenError(f"cannot read {path}")


def check_port(host: str, port: int) -> None:
    """Refuses a port that is taken, before the kiosk prints its URLs (uvicorn would say so only after them)."""
    import socket

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: a closing socket is no obstacle
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise KioskListenError(f"cannot listen on {host}:{port}: {exc.strerror} (is another kiosk running? "
                                   "stop it, or choose another port with --listen HOST:PORT)") from None


def _token(args: argparse.Namespace) -> str:
    if args.token_file is not None:
        try:
            token = str(args.token_file.read_text()).strip()
        except OSError as exc:
            raise KioskListenError(f"cannot read the token file {args.token_file}: {exc.strerror}") from None
    else:
        token = os.environ.get("EDGE_AGENT_KIOSK_TOKEN", "").strip()
    if token and len(token) < 16:
        raise KioskListenError("the kiosk token must be at least 16 characters")
    return token


def _run(args: argparse.Namespace) -> int:
    import sys

    from edge_agent.errors import EXIT_OK, EXIT_UNHEALTHY, EdgeAgentError, exit_code_of

    try:
        host, port = listen_address(args.listen)
        token = _token(args)
        check_exposure(host, args.tls_cert, args.tls_key, token)
        check_port(host, port)
        from edge_agent.kiosk.idreader import id_reader

        reader = id_reader(args.id_reader)
        from edge_agent.kiosk import access

        secret, hosts = token or access.new_secret(), access.allowed_hosts(host, port, tuple(args.allowed_host))
        launch = access.launch_path(args.launch_file)
        access.write_launch_file(launch, access.launch_url(secret, hosts[0], args.tls_cert is not None),
                                 args.launch_group)
    except EdgeAgentError as exc:
        print(f"edge-agent: error: {exc}", file=sys.stderr)
        return exit_code_of(exc)
    try:
        import uvicorn
    except ImportError:
        print("edge-agent: error: the kiosk needs its extra: pip install 'edge-agent[kiosk]'", file=sys.stderr)
        return EXIT_UNHEALTHY
    import threading

    from edge_agent.kiosk.agent_link import AgentLink
    from edge_agent.kiosk.app import SPOKEN_PREFIXES, KioskSettings, build_app
    from edge_agent.kiosk.catalog import catalog
    from edge_agent.kiosk.runner import Runner
    from edge_agent.kiosk.speech import Speech

    link = AgentLink(args.tcp or f"unix:{args.socket}")
    settings = KioskSettings(lang=args.lang, speech=not args.no_speech, preview=not args.no_preview, token=secret,
                             secure_cookie=args.tls_cert is not None, hosts=hosts)
    speech = Speech()
    if speech.available:
        texts = [(lang, text) for lang in LANGUAGES for key, text in catalog(lang).items()
                 if key.startswith(SPOKEN_PREFIXES)]
        threading.Thread(target=speech.prewarm, args=(texts,), name="speech-prewarm", daemon=True).start()
    app = build_app(link, settings, reader, runner=Runner(link, session_timeout_s=args.session_timeout),
                    speech=speech)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False,
                            ssl_certfile=str(args.tls_cert) if args.tls_cert else None,
                            ssl_keyfile=str(args.tls_key) if args.tls_key else None, timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    scheme = "https" if args.tls_cert else "http"
    print(f"edge-agent kiosk on {scheme}://{args.listen}/customer and /operator (agent {link.target})", flush=True)
    print(f"edge-agent kiosk: launch URL in {launch}", flush=True)
    access.serve(server, launch)
    link.close()
    return EXIT_OK


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``edge-agent kiosk`` and its options with the CLI."""
    from edge_agent.terminal import DEFAULT_SOCKET

    p = sub.add_parser("kiosk", help="the store terminal's pages: customer screen and clerk panel (local web app)")
    p.add_argument("--listen", default=DEFAULT_LISTEN, help=f"HOST:PORT (default {DEFAULT_LISTEN}; any address but "
                   "loopback needs --tls-cert, --tls-key and a token)")
    p.add_argument("--lang", choices=LANGUAGES, default=DEFAULT_LANGUAGE, help="the customer screen's language")
    p.add_argument("--socket", type=Path, default=Path(os.environ.get("EDGE_AGENT_SOCKET", DEFAULT_SOCKET)),
                   help="the agent's Unix socket (EDGE_AGENT_SOCKET)")
    p.add_argument("--tcp", default="", help="HOST:PORT of the agent instead of the socket")
    p.add_argument("--tls-cert", type=Path, default=None, help="PEM certificate (needed off loopback)")
    p.add_argument("--tls-key", type=Path, default=None, help="PEM private key (needed off loopback)")
    p.add_argument("--token-file", type=Path, default=None,
                   help="file with the access token (default: EDGE_AGENT_KIOSK_TOKEN); needed off loopback")
    p.add_argument("--launch-file", type=Path, default=None,
                   help="where the browser's launch URL (with this boot's secret) is written, 0600 (default: "
                   "$RUNTIME_DIRECTORY/launch-url, else $XDG_RUNTIME_DIR/edge-agent-kiosk/launch-url)")
    p.add_argument("--launch-group", default="", help="make the launch file 0640 for this group (a browser run "
                   "as another user)")
    p.add_argument("--allowed-host", action="append", default=[], metavar="NAME",
                   help="a further host name the kiosk answers to (Host/Origin; localhost, 127.0.0.1, ::1 always)")
    p.add_argument("--id-reader", default="", help="the ID card reader: file:PATH is the stand-in that reads a photo")
    p.add_argument("--session-timeout", type=float, default=180.0,
                   help="seconds before the kiosk gives up on a session the agent has not ended (a safety net: the "
                   "agent times out each step itself)")
    p.add_argument("--no-speech", action="store_true", help="spoken prompts off by default")
    p.add_argument("--no-preview", action="store_true",
                   help="show a placeholder instead of the camera (screenshots, privacy screens)")
    p.set_defaults(handler=_run)
