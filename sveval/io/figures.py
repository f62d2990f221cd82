"""Saving figures: PNG, SVG or PDF chosen by the file extension, written atomically.

Volatile metadata (creation date, software version) is left out and SVG element ids are salted with a fixed
string, so that the same drawing saved twice with the same matplotlib gives the same bytes.
"""

from __future__ import annotations

import os
from pathlib import Path

from sveval.errors import InputError
from sveval.io.atomic import atomic_path

FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}
# Every image says it is sveval's (no version: the bytes stay the same across versions), so that an image
# is only ever redrawn over one sveval drew (`sveval report --plots`, `det`, `ape`): the PNG's Software
# text chunk and the SVG's creator in its first 4 kB, the PDF's Creator in its Info dictionary, which
# matplotlib writes after the pages (`SIGNATURES`: the bytes each holds, and whether at its end).
_STABLE_METADATA = {
    "png": {"Software": "sveval"},
    "svg": {"Date": None, "Creator": "sveval"},
    "pdf": {"CreationDate": None, "Creator": "sveval", "Producer": None},
}
PNG_SIGNATURE = b"Software\x00sveval"
SIGNATURES = {
    "png": (PNG_SIGNATURE, False),
    "svg": (b"<dc:title>sveval</dc:title>", False),
    "pdf": (b"/Creator (sveval)", True),
}


def figure_format(path: str | os.PathLike) -> str:
    """'png', 'svg' or 'pdf' from the extension; anything else is an InputError."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise InputError(
            f"cannot tell the image format from {suffix or 'no extension'!r}; use .png, .svg or .pdf",
            str(path),
        )
    return FORMATS[suffix]


def save_figure(figure, path: str | os.PathLike, dpi: int = 150) -> Path:
    """Save a matplotlib Figure to `path` (format by extension) atomically; returns the path."""
    import matplotlib

    fmt = figure_format(path)
    with matplotlib.rc_context({"svg.hashsalt": "sveval"}), atomic_path(path) as tmp:
        # a tight box: titles and legends below the axes are never cut off, whatever the layout did
        figure.savefig(tmp, format=fmt, dpi=dpi, metadata=_STABLE_METADATA[fmt], bbox_inches="tight")
    return Path(path)


def write_det_plot(curves, path: str | os.PathLike, title: str | None = None) -> Path:
    """Draw `curves` (sveval.reporting.det.DetPlotCurve) on one DET plot and save it atomically to `path`."""
    from sveval.reporting.det import DetDisplay

    figure_format(path)  # refuse a bad extension before drawing
    display = DetDisplay(curves).plot(title=title)
    return save_figure(display.figure_, path)


def write_ape_plot(curves, path: str | os.PathLike, title: str | None = None) -> Path:
    """Draw `curves` (sveval.reporting.ape.ApeCurve) on one Bayes error-rate plot and save it atomically."""
    from sveval.reporting.ape import ApeDisplay

    figure_format(path)
    display = ApeDisplay(curves).plot(title=title)
    return save_figure(display.figure_, path)
