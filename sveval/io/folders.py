"""Reading score folders for reports and plots: sveval's own output folders and released ones.

A folder is searched non-recursively, and so is its `scores/` subfolder (release folders keep their score
and result files there). What is found:
  score files    `<list>.kaldi.score`, `<cohort>_snorm_<list>.kaldi.score`, `<cohort>_asnorm<N>_<list>...`
  result files   `<eval>_cos_result`, `<eval>_snorm<N>_result`, `<eval>_asnorm<N>_result`
  results.json   written by `sveval score`; absent from released folders
  DET images     `*.det.png` (also .svg, .pdf)
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sveval.errors import InputError
from sveval.io.atomic import read_text
from sveval.io.output_folder import current_files
from sveval.io.release import parse_result_name, score_files_of
from sveval.io.results import read_result_file
from sveval.io.scores import read_score_file, require_finite
from sveval.pair_join import labels_from_list
from sveval.types import ResultBlock, TrialList

IMAGE_SUFFIXES = (".det.png", ".det.svg", ".det.pdf")


@dataclass(frozen=True)
class FolderContents:
    """Files found in a score folder, each list sorted by name."""

    root: Path
    score_files: tuple[Path, ...]
    result_files: tuple[Path, ...]
    images: tuple[Path, ...]
    results_json: Path | None
    notes: tuple[str, ...] = ()  # files left out: not of the run that the folder's records describe
    results_document: dict | None = None  # results.json as parsed while scanning, when it is sveval's record


def scan_folder(path: str | os.PathLike) -> FolderContents:
    """List what a score folder (or a release folder with `scores/`) holds; an InputError if nothing."""
    root = Path(path)
    if not root.is_dir():
        raise InputError("not a folder" if root.exists() else "folder not found", str(root))
    folders = [root] + ([root / "scores"] if (root / "scores").is_dir() else [])
    files = sorted((p for folder in folders for p in folder.iterdir() if p.is_file()), key=lambda p: p.name)
    current = current_files(root)
    notes: list[str] = []
    if current is not None:  # sveval's own folder: only what its records list, as they wrote it
        shown = [n for n in current.changed if _shown_kind(n)]  # (report.md is rewritten by `report`)
        notes = [f"`{n}` has changed since sveval wrote it: not used" for n in shown]
        notes += [
            f"the outputs recorded in `{record}` were made from an earlier `{source}`: not used (rerun it)"
            for record, source in current.stale
        ]
        left_out = [p.name for p in files if p.parent == root and p.name not in current.names]
        files = [p for p in files if p.parent != root or p.name in current.names]
        unknown = [n for n in left_out if _shown_kind(n)]
        unknown = [n for n in unknown if n not in current.changed and n not in current.stale_files]
        if unknown:
            notes.append(
                f"not of the run recorded here (left out): {', '.join(f'`{n}`' for n in unknown[:5])}"
                + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
            )
    scores = tuple(score_files_of(files, root))
    # WeSpeaker result files; a calibrated output's `cali_*.result` has LLR lines too, its numbers come
    # from the score file (sveval.reporting.systems)
    results = tuple(p for p in files if (r := parse_result_name(p.name)) and r.score_file is None)
    images = tuple(p for p in files if p.name.endswith(IMAGE_SUFFIXES))
    json_path = next((p for p in files if p.name == "results.json"), None)
    if not scores and not results and json_path is None:
        raise InputError(
            "no score files (*.score), result files (*_cos_result, *_asnorm300_result, ...) or results.json "
            "here or in scores/",
            str(root),
        )
    document = current.documents.get("results.json") if current is not None else None
    return FolderContents(root, scores, results, images, json_path, tuple(notes), document)


def _shown_kind(name: str) -> bool:
    """Whether a file of this name is one a report shows: a score, result or DET image file."""
    return name.endswith((".score", "_result", *IMAGE_SUFFIXES)) or parse_result_name(name) is not None


def read_results(contents: FolderContents) -> dict[str, list[ResultBlock]]:
    """Result file name -> its blocks."""
    return {p.name: read_result_file(p) for p in contents.result_files}


def read_json_object(path: str | os.PathLike) -> dict:
    """A file holding one JSON object, as every JSON file sveval writes does (results.json, calibration
    models): not valid JSON, JSON nested deeper than Python's parser recurses (e.g. 100000 nested lists) or
    another top-level value is an InputError naming the file."""
    text = read_text(path, "results.json")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON: {exc.msg}", str(path), exc.lineno) from exc
    except RecursionError:
        raise InputError("not valid JSON: nested deeper than the parser allows", str(path)) from None
    if not isinstance(data, dict):
        raise InputError("expected a JSON object at the top level", str(path))
    return data


def read_labelled_scores(
    path: str | os.PathLike, trials: TrialList | None = None, keep_pairs: bool = False
) -> tuple[np.ndarray, np.ndarray] | tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Scores and target labels of a score file, in file order.

    With `trials`, the file must cover the list exactly (see `labels_from_list`) and labels come from the list
    (so 3-column files work); without it the file must have a label column. `keep_pairs` also returns the
    enroll and test ids. Raises InputError (naming the file) for non-finite scores, missing labels, a
    file that does not cover the list, or labels of only one class.
    """
    scores = read_score_file(path, ids="strings" if keep_pairs else "codes" if trials is not None else "none")
    require_finite(scores)
    is_target = scores.labels
    if trials is not None:
        is_target = labels_from_list(scores, trials)
    elif is_target is None:
        raise InputError("3-column score file has no labels; pass --trials NAME|PATH", str(path))
    n_target = int(np.count_nonzero(is_target))
    if n_target in (0, len(is_target)):
        missing = "target" if n_target == 0 else "nontarget"
        raise InputError(
            f"no {missing} trials among its {len(is_target):,} trial(s); EER and minDCF need both target "
            "and nontarget trials",
            str(path),
        )
    if keep_pairs:
        return scores.values, is_target, scores.enroll, scores.test
    return scores.values, is_target
