"""A scoring run's output folder, laid out like the `scores/` folders that accompany released models.

    <list basename>.score                        cosine, 4 columns
    <cohort>_snorm_<list basename>.score         s-norm, 8 columns
    <cohort>_asnorm<N>_<list basename>.score     AS-norm, 8 columns
                                                 (unlabelled lists: `enroll test score`, 3 columns)
    <eval>_cos_result, <eval>_snorm<N>_result, <eval>_asnorm<N>_result
                                                 WeSpeaker result blocks, one per labelled list, rewritten
    results.json                                 everything above plus definitions and provenance

Every file is written atomically. Later stages (DET plots, report.md) add files to the same folder with
`det_plot_name`, and record them with `add_artifacts`, which rewrites results.json under "artifacts".
"""

from __future__ import annotations

import json
import math
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sveval import __version__
from sveval.clock import now_utc
from sveval.errors import InputError
from sveval.io.atomic import atomic_path, read_text, write_text
from sveval.io.results import write_result_file
from sveval.io.score_text import coded_score_chunks, id_byte_table
from sveval.types import ResultBlock

RESULTS_JSON = "results.json"
SCHEMA = "sveval.score/1"


def score_file_name(method: str, list_basename: str, cohort_name: str | None, top_n: int) -> str:
    """WeSpeaker's names: `vox1_O_cleaned.kaldi.score`, `vox2_dev_asnorm300_vox1_O_cleaned.kaldi.score`."""
    if method == "cos":
        return f"{list_basename}.score"
    if method == "snorm":
        return f"{cohort_name}_snorm_{list_basename}.score"
    if method == "asnorm":
        return f"{cohort_name}_asnorm{top_n}_{list_basename}.score"
    raise ValueError(f"unknown method {method!r}")


def result_file_name(eval_name: str, method: str, top_n: int) -> str:
    """`vox1_cos_result`, `vox1_snorm300_result` (WeSpeaker adds N to s-norm too), `vox1_asnorm300_result`."""
    return f"{eval_name}_cos_result" if method == "cos" else f"{eval_name}_{method}{top_n}_result"


def det_plot_name(score_file: str | os.PathLike) -> str:
    """`<name>.det.png` for `.../<name>.score` (e.g. vox2_dev_asnorm300_vox1_O_cleaned.kaldi.det.png)."""
    name = Path(score_file).name
    return (name[: -len(".score")] if name.endswith(".score") else name) + ".det.png"


def write_score_folder(
    run, out_dir: str | os.PathLike, command: str = "", progress: bool = False, model: dict | None = None
) -> list[Path]:
    """Write the score files, result files and results.json of a `sveval.score_run.ScoringRun`.

    `model`: provenance of the embeddings when sveval extracted them (`sveval score --model`): checkpoint,
    architecture, weights_sha256 and precision from the extraction's xvector.json; recorded under "model".
    Returns the paths written, in writing order (results.json last).
    """
    from sveval.progress import progress as progress_bar  # noqa: PLC0415

    folder = Path(out_dir)
    written: list[Path] = []
    table = id_byte_table(run.utterances)
    jobs = [(lst, res) for lst in run.lists for res in lst.methods]

    def write_one(job) -> Path:
        lst, res = job
        # unlabelled lists: 3 columns for every method (the 8-column layout has a label column)
        stats = (res.norms, res.cohort_mean) if lst.is_target is not None and res.norms is not None else None
        chunks = coded_score_chunks(
            table, lst.enroll_index, lst.test_index, res.values, lst.is_target, utterance_extra=stats
        )
        path = folder / res.score_file
        with atomic_path(path) as tmp, open(tmp, "wb") as out:
            out.writelines(chunks)  # one chunk of lines in memory at a time, whatever the list's size
        return path

    # two files at a time: numpy's gathers and byte squeezing release the GIL
    with ThreadPoolExecutor(max_workers=2) as pool:
        done = pool.map(write_one, jobs)
        written += list(
            progress_bar(
                done, total=len(jobs), desc="writing scores", unit="file", disable=not progress, leave=False
            )
        )
    for method in run.methods:
        blocks = [
            ResultBlock(
                res.score_file,
                100 * res.metrics.eer,
                res.metrics.min_dcf,
                run.options.p_target,
                run.options.c_miss,
                run.options.c_fa,
            )
            for lst in run.lists
            for res in lst.methods
            if res.method == method and res.metrics is not None
        ]
        if blocks:
            path = folder / result_file_name(run.eval_name, method, run.options.top_n)
            write_result_file(path, blocks)
            written.append(path)
    path = folder / RESULTS_JSON
    document = results_document(run, command, [p.name for p in written], model=model)
    write_text(path, json.dumps(document, indent=2) + "\n")
    written.append(path)
    return written


