"""A scoring run's output folder, laid out like the `scores/` folders that accompany released models.

    <list basename>.score                        cosine, 4 columns
    <cohort>_snorm_<list basename>.score         s-norm, 8 columns
    <cohort>_asnorm<N>_<list basename>.score     AS-norm, 8 columns
                                                 (unlabelled lists: `enroll test score`, 3 columns)
    <eval>_cos_result, <eval>_snorm<N>_result, <eval>_asnorm<N>_result
                                                 WeSpeaker result blocks, one per labelled list, rewritten
    results.json                                 everything above plus definitions and provenance

Every file is written atomically. `write_score_folder` writes the scores and result files and returns the
run's `RunRecord`; later stages (DET plots, report.md) add files to the same folder with `det_plot_name`,
the record takes them under "artifacts" (`RunRecord.with_artifacts`), and results.json is then written
once, whole (`write_run_record`): never written early and never read back to be rewritten.

results.json is `sveval.record.RunRecord` as JSON: `write_run_record` and `read_run_record` are the one
writer and the one reader of it.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sveval.io.atomic import atomic_path, write_text
from sveval.io.folders import read_json_object
from sveval.io.results import write_result_file
from sveval.io.score_text import coded_score_chunks, id_byte_table
from sveval.record import (
    NOT_RECORDED,
    SKIPPED,
    CohortSet,
    Definitions,
    EvalSet,
    ListRecord,
    MethodMetrics,
    MethodRecord,
    RunRecord,
    run_record,
)
from sveval.signature import Signature
from sveval.types import ResultBlock

RESULTS_JSON = "results.json"


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
) -> RunRecord:
    """Write the score files and result files of a `sveval.scoring.run.ScoringRun`; results.json is the
    caller's to write (`write_run_record`), once, when the run's later files are known.

    `model`: provenance of the embeddings when sveval extracted them (`sveval score --model`): checkpoint,
    architecture, weights_sha256 and precision from the extraction's xvector.json; recorded under "model".
    Returns the run's record (its `files`: the names written here, in writing order), which later stages
    extend and write (`sveval.scoring.outputs.finish_score_folder`).
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
    return run_record(run, command, [p.name for p in written], model=model)


def write_run_record(out_dir: str | os.PathLike, record: RunRecord) -> Path:
    """results.json of `record`, atomically: the one writer of the file."""
    path = Path(out_dir) / RESULTS_JSON
    write_text(path, json.dumps(_document(record), indent=2) + "\n")
    return path


def _document(record: RunRecord) -> dict:
    """The JSON object of a record, keys in the order every sveval.score/1 record has them."""
    lists = []
    for lst in record.lists:
        methods = {}
        for m in lst.methods:
            entry = {"score_file": m.score_file, "signature": m.signature.format() if m.signature else None}
            if m.metrics is not None:
                mt = m.metrics
                entry.update(
                    n_target=mt.n_target,
                    n_nontarget=mt.n_nontarget,
                    eer=mt.eer,
                    eer_threshold=mt.eer_threshold,
                    min_dcf=mt.min_dcf,
                    min_dcf_threshold=mt.min_dcf_threshold,
                    warnings=list(mt.warnings),
                )
            else:
                entry["metrics"] = SKIPPED
            methods[m.method] = entry
        lists.append(
            {
                "name": lst.name,
                "custom": lst.custom,
                "builtin": lst.builtin,
                "source": lst.source,
                "fingerprint": lst.fingerprint,
                "n_trials": lst.n_trials,
                "n_scored": lst.n_scored,
                "n_dropped": lst.n_dropped,
                "missing_utterances": list(lst.missing_utterances),
                "n_missing_utterances": lst.n_missing_utterances,
                "labelled": lst.labelled,
                "methods": methods,
            }
        )
    ev, cohort, defs = record.eval, record.cohort, record.definitions
    doc = {
        "schema": record.schema,
        "sveval_version": record.sveval_version,
        "command": record.command,
        "date": record.date,
        "eval": None
        if ev is None
        else {"name": ev.name, "utterances": ev.utterances, "scored_utterances": ev.scored_utterances},
        "cohort": None
        if cohort is None
        else {"name": cohort.name, "utterances": cohort.utterances, "speakers": cohort.speakers},
        "model": record.model,
        "dim": record.dim,
        "methods": list(record.methods),
        "top_n": record.top_n,
        "mean": record.mean,
        "compat": record.compat,
        "precision": record.precision,
        "definitions": {
            "eer": defs.eer,
            "min_dcf": defs.min_dcf,
            "normalised_score": defs.normalised_score,
        },
        "allow_missing": record.allow_missing,
        "lists": lists,
        "notes": list(record.notes),
        "files": list(record.files),
        "artifacts": record.artifacts,
    }
    if record.written is not None:  # (added when the output folder publishes the run)
        doc["written"] = record.written
    if record.inputs_in_folder is not None:
        doc["inputs_in_folder"] = record.inputs_in_folder
    return doc


