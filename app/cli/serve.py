"""``hyperquest serve``: the web game (embedded mode unless HYPERQUEST_REDIS_URL is set)."""

from __future__ import annotations

import argparse
import sys

from engine.errors import ConfigError

SWITCH_INTERVAL_SECONDS = 0.001


def add_parser(subparsers) -> None:
    """Register the subcommand."""
    parser = subparsers.add_parser("serve", help="start the web game", description="Serve the browser game with uvicorn.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument("--access-log", action="store_true",
                        help="log every request (off by default: it costs the server a few percent, and a proxy in "
                             "front usually logs requests anyway)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Build the app from settings and serve it until interrupted."""
    if not 0 < args.port < 65536:
        raise ConfigError(f"port must be between 1 and 65535, got {args.port}")
    import uvicorn

    from app.factory import create_app
    from app.settings import load_settings

    settings = load_settings()
    # Every request hops between the event loop and worker threads several times, and each hop
    # waits for the interpreter lock; 1 ms instead of Python's 5 ms between forced hand-overs keeps
    # those waits short when many requests are in flight.
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
    print(f"HyperQuest on http://{args.host}:{args.port}  (database {settings.database_url}, "
          f"{'embedded runner' if settings.embedded else 'Celery workers'}, datasets {settings.dataset_size})", flush=True)
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="info", access_log=args.access_log)
    return 0
