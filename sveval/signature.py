"""Reproducibility signatures, sacrebleu style: the choices behind a number, kept as fields and printed as
one string.

    eer:nist|dcf:0.01/1/1|sweep:per-trial|trials:vox1_O_cleaned@7fc69f830f44|v:0.1.0

Two numbers with the same signature were computed the same way on the same trials.
"""

from __future__ import annotations

from dataclasses import dataclass

from sveval import __version__
from sveval.io.results import format_param
from sveval.types import TrialList


@dataclass(frozen=True)
class Signature:
    """The `key:value` fields in the order they are printed, then the version that computed the number.

    A field is added by making the signature with it (`Signature.of(..., llr="natural-log")`), never by
    editing the printed string: the string is only ever `format()`'s output."""

    fields: tuple[tuple[str, str], ...]
    version: str | None = __version__  # None: read back from a string without a `v:` field

    @classmethod
    def of(cls, **parts: str) -> Signature:
        """The fields in the given order, keys spelled as printed (`top_n` -> `top-n`)."""
        return cls(tuple((key.replace("_", "-"), str(value)) for key, value in parts.items()))

    @classmethod
    def parse(cls, text: str) -> Signature:
        """A printed signature read back (results.json, result files): `parse(s).format() == s`. A `|`
        inside a value (a list's file name may hold one) stays in that value: a piece without `:` belongs
        to the field before it."""
        pieces: list[list[str]] = []
        for piece in text.split("|"):
            key, colon, value = piece.partition(":")
            if colon and key:
                pieces.append([key, value])
            elif pieces:
                pieces[-1][1] += "|" + piece
            else:
                pieces.append(["", piece])
        version = None
        if pieces and pieces[-1][0] == "v":
            version = pieces.pop()[1]
        return cls(tuple((key, value) for key, value in pieces), version)

    def format(self) -> str:
        printed = [f"{key}:{value}" if key else value for key, value in self.fields]
        return "|".join(printed if self.version is None else [*printed, f"v:{self.version}"])

    def __str__(self) -> str:
        return self.format()


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