def read_run_record(path: str | os.PathLike) -> RunRecord:
    """The record in a results.json file (or in the folder `path` holding one): the one reader of it.

    Not valid JSON, or not a JSON object, is an InputError naming the file. Fields are read as far as they
    are there and of their type: a record of an earlier sveval version, or a hand-made one, gives None
    ("not recorded") for the others; the schema is read, not required (`record.schema`)."""
    path = Path(path)
    return record_from_document(read_json_object(path / RESULTS_JSON if path.is_dir() else path))


def record_from_document(doc: dict) -> RunRecord:
    """A results.json object as a `RunRecord` (see `read_run_record`): what every reader of the file uses."""
    ev, defs = _object(doc.get("eval")), _object(doc.get("definitions"))
    return RunRecord(
        schema=_text(doc.get("schema")),
        sveval_version=_text(doc.get("sveval_version")),
        command=_text(doc.get("command")),
        date=_text(doc.get("date")),
        eval=EvalSet(_text(ev.get("name")), _int(ev.get("utterances")), _int(ev.get("scored_utterances")))
        if ev
        else None,
        cohort=_cohort(doc),
        model=_mapping(doc.get("model")),
        dim=_int(doc.get("dim")),
        methods=tuple(str(m) for m in _array(doc.get("methods"))),
        top_n=_int(doc.get("top_n")),
        mean=_text(doc.get("mean")),
        compat=_text(doc.get("compat")),
        precision=_text(doc.get("precision")),
        definitions=Definitions(
            _text(defs.get("eer")), _text(defs.get("min_dcf")), _text(defs.get("normalised_score"))
        ),
        allow_missing=_flag(doc.get("allow_missing")),
        lists=tuple(_list_record(e) for e in _array(doc.get("lists")) if isinstance(e, dict)),
        notes=tuple(str(n) for n in _array(doc.get("notes"))),
        files=tuple(str(f) for f in _array(doc.get("files"))),
        artifacts={str(k): v for k, v in _object(doc.get("artifacts")).items() if isinstance(v, dict)},
        written=_mapping(doc.get("written")),
        inputs_in_folder=_mapping(doc.get("inputs_in_folder")),
    )


def _cohort(doc: dict) -> CohortSet | None:
    """None: the run had no cohort (null); NOT_RECORDED: a record without the field (not sveval's own)."""
    if "cohort" not in doc:
        return NOT_RECORDED
    cohort = doc["cohort"]
    if not isinstance(cohort, dict):
        return None
    return CohortSet(_text(cohort.get("name")), _int(cohort.get("utterances")), _int(cohort.get("speakers")))


def _list_record(entry: dict) -> ListRecord:
    methods = tuple(
        _method_record(str(name), m)
        for name, m in _object(entry.get("methods")).items()
        if isinstance(m, dict)
    )
    return ListRecord(
        name=_text(entry.get("name")),
        custom=_flag(entry.get("custom")),
        builtin=_text(entry.get("builtin")),
        source=_text(entry.get("source")),
        fingerprint=_text(entry.get("fingerprint")),
        n_trials=_int(entry.get("n_trials")),
        n_scored=_int(entry.get("n_scored")),
        n_dropped=_int(entry.get("n_dropped")),
        missing_utterances=tuple(str(u) for u in _array(entry.get("missing_utterances"))),
        n_missing_utterances=_int(entry.get("n_missing_utterances")),
        labelled=_flag(entry.get("labelled")),
        methods=methods,
    )


def _method_record(method: str, entry: dict) -> MethodRecord:
    signature = entry.get("signature")
    n_target, n_nontarget = _int(entry.get("n_target")), _int(entry.get("n_nontarget"))
    metrics = None
    if n_target is not None and n_nontarget is not None:
        metrics = MethodMetrics(
            n_target,
            n_nontarget,
            _number(entry.get("eer")),
            _number(entry.get("eer_threshold")),
            _number(entry.get("min_dcf")),
            _number(entry.get("min_dcf_threshold")),
            tuple(str(w) for w in _array(entry.get("warnings"))),
        )
    return MethodRecord(
        method,
        _text(entry.get("score_file")),
        Signature.parse(signature) if isinstance(signature, str) else None,
        metrics,
    )


def _text(value) -> str | None:
    """A scalar as the report prints it; None for what is missing or not a scalar."""
    return None if value is None or isinstance(value, (dict, list)) else str(value)


def _int(value) -> int | None:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _number(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _flag(value) -> bool | None:
    return None if value is None else bool(value)


def _object(value) -> dict:
    return value if isinstance(value, dict) else {}


def _mapping(value) -> dict | None:
    return value if isinstance(value, dict) else None


def _array(value) -> list:
    return value if isinstance(value, list) else []
