"""`sveval score --model`: audio in, embeddings cached under --out, the same scores as extract-then-score."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow  # models and extraction: torch at import, model runs

torch = pytest.importorskip("torch")

from click.testing import CliRunner  # noqa: E402
from models_helpers import random_model, save_checkpoint, write_audio  # noqa: E402
from sveval.cli.main import cli  # noqa: E402

from sveval.io.score_folder import read_run_record  # noqa: E402
from sveval.record import CohortSet  # noqa: E402

SECONDS = 0.4  # 38 frames: enough for the network, quick on a CPU


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A random-weight checkpoint, eval audio (3 speakers x 2) with a wav.scp and a labelled trial list,
    cohort audio (4 speakers x 2) with flat ids, a wav.scp and an utt2spk."""
    root = tmp_path_factory.mktemp("score_model")
    checkpoint = save_checkpoint(random_model(seed=1), root / "model" / "avg_model.pt")
    eval_ids = [f"id{s}/v/{u:05d}.wav" for s in range(3) for u in range(2)]
    for i, utt in enumerate(eval_ids):
        write_audio(root / "vox1" / "wav" / utt, SECONDS, seed=i)
    (root / "vox1" / "wav.scp").write_text("".join(f"{u} {root / 'vox1' / 'wav' / u}\n" for u in eval_ids))
    pairs = [(a, b) for i, a in enumerate(eval_ids) for b in eval_ids[i + 1 :]]
    (root / "mine.kaldi").write_text(
        "".join(f"{a} {b} {'target' if a[:3] == b[:3] else 'nontarget'}\n" for a, b in pairs)
    )
    cohort_ids = [f"c{s}_{u}" for s in range(4) for u in range(2)]  # no '/': speakers need utt2spk
    for i, utt in enumerate(cohort_ids):
        write_audio(root / "cohort" / "wav" / f"{utt}.wav", SECONDS, seed=20 + i)
    (root / "cohort" / "wav.scp").write_text(
        "".join(f"{u} {root / 'cohort' / 'wav' / u}.wav\n" for u in cohort_ids)
    )
    (root / "cohort" / "utt2spk").write_text("".join(f"{u} {u.split('_')[0]}\n" for u in cohort_ids))
    return root, checkpoint


def invoke(*args):
    result = CliRunner().invoke(cli, [*map(str, args)])
    return result


def model_args(root, checkpoint, out, *extra):
    return (
        "score", "--model", checkpoint, "--wav-scp", root / "vox1" / "wav.scp",
        "--cohort-wav-scp", root / "cohort" / "wav.scp", "--cohort-utt2spk", root / "cohort" / "utt2spk",
        "--trials", root / "mine.kaldi", "--top-n", 3, "--out", out,
        "--device", "cpu", "--num-workers", 0, "--quiet", *extra,
    )  # fmt: skip


@pytest.fixture(scope="module")
def model_run(data):
    root, checkpoint = data
    out = root / "scored"
    result = invoke(*model_args(root, checkpoint, out))
    assert result.exit_code == 0, result.output
    return out, result


def score_files(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.name.endswith(("score", "_result"))}


def test_model_run_equals_extract_then_score_with_embeddings(data, model_run):
    root, checkpoint = data
    out, result = model_run
    emb = root / "extracted"
    for name in ("vox1", "cohort"):
        extracted = invoke(
            "extract", "--model", checkpoint, "--wav-scp", root / name / "wav.scp", "--out", emb / name,
            "--device", "cpu", "--num-workers", 0, "--quiet",
        )  # fmt: skip
        assert extracted.exit_code == 0, extracted.output
    scored = invoke(
        "score", "--embeddings", emb / "vox1", "--cohort", emb / "cohort",
        "--cohort-utt2spk", root / "cohort" / "utt2spk", "--trials", root / "mine.kaldi",
        "--top-n", 3, "--out", root / "from_embeddings", "--quiet",
    )  # fmt: skip
    assert scored.exit_code == 0, scored.output
    expected = score_files(root / "from_embeddings")
    assert set(expected) == {
        "mine.kaldi.score",
        "cohort_snorm_mine.kaldi.score",
        "cohort_asnorm3_mine.kaldi.score",
        "vox1_cos_result",
        "vox1_snorm3_result",
        "vox1_asnorm3_result",
    }
    assert score_files(out) == expected  # byte for byte
    assert (out / "embeddings" / "vox1" / "xvector.scp").is_file()
    assert (out / "embeddings" / "cohort" / "xvector.scp").is_file()
    assert "6 extracted" in result.stderr and "8 extracted" in result.stderr

    doc = json.loads((out / "results.json").read_text())
    manifest = json.loads((emb / "vox1" / "xvector.json").read_text())
    model = doc["model"]
    assert model["weights_sha256"] == manifest["weights_sha256"] and len(model["weights_sha256"]) == 64
    assert model["arch"] == "Gemini_DF_ResNet60" and model["precision"] == "fp32"
    assert model["path"] == str(checkpoint)
    assert model["embeddings"]["eval"]["utterances"] == 6 and model["embeddings"]["cohort"]["extracted"] == 8
    assert doc["cohort"] == {"name": "cohort", "utterances": 8, "speakers": 4}
    assert read_run_record(root / "from_embeddings").model is None


