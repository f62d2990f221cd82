"""sveval.io.table.fast_columns: the same columns as the line-by-line split, or None when in doubt."""

import re

import numpy as np
import pytest

from sveval.errors import InputError
from sveval.io.table import column, fast_columns, split_rows


def strict(text):
    rows = split_rows(text, "t", "table")
    return [column(rows, k) for k in range(len(rows[0]))]


@pytest.mark.parametrize(
    "text",
    [
        "a b 0.5 target\nc d -1e-3 nontarget\n",
        "a b c\n  d e f\n",  # leading blanks
        "a b c  \nd\te    f\n\n\n",  # trailing blanks, tabs, runs of spaces, trailing blank lines
        "a b c\nd e f",  # no final newline
        '"a b" c\nd e f\n',  # quotes are ordinary characters
        "#a b c\nnan NA null\n",  # neither comments nor missing-value words
    ],
)
def test_same_columns_as_python_split(text):
    fast = fast_columns(text)
    assert fast is not None
    assert [c.tolist() for c in fast] == [c.tolist() for c in strict(text)]


@pytest.mark.parametrize(
    "text",
    [
        "a b c\nd e\n",  # fewer fields
        "a b c\nd e f g\n",  # more fields
        "a b c\n\nd e f\n",  # blank line inside
        "a b c\n   \nd e f\n",  # whitespace-only line inside
        "a b c\r\nd e f\r\n",  # CR: splitlines() and pandas disagree on it, leave it to the strict path
        "a b\x0cc\nd e f\n",  # form feed splits fields for str.split() only
        "é b c\nd e f\n",  # non-ASCII: str.split() knows more whitespace than the tokenizer
        "",
        "\n\n",
    ],
)
def test_anything_unusual_goes_line_by_line(text):
    assert fast_columns(text) is None


def test_large_random_table_matches():
    rng = np.random.default_rng(0)
    seps = np.array([" ", "  ", "\t"])
    lines = []
    for i in range(5000):
        fields = [f"id{rng.integers(1e6)}/x.wav", f"id{i}", f"{rng.normal():.5f}", "target"]
        lines.append("".join(f + seps[rng.integers(3)] for f in fields[:-1]) + fields[-1])
    text = "\n".join(lines) + "\n"
    assert [c.tolist() for c in fast_columns(text)] == [c.tolist() for c in strict(text)]


@pytest.mark.parametrize(
    "text, line, char",
    [
        ("a b c\nd e f\ng\x0ch i\nj k l\n", 3, "U+000C"),  # str.splitlines() would call it line 4
        ("a b c\r\r\nd e f\n", 1, "U+000D"),
        ("a b c\nd\u2028x e f\n", 2, "U+2028"),  # str.split() would find 4 fields
        ("a b c\nd e\x85 f\n", 2, "U+0085"),
    ],
)
def test_lines_end_at_newline_only_and_other_breaks_are_named(text, line, char):
    with pytest.raises(InputError, match=re.escape(char)) as caught:
        split_rows(text, "t", "table")
    assert caught.value.line == line


def test_a_crlf_file_reads_as_its_lf_twin():
    assert strict("a b c\r\nd e f\r\n")[2].tolist() == ["c", "f"]
