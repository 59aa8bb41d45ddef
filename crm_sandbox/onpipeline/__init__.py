"""The simulated Onpipeline API: ``POST <onpipeline>/<Resource>`` with a JSON body.

- ``data``: the seeded account, generated lazily (record i is a function of seed and i).
- ``store``: the current state, generated records plus what the API wrote.
- ``render``: internal records -> the API's objects in the account's local time.
- ``api``: auth, rate limit, envelopes, resources and errors.
- ``control``: ``/_sandbox/onpipeline/...`` for tests (ids, records, touch).
"""

from crm_sandbox.onpipeline.api import OnpipelineAPI

__all__ = ["OnpipelineAPI"]