def test_second_run_reuses_the_cache_and_a_cohort_is_exactly_the_list_given(data, model_run):
    root, checkpoint = data
    out, _ = model_run
    arks = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in (out / "embeddings").rglob("*.ark*")}
    before = score_files(out)
    again = invoke(*model_args(root, checkpoint, out))
    assert again.exit_code == 0, again.output
    assert "6 embeddings reused from the cache, 0 extracted" in again.stderr
    assert "8 embeddings reused from the cache, 0 extracted" in again.stderr
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in arks} == arks  # nothing appended
    assert score_files(out) == before

    # A smaller cohort list in the same cache: the cohort is those 6 utterances, not the 8 cached ones.
    lines = (root / "cohort" / "wav.scp").read_text().splitlines()[:6]
    (root / "small.scp").write_text("\n".join(lines) + "\n")
    small = invoke(
        *model_args(root, checkpoint, out), "--cohort-wav-scp", root / "small.scp", "--cohort-name", "cohort"
    )
    assert small.exit_code == 0, small.output
    assert "6 embeddings reused from the cache, 0 extracted" in small.stderr.splitlines()[1]
    assert read_run_record(out).cohort == CohortSet("cohort", 6, 3)


def test_wav_dirs_speakers_from_ids_and_a_copied_cache(data, model_run, tmp_path):
    root, checkpoint = data
    out, _ = model_run
    # The eval cache, copied twice: as the eval set and as a cohort of the same audio (ids spk/v/x.wav).
    for name in ("vox1", "self"):
        shutil.copytree(out / "embeddings" / "vox1", tmp_path / "embeddings" / name)
    result = invoke(
        "score", "--model", checkpoint, "--wav-dir", root / "vox1" / "wav", "--eval-name", "vox1",
        "--cohort-wav-dir", root / "vox1" / "wav", "--cohort-name", "self", "--trials", root / "mine.kaldi",
        "--top-n", 2, "--out", tmp_path, "--device", "cpu", "--num-workers", 0, "--quiet",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stderr.count("6 embeddings reused from the cache, 0 extracted") == 2
    names = {p.name for p in tmp_path.iterdir()}
    assert {"self_snorm_mine.kaldi.score", "self_asnorm2_mine.kaldi.score", "vox1_asnorm2_result"} <= names
    assert read_run_record(tmp_path).cohort == CohortSet("self", 6, 3)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "M", "--embeddings", "E", "--wav-scp", "W"], "--embeddings takes embeddings"),
        (["--model", "M", "--exp-dir", "X", "--wav-scp", "W"], "--exp-dir takes embeddings"),
        (["--model", "M", "--cohort", "C", "--wav-scp", "W"], "--cohort takes embeddings"),
        (["--embeddings", "E", "--cohort-wav-scp", "C"], "--cohort-wav-scp only makes sense with --model"),
        (["--embeddings", "E", "--arch", "dfresnet60"], "--arch only makes sense with --model"),
        (["--embeddings", "E", "--wav-dir", "D", "--skip-bad"], "--wav-dir, --skip-bad only make sense"),
        (["--model", "M"], "exactly one of --wav-scp and --wav-dir"),
        (["--model", "M", "--wav-scp", "W", "--wav-dir", "D"], "exactly one of --wav-scp and --wav-dir"),
        (["--embeddings", "E", "--cohort-utt2spk", "U"], "--cohort-utt2spk needs --cohort"),
    ],
)
def test_options_that_do_not_go_together_are_usage_errors(tmp_path, args, message):
    result = invoke("score", *args, "--trials", "t", "--out", tmp_path / "o")
    assert result.exit_code == 2 and message in result.output, result.output


def test_problems_found_before_extraction(data, tmp_path):
    root, checkpoint = data
    base = ("score", "--model", checkpoint, "--wav-scp", root / "vox1" / "wav.scp", "--out", tmp_path)
    flat = invoke(*base, "--cohort-wav-scp", root / "cohort" / "wav.scp", "--trials", root / "mine.kaldi")
    assert flat.exit_code == 2 and "give a utt2spk file (--cohort-utt2spk)" in flat.output
    (tmp_path / "other.kaldi").write_text("id0/v/00000.wav nobody/x/1.wav target\n")
    missing = invoke(*base, "--trials", tmp_path / "other.kaldi")
    assert (
        missing.exit_code == 2 and "nobody/x/1.wav" in missing.output and "--allow-missing" in missing.output
    )
    assert not (tmp_path / "embeddings").exists()  # nothing extracted


def test_a_cache_of_another_model_is_refused(data, model_run):
    root, _ = data
    out, _ = model_run
    other = save_checkpoint(random_model(seed=2), root / "other" / "avg_model.pt")
    result = invoke(*model_args(root, other, out))
    assert result.exit_code == 2 and "another model" in result.output and "weights_sha256" in result.output


def test_scoring_embeddings_does_not_import_torch(data, model_run):
    out, _ = model_run
    root, _ = data
    args = ["score", "--embeddings", str(out / "embeddings" / "vox1"), "--trials", str(root / "mine.kaldi")]
    args += ["--out", str(root / "no_torch"), "--quiet"]
    code = "import sys; from click.testing import CliRunner; from sveval.cli.main import cli; "
    code += f"r = CliRunner().invoke(cli, {args!r}); assert r.exit_code == 0, r.output; "
    code += "print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
