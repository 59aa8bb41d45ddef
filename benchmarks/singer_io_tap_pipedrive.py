"""singer-io tap-pipedrive 2.1.0 (the published package) pointed at crm-sandbox.

    .venv-peers/bin/python benchmarks/singer_io_tap_pipedrive.py --config FILE --catalog FILE

The package has no base-URL setting: ``tap_pipedrive.config.BASE_URL`` is a constant that
``tap_pipedrive.tap`` imports by name (``https://api.pipedrive.com``). This wrapper sets that one
name from ``PIPEDRIVE_BASE_URL`` and then runs the package's own ``main``; nothing else of the tap
is changed. Its config takes ``api_token`` and ``start_date`` (the token travels as a query
parameter, as that tap sends it: loopback only here).

With ``PIPEDRIVE_NO_EXTRAS=1`` its deals stream asks for no ``include_fields`` extras
(``DealsStream.additional_fields``), so it reads what tap-crm and the SDK default tap read in
the benchmark: crm-sandbox computes those extras by walking the account for every page, which
would make the benchmark time the sandbox instead of the tap.
"""

from __future__ import annotations

import os

import tap_pipedrive.tap
from tap_pipedrive.cli import main
from tap_pipedrive.streams import DealsStream

if __name__ == "__main__":
    tap_pipedrive.tap.BASE_URL = os.environ["PIPEDRIVE_BASE_URL"].rstrip("/")
    if os.environ.get("PIPEDRIVE_NO_EXTRAS") == "1":
        DealsStream.additional_fields = []
    main()
