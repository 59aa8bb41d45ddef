"""singer-io tap-pipedrive 2.1.0 (the published package) pointed at crm-sandbox.

    .venv-peers/bin/python benchmarks/singer_io_tap_pipedrive.py --config FILE --catalog FILE

The package has no base-URL setting: ``tap_pipedrive.config.BASE_URL`` is a constant that
``tap_pipedrive.tap`` imports by name (``https://api.pipedrive.com``). This wrapper sets that one
name from ``PIPEDRIVE_BASE_URL`` and then runs the package's own ``main``; nothing else of the tap
is changed. Its config takes ``api_token`` and ``start_date`` (the token travels as a query
parameter, as that tap sends it: loopback only here).
"""

from __future__ import annotations

import os

import tap_pipedrive.tap
from tap_pipedrive.cli import main

if __name__ == "__main__":
    tap_pipedrive.tap.BASE_URL = os.environ["PIPEDRIVE_BASE_URL"].rstrip("/")
    main()
