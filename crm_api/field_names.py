"""The one rule that turns a custom field's label into a column name, for both providers.

Pipedrive (``crm_api.pipedrive_fields``) and Onpipeline (``crm_api.onpipeline``) used two rules
that agreed on plain labels and differed on the edges: Pipedrive folded accents
(``"Éducation"`` -> ``education``) and did not split camelCase; Onpipeline split camelCase
(``"LinkedIn"`` -> ``linked_in``) and dropped accented letters (``"Città"`` -> ``citt``). This
rule does both, so no column of either provider's sandbox data or documented examples is
renamed. What still changes against the old rules, for labels not in that data: a Pipedrive
label with an inner capital (``"LinkedIn"``: ``linkedin`` -> ``linked_in``) and an Onpipeline
label with an accented letter (``"Città"``: ``citt`` -> ``citta``); docs/streams.md says so.

Only the name is shared: what a provider does when a name is empty or already taken (its key
or ID appended) stays with the provider, because those keys differ.
"""

from __future__ import annotations

import re
import unicodedata

_INNER_CAPITAL = re.compile(r"([a-z0-9])([A-Z])")
_NOT_ALPHANUMERIC = re.compile(r"[^0-9a-zA-Z]+")


def column_name(label: str) -> str:
    """``"Frequent Buyer?"`` -> ``frequent_buyer``; ``"LinkedIn"`` -> ``linked_in``;
    ``"Éducation level"`` -> ``education_level``; ``"2nd phone"`` -> ``f_2nd_phone``.

    Accents are folded to their base letter, an inner capital starts a new word, anything
    else that is not an ASCII letter or digit separates words; a name never starts with a
    digit. A label with nothing left (``"日本語"``, ``"%"``) gives ``""``: the caller picks
    its fallback.
    """
    folded = unicodedata.normalize("NFKD", label.strip())
    ascii_only = "".join(ch for ch in folded if not unicodedata.combining(ch))
    words = _INNER_CAPITAL.sub(r"\1_\2", ascii_only)
    name = _NOT_ALPHANUMERIC.sub("_", words).strip("_").lower()
    return f"f_{name}" if name[:1].isdigit() else name


__all__ = ["column_name"]
