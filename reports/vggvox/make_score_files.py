"""Turn the VGG GhostVLAD score arrays into WeSpeaker-style score folders (the documented step before
`sveval report`; the data themselves are not committed).

    python reports/vggvox/make_score_files.py SCORES_DIR TRIALS OUT_DIR

SCORES_DIR holds `scores__<system>.npy` (float32, one score per trial of TRIALS in file order) and
`groundtruth_labels.npy`; TRIALS is veri_test.txt (the original Vox1-O list, 37,720 trials). For each system
this writes OUT_DIR/<short name>/vox1_O.kaldi.score (`enroll test score target|nontarget`, scores as %.5f,
trial-list order, as WeSpeaker writes them) and OUT_DIR/<short name>/vox1_cos_result (EER and minDCF of
that score file with WeSpeaker's definitions, the block `sveval metrics` prints). The labels array must equal
the list's labels, or nothing is written.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np

from sveval.io.catalog import identify
from sveval.io.results import write_result_file
from sveval.io.scores import read_score_file, write_score_file
from sveval.io.trials import read_trials
from sveval.metrics import detection as metrics
from sveval.types import ResultBlock

NAME = re.compile(
    r"scores__gvlad_(?P<loss>\w+?)__(?P<date>[\d-]+)_resnet34_bs\d+_(?P<opt>[a-z]+)_lr(?P<lr>[\d.]+)"
    r"_vlad(?P<vlad>\d+)_ghost\d+_bdim(?P<bdim>\d+)(?:_ohemlevel(?P<ohem>\d+))?\.npy$"
)


def short_name(npy: Path) -> str:
    """`scores__gvlad_softmax__2019-01-04_resnet34_..._vlad12_ghost2_bdim256.npy` -> a readable id."""
    m = NAME.match(npy.name)
    if not m:
        raise SystemExit(f"{npy}: unexpected file name")
    ohem = f"-ohem{m['ohem']}" if m["ohem"] else ""
    return f"{m['loss']}-{m['date']}-{m['opt']}-lr{m['lr']}-vlad{m['vlad']}-bdim{m['bdim']}{ohem}"


def main(scores_dir: str, trials_path: str, out_dir: str) -> None:
    trials = read_trials(trials_path)
    labels = np.load(Path(scores_dir) / "groundtruth_labels.npy")
    if labels.astype(bool).tolist() != trials.is_target.tolist():
        raise SystemExit("groundtruth_labels.npy does not equal the labels of the trial list")
    name = identify(trials) or Path(trials_path).name
    for npy in sorted(Path(scores_dir).glob("scores__*.npy")):
        values = np.load(npy).astype(np.float64)
        if values.shape != (len(trials),):
            raise SystemExit(f"{npy}: {values.shape} scores for {len(trials)} trials")
        folder = Path(out_dir) / short_name(npy)
        score_path = folder / f"{name}.kaldi.score"
        write_score_file(score_path, trials.enroll, trials.test, values, trials.is_target)
        written = read_score_file(score_path)  # metrics of the file as written (%.5f), as WeSpeaker does
        m = metrics.evaluate(written.values, written.labels)
        write_result_file(folder / "vox1_cos_result", [ResultBlock(score_path.name, 100 * m.eer, m.min_dcf)])
        print(folder)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    main(*sys.argv[1:])
