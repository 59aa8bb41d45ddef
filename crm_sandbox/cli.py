"""``crm-sandbox``: run the local stand-in for the Pipedrive and Onpipeline APIs."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any, NoReturn

from crm_sandbox.core import ODD_BODY_KINDS, Settings
from crm_sandbox.server import SandboxServer, SettingsError, with_changes

_DEFAULTS = Settings()

DESCRIPTION = """\
A local stand-in for the Pipedrive (API v2 + the v1 parts in use) and Onpipeline APIs,
with seeded, deterministic data, for tests, benchmarks, demos and trial loads.

The first line on stdout is a JSON object with the base URLs and credentials:
  {"pipedrive": "http://127.0.0.1:PORT/pipedrive", "onpipeline": ".../onpipeline",
   "api_token": "...", "control": ".../_sandbox", "client_id": "...", "client_secret": "..."}
It then serves until Ctrl-C or SIGTERM.
"""

CONTROL_HELP = """\
control endpoint (JSON, never slowed, faulted or counted):
  GET  /_sandbox/health             is it up, seed, size, sandbox time
  POST /_sandbox/reset              {"seed"?, "size"?, any setting?}: fresh data, clock, counters;
                                    settings go back to the values given at launch
  GET  /_sandbox/config             every setting
  POST /_sandbox/config             {"latency_ms": 50, "fault_rate": 0.1, ...} change some
  GET  /_sandbox/clock              the sandbox's time
  POST /_sandbox/clock              {"advance_seconds": N} move it forward
  GET  /_sandbox/counters           requests per endpoint, responses per status, events
  POST /_sandbox/counters/reset
  /_sandbox/pipedrive/...  /_sandbox/onpipeline/...   provider-specific (e.g. GET .../ids/deals)
