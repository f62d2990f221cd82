"""Files of `sveval calibrate` and `sveval fuse`: the model (JSON), calibrated score files, result files.

<out>/cali_<input name>            calibrated scores, the input's columns with the LLR in place of the score
                                   (with --compat wespeaker: WeSpeaker's `enroll test <repr(llr)> label`)
<out>/cali_<input stem>.result     WeSpeaker's EER/minDCF block, then actDCF, Cllr/minCllr and the signature
<out>/calibration_model.json       the model (`CalibrationModel.to_dict`), loadable with --model
<out>/calibration.json             per file: metrics before and after, signature
"""

from __future__ import annotations

import json
import os

import numpy as np

from sveval.io.atomic import atomic_path, write_text
from sveval.io.results import format_block, format_metric, format_param
from sveval.io.scores import format_score_bytes
from sveval.types import ResultBlock, ScoreFile

MODEL_FILE = "calibration_model.json"
SUMMARY_FILE = "calibration.json"
PREFIX = "cali_"
KALDI_LABELS = ("nontarget", "target")


def calibrated_name(score_path: str, prefix: str = PREFIX) -> str:
    return prefix + os.path.basename(score_path)


def result_name(score_name: str) -> str:
    return score_name.removesuffix(".score") + ".result"


def write_json(path: str | os.PathLike, data) -> None:
    write_text(path, json.dumps(data, indent=2) + "\n")


def write_calibrated_scores(
    path: str | os.PathLike, scores: ScoreFile, llrs: np.ndarray, wespeaker: bool
) -> None:
    """The input's columns with `llrs` as the score (`%.5f`), or WeSpeaker's infer_calibration lines
    `enroll test <str(float)> label` when `wespeaker` (Python's shortest repr, as its '{}'.format writes)."""
    if not wespeaker:
        with atomic_path(path) as tmp, open(tmp, "wb") as out:
            out.write(format_score_bytes(scores.enroll, scores.test, llrs, scores.labels, scores.extra))
        return
    labels = np.asarray(KALDI_LABELS, dtype=object)[scores.labels.astype(np.intp)]
    lines = [
        f"{e} {t} {v} {lab}\n" for e, t, v, lab in zip(scores.enroll, scores.test, llrs.tolist(), labels)
    ]
    write_text(path, "".join(lines))


def act_dcf_line(p_target: float, c_miss: float, c_fa: float, value: float) -> str:
    params = " ".join(
        f"{k}:{format_param(v)}" for k, v in (("p_target", p_target), ("c_miss", c_miss), ("c_fa", c_fa))
    )
    return f"actDCF ({params}) = {format_metric(value)}"


def cllr_line(cllr: float, min_cllr: float) -> str:
    return f"Cllr = {format_metric(cllr)} bits, minCllr = {format_metric(min_cllr)} bits"


def format_llr_result(name: str, metrics: dict, signature: str) -> str:
    """WeSpeaker's block per operating point (EER, minDCF) + actDCF, then Cllr/minCllr and the signature."""
    out = []
    for dcf in metrics["dcf"]:
        block = ResultBlock(name, metrics["eer"], dcf["min_dcf"], dcf["p_target"], dcf["c_miss"], dcf["c_fa"])
        out.append(format_block(block))
        out.append(act_dcf_line(dcf["p_target"], dcf["c_miss"], dcf["c_fa"], dcf["act_dcf"]) + "\n")
    out.append(cllr_line(metrics["cllr"], metrics["min_cllr"]) + "\n")
    out.append(f"signature: {signature}\n")
    return "".join(out)


def write_llr_result(path: str | os.PathLike, name: str, metrics: dict, signature: str) -> None:
    write_text(path, format_llr_result(name, metrics, signature))
