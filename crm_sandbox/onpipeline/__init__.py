"""The simulated Onpipeline API: ``POST <onpipeline>/<Resource>`` with a JSON body.

- ``data``: the seeded account, generated lazily (record i is a function of seed and i).
- ``store``: the current state, generated records plus what the API wrote.
- ``render``: internal records -> the API's objects in the account's local time.
- ``api``: the request pipeline (method, token, rate limit, JSON body) and the resource table.
- ``state``: what every resource shares (the store, local time, encoded records).
- ``resources/``: one object per concern answering its resources (persons, organizations,
  deals, events and notes, invoices, the account's small lists, custom fields), with
  ``select`` (list filters), ``records`` (finding, linking, saving), ``checks`` (values and
  errors) and ``envelopes`` (the Header/Data and Error shapes).
- ``control``: ``/_sandbox/onpipeline/...`` for tests (ids, records, touch).
"""

from crm_sandbox.onpipeline.api import OnpipelineAPI

__all__ = ["OnpipelineAPI"]