"""


class _Parser(argparse.ArgumentParser):
    """Errors in one line that says what to change; no usage dump, no traceback."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _number(
    kind: type[int] | type[float], low: float, high: float | None = None
) -> Callable[[str], Any]:
    noun = "an integer" if kind is int else "a number"
    bounds = f">= {low:g}" if high is None else f"between {low:g} and {high:g}"

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {noun} {bounds}, got {text!r}") from None
        if not (value >= low and (high is None or value <= high)):
            raise argparse.ArgumentTypeError(f"must be {noun} {bounds}, got {text!r}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in some messages
    return parse


def _odd_kind(text: str) -> str:
    if text and text not in ODD_BODY_KINDS:
        raise argparse.ArgumentTypeError(
            f"must be one of {', '.join(ODD_BODY_KINDS)} (or empty for off), got {text!r}"
        )
    return text


def _add_serve(commands: Any) -> None:
    serve = commands.add_parser(
        "serve",
        help="start the sandbox and serve until stopped",
        description=DESCRIPTION,
        epilog=CONTROL_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    net = serve.add_argument_group("listening")
    net.add_argument(
        "--host",
        metavar="ADDR",
        default="127.0.0.1",
        help="address to listen on (default: %(default)s, loopback: only this machine)",
    )
    net.add_argument(
        "--port",
        metavar="N",
        type=_number(int, 0, 65535),
        default=0,
        help="port; 0 picks a free one (default)",
    )
    net.add_argument(
        "--verbose", action="store_true", help="log every request to stderr (slows the server)"
    )

    data = serve.add_argument_group("data and credentials")
    data.add_argument(
        "--seed",
        metavar="N",
        type=int,
        default=_DEFAULTS.seed,
        help="seed of the generated data (default: %(default)s)",
    )
    data.add_argument(
        "--size",
        metavar="N",
        type=_number(int, 0),
        default=_DEFAULTS.size,
        help="number of deals; the other entities scale from it (default: %(default)s)",
    )
    data.add_argument(
        "--api-token", metavar="TOKEN", default=_DEFAULTS.api_token, help="token both APIs accept"
    )
    data.add_argument(
        "--client-id", metavar="ID", default=_DEFAULTS.client_id, help="Pipedrive OAuth client id"
    )
    data.add_argument(
        "--client-secret",
        metavar="SECRET",
        default=_DEFAULTS.client_secret,
        help="Pipedrive OAuth client secret",
    )
    data.add_argument(
        "--access-token-ttl",
        metavar="SECONDS",
        type=_number(int, 1),
        default=_DEFAULTS.access_token_ttl,
        help="seconds an OAuth access token lives (default: %(default)s)",
    )
    data.add_argument(
        "--timezone",
        metavar="ZONE",
        default=_DEFAULTS.timezone,
        help="Onpipeline account time zone, its datetimes are local (default: %(default)s)",
    )

    limits = serve.add_argument_group("rate limits (0 = off)")
    limits.add_argument(
        "--burst-limit",
        metavar="N",
        type=_number(int, 0),
        default=_DEFAULTS.burst_limit,
        help="Pipedrive: requests per rolling 2 s per token",
    )
    limits.add_argument(
        "--daily-budget",
        metavar="N",
        type=_number(int, 0),
        default=_DEFAULTS.daily_budget,
        help="Pipedrive: token budget per day per company",
    )
    limits.add_argument(
        "--onpipeline-rate-limit",
        metavar="N",
        type=_number(int, 0),
        default=_DEFAULTS.onpipeline_rate_limit,
        help="Onpipeline: requests per minute per account",
    )

    network = serve.add_argument_group(
        "network misbehaviour (API requests only; seeded by --seed, so runs repeat)"
    )
    network.add_argument(
        "--latency-ms",
        metavar="MS",
        type=_number(float, 0),
        default=_DEFAULTS.latency_ms,
        help="milliseconds added to every API response",
    )
    network.add_argument(
        "--fault-rate",
        metavar="SHARE",
        type=_number(float, 0, 1),
        default=_DEFAULTS.fault_rate,
        help="share of API requests answered 500/502/503 instead",
    )
    network.add_argument(
        "--drop-rate",
        metavar="SHARE",
        type=_number(float, 0, 1),
        default=_DEFAULTS.drop_rate,
        help="share of API requests whose connection is closed without an answer",
    )
    network.add_argument(
        "--slow-rate",
        metavar="SHARE",
        type=_number(float, 0, 1),
        default=_DEFAULTS.slow_rate,
        help="share of API requests delayed by --slow-ms more",
    )
    network.add_argument(
        "--slow-ms",
        metavar="MS",
        type=_number(float, 0),
        default=_DEFAULTS.slow_ms,
        help="see --slow-rate",
    )
    network.add_argument(
        "--odd-body",
        metavar="KIND",
        type=_odd_kind,
        default=_DEFAULTS.odd_body,
        help="answer API requests with an odd HTTP 200 body instead: "
        + "; ".join(f"{kind}: {what}" for kind, what in ODD_BODY_KINDS.items())
        + " (default: off)",
    )
    network.add_argument(
        "--odd-body-rate",
        metavar="SHARE",
        type=_number(float, 0, 1),
        default=_DEFAULTS.odd_body_rate,
        help="share of matching API requests that get the odd body",
    )
    network.add_argument(
        "--odd-body-path",
        metavar="TEXT",
        default=_DEFAULTS.odd_body_path,
        help='only requests whose path (e.g. "/pipedrive/api/v2/deals") contains TEXT '
        "(default: every API path but OAuth's)",
    )
    network.add_argument(
        "--odd-body-count",
        metavar="N",
        type=_number(int, 0),
        default=_DEFAULTS.odd_body_count,
        help="serve at most N odd bodies, then answer normally again (0 = no limit)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="crm-sandbox",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True
    _add_serve(commands)
    return parser


def settings_from_args(args: argparse.Namespace) -> Settings:
    """The flags whose names are settings (``--latency-ms`` -> ``latency_ms``), checked."""
    given = {
        name: value for name, value in vars(args).items() if name in Settings.__dataclass_fields__
    }
    return with_changes(Settings(), given)


def serve(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    try:
        server = SandboxServer(settings, host=args.host, port=args.port, verbose=args.verbose)
    except OSError as exc:  # e.g. the port is taken, or the host is not an address of this machine
        reason = exc.strerror or str(exc)
        print(
            f"crm-sandbox: error: cannot listen on {args.host}:{args.port}: {reason}",
            file=sys.stderr,
        )
        return 1
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    server.start()
    try:
        print(json.dumps(server.urls()), flush=True)
        if server.host not in ("127.0.0.1", "localhost", "::1"):
            print(f"crm-sandbox: listening on {server.host}, beyond loopback", file=sys.stderr)
        while not stop.wait(0.2):  # a signal handler only sets the event: poll it
            pass
    except BrokenPipeError:  # whoever read our first line went away: just stop
        pass
    finally:
        server.stop()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return serve(args)
    except SettingsError as exc:
        print(f"crm-sandbox: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C while the data was still being generated
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
