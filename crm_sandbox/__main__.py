"""``python -m crm_sandbox serve ...``: the same as the ``crm-sandbox`` command."""

from crm_sandbox.cli import main

raise SystemExit(main())
