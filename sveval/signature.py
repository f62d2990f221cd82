"""Reproducibility signatures, sacrebleu style: one string that names every choice behind a number.

    eer:nist|dcf:0.01/1/1|sweep:per-trial|trials:vox1_O_cleaned@7fc69f830f44|v:0.1.0

Two numbers with the same signature were computed the same way on the same trials.
"""

from __future__ import annotations

from sveval import __version__
from sveval.io.results import format_param
from sveval.types import TrialList


def dcf_tag(p_target: float, c_miss: float, c_fa: float) -> str:
    return "/".join(format_param(x) for x in (p_target, c_miss, c_fa))


def trials_tag(trials: TrialList | None) -> str:
    """`name@fingerprint12` for a list, `file-labels` when labels came from the score file itself.

    The name is the list's content identity: the built-in name its fingerprint proves, else its file's stem
    marked `(custom)` (`list_test_hard2(custom)@...` for a few trials saved as `list_test_hard2.txt`)."""
    if trials is None:
        return "file-labels"
    name = f"{trials.identity}(custom)" if trials.custom else trials.identity
    return f"{name}@{trials.short_fingerprint}"


def make_signature(**parts: str) -> str:
    """Join `key:value` pairs in the given order and append the sveval version."""
    fields = [f"{key.replace('_', '-')}:{value}" for key, value in parts.items()]
    return "|".join([*fields, f"v:{__version__}"])
