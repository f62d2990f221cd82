"""`--json` output that every JSON parser reads.

Python's json writes `NaN`, `Infinity` and `-Infinity` for non-finite floats: not JSON, and rejected by
strict parsers (jq, JavaScript's JSON.parse). Here such a number becomes null, and the object holding it
gets a `non_finite` entry naming the field and what the number was: `{"cllr": null, ..., "non_finite":
{"cllr": "inf"}}` (a number inside a list is named with its index, `dcf[0]`). Everything is then written
with allow_nan=False, so a non-finite number that slipped through is an error, never invalid output.
"""

from __future__ import annotations

import json
import math

NON_FINITE = "non_finite"
HELP = (
    'A number that is not finite is null, and its object\'s "non_finite" names the field and what it was '
    '("inf", "-inf" or "nan").'
)


def dumps(value, **kwargs) -> str:
    """json.dumps of `value` with its non-finite numbers replaced as the module doc says."""
    return json.dumps(finite(value), allow_nan=False, **kwargs)


def finite(value):
    """`value` (dicts, lists, tuples, scalars) with every non-finite float None, each dict that held one
    (directly or in its lists) with a `non_finite` entry: field -> "inf", "-inf" or "nan"."""
    if isinstance(value, dict):
        found: dict[str, str] = {}
        out = {key: _clean(item, str(key), found) for key, item in value.items()}
        if found:
            out[NON_FINITE] = found
        return out
    return _clean(value, "", {})  # a list's own numbers have no object to be named in: null only


def _clean(value, path: str, found: dict):
    if isinstance(value, float) and not math.isfinite(value):
        found[path] = "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
        return None
    if isinstance(value, dict):
        return finite(value)  # its own `non_finite`
    if isinstance(value, (list, tuple)):
        return [_clean(item, f"{path}[{i}]", found) for i, item in enumerate(value)]
    return value