def results_document(run, command: str, files: list[str], model: dict | None = None) -> dict:
    """The results.json content: provenance, definitions, and per list and method the numbers.

    "model" is None when the embeddings were given, else what made them (see `write_score_folder`)."""
    opts = run.options
    lists = []
    for lst in run.lists:
        methods = {}
        for res in lst.methods:
            entry = {"score_file": res.score_file, "signature": res.signature}
            if res.metrics is not None:
                mt = res.metrics
                entry.update(
                    n_target=int(mt.n_target),
                    n_nontarget=int(mt.n_nontarget),
                    eer=100 * float(mt.eer),
                    eer_threshold=float(mt.eer_threshold),
                    min_dcf=float(mt.min_dcf),
                    # -inf: the minimum is "accept every trial" (JSON has no infinity)
                    min_dcf_threshold=float(mt.min_dcf_threshold)
                    if math.isfinite(mt.min_dcf_threshold)
                    else None,
                    warnings=list(res.warnings),
                )
            else:
                entry["metrics"] = "skipped: the list has no target/nontarget labels (or only one class)"
            methods[res.method] = entry
        lists.append(
            {
                # by content: the built-in name its fingerprint proves, else the file's stem, marked custom
                "name": lst.trials.identity,
                "custom": lst.trials.custom,
                "builtin": lst.trials.builtin,
                "source": lst.trials.source,
                "fingerprint": lst.trials.fingerprint,
                "n_trials": len(lst.trials),
                "n_scored": int(lst.kept.sum()),
                "n_dropped": lst.n_dropped,
                "missing_utterances": list(lst.missing_ids[:20]),
                "n_missing_utterances": len(lst.missing_ids),
                "labelled": lst.trials.labelled,
                "methods": methods,
            }
        )
    return {
        "schema": SCHEMA,
        "sveval_version": __version__,
        "command": command,
        "date": now_utc().strftime("%Y-%m-%dT%H:%M:%SZ"),  # honours SOURCE_DATE_EPOCH
        "eval": {
            "name": run.eval_name,
            "utterances": run.n_eval,
            "scored_utterances": run.n_scored_utterances,
        },
        "cohort": None
        if run.cohort_name is None
        else {
            "name": run.cohort_name,
            "utterances": run.n_cohort_utterances,
            "speakers": run.n_cohort_speakers,
        },
        "model": model,
        "dim": run.dim,
        "methods": list(run.methods),
        "top_n": opts.top_n,
        "mean": run.mean,
        "compat": opts.compat,
        "precision": run.precision,
        "definitions": {
            "eer": "percent, NIST SRE / WeSpeaker interpolation, from the scores as printed in the score "
            "file (5 decimals); one threshold per distinct score, independent of line order (exact), or tied "
            "scores in numpy argsort order as WeSpeaker (wespeaker); see the signature's sweep",
            "min_dcf": f"normalised, p_target {opts.p_target} c_miss {opts.c_miss} c_fa {opts.c_fa}",
            "normalised_score": "0.5*((s-mu_e)/sigma_e + (s-mu_t)/sigma_t), population std",
        },
        "allow_missing": opts.allow_missing,
        "lists": lists,
        "notes": list(run.notes),
        "files": files,
        "artifacts": {},
    }


def read_results_json(out_dir: str | os.PathLike) -> dict:
    path = Path(out_dir) / RESULTS_JSON
    try:
        doc = json.loads(read_text(path, "results.json"))
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON ({exc.msg})", str(path), exc.lineno) from exc
    if doc.get("schema") != SCHEMA:
        raise InputError(f"not an sveval score folder record (schema {doc.get('schema')!r})", str(path))
    return doc


def add_artifacts(out_dir: str | os.PathLike, kind: str, files: dict[str, str]) -> None:
    """Record files another stage wrote into the folder, e.g. add_artifacts(d, "det_plots",
    {score_file: det_plot_name(score_file)}); results.json is rewritten atomically."""
    doc = read_results_json(out_dir)
    doc.setdefault("artifacts", {}).setdefault(kind, {}).update(files)
    write_text(Path(out_dir) / RESULTS_JSON, json.dumps(doc, indent=2) + "\n")
