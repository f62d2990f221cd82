"""WeSpeaker result files: one three-line block per score file.

    ---- vox2_dev_asnorm300_vox1_O_cleaned.kaldi.score -----
    EER = 0.941
    minDCF (p_target:0.01 c_miss:1 c_fa:1) = 0.089

The text is what WeSpeaker's compute_metrics.py prints, byte for byte (EER in percent, both to 3 decimals).
"""

from __future__ import annotations

import os
import re

from sveval.errors import InputError, quoted
from sveval.io.atomic import write_text
from sveval.io.fields import read_source_text, text_lines
from sveval.types import ResultBlock

_HEADER = re.compile(r"^---- (\S+) -----$")
_EER = re.compile(r"^EER = (-?\d+(?:\.\d+)?)$")
_DCF = re.compile(r"^minDCF \(p_target:(\S+) c_miss:(\S+) c_fa:(\S+)\) = (-?\d+(?:\.\d+)?)$")


def format_param(x: float) -> str:
    """How Python's `str.format('{}')` shows WeSpeaker's defaults: 1 for the int 1, 0.01 for 0.01; an
    absurd value in `%g` form (1e+308, never 309 digits), or its repr where `%g` would lose digits."""
    x = float(x)
    if x.is_integer() and abs(x) < 1e6:
        return str(int(x))
    short = f"{x:g}"
    return short if float(short) == x else repr(x)


def format_metric(x: float) -> str:
    """A printed metric to 3 decimals (`%.3f`, as WeSpeaker prints), or `%.3e` beyond 1e9 so that the
    Cllr of an absurd file stays one readable number."""
    return f"{x:.3f}" if not abs(x) >= 1e9 else f"{x:.3e}"


def format_block(block: ResultBlock) -> str:
    return (
        f"---- {block.score_file} -----\n"
        f"EER = {block.eer_percent:.3f}\n"
        f"minDCF (p_target:{format_param(block.p_target)} c_miss:{format_param(block.c_miss)} "
        f"c_fa:{format_param(block.c_fa)}) = {block.min_dcf:.3f}\n"
    )


def format_result_file(blocks: list[ResultBlock]) -> str:
    return "".join(format_block(b) for b in blocks)


def write_result_file(path: str | os.PathLike, blocks: list[ResultBlock]) -> None:
    """Rewrite (never append) a result file atomically."""
    write_text(path, format_result_file(blocks))


def numbered_lines(text: str, source: str) -> list[tuple[int, str]]:
    """(line number, text without trailing blanks) of each line that is not blank."""
    return [(i + 1, line.rstrip()) for i, line in enumerate(text_lines(text, source)) if line.strip()]


def parse_result_file(text: str, source: str) -> list[ResultBlock]:
    """Parse blocks; the printed (rounded) numbers are returned as floats. Blank lines are allowed."""
    lines = numbered_lines(text, source)
    if not lines:
        raise InputError("empty result file", source)
    blocks = []
    for k in range(0, len(lines), 3):
        blocks.append(parse_block_lines(lines[k : k + 3], source))
    return blocks


def parse_block_lines(group: list[tuple[int, str]], source: str) -> ResultBlock:
    """One block from its (line number, text) lines: header, `EER = ...`, `minDCF (...) = ...`."""
    header = _HEADER.match(group[0][1])
    if not header:
        found = quoted(group[0][1])
        raise InputError(f"expected `---- <score file> -----`, found {found}", source, group[0][0])
    if len(group) < 3:
        raise InputError(f"block for {header.group(1)} is cut short", source, group[-1][0])
    eer = _EER.match(group[1][1])
    if not eer:
        raise InputError(f"expected `EER = <percent>`, found {quoted(group[1][1])}", source, group[1][0])
    dcf = _DCF.match(group[2][1])
    if not dcf:
        raise InputError(
            f"expected `minDCF (p_target:P c_miss:C c_fa:C) = <value>`, found {quoted(group[2][1])}",
            source,
            group[2][0],
        )
    try:
        p_target, c_miss, c_fa = (float(dcf.group(j)) for j in (1, 2, 3))
    except ValueError:
        raise InputError(f"unreadable DCF parameters in {quoted(group[2][1])}", source, group[2][0]) from None
    problem = operating_point_problem(p_target, c_miss, c_fa)
    if problem:
        raise InputError(f"no operating point in {quoted(group[2][1])}: {problem}", source, group[2][0])
    return ResultBlock(header.group(1), float(eer.group(1)), float(dcf.group(4)), p_target, c_miss, c_fa)


def operating_point_problem(p_target: float, c_miss: float, c_fa: float) -> str:
    """Why (p_target, c_miss, c_fa) is no DCF operating point, '' when it is one. The normalised DCF divides
    by min(c_miss * p_target, c_fa * (1 - p_target)): 0 < p_target < 1 and finite positive costs keep it a
    number (the comparisons are written so that nan fails them)."""
    if not 0 < p_target < 1:
        return f"p_target must lie strictly between 0 and 1, got {format_param(p_target)}"
    for name, cost in (("c_miss", c_miss), ("c_fa", c_fa)):
        if not 0 < cost < float("inf"):
            return f"{name} must be a finite positive number, got {format_param(cost)}"
    return ""


def read_result_file(path: str | os.PathLike) -> list[ResultBlock]:
    return parse_result_file(read_source_text(path, "result file"), str(path))
