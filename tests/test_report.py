"""Reports: the table equals the result files, released folders, provenance, published rows, analyses."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import write
from sveval.cli.main import cli

from sveval.io.folders import scan_folder
from sveval.io.release import parse_score_name
from sveval.reporting.markdown import ReportInfo, render_markdown, report_dict, results_table
from sveval.reporting.published import published_table
from sveval.reporting.systems import load_system


def run(*args, env=None):
    result = CliRunner().invoke(cli, ["report", *map(str, args)], env=env)
    return result.exit_code, result.output


def score_lines(seed: int, separation: float, n_spk: int = 8, per: int = 5) -> str:
    rng = np.random.default_rng(seed)
    utts = [f"id1{s:04d}/yt{k}/0000{k}.wav" for s in range(n_spk) for k in range(per)]
    lines = []
    for i, e in enumerate(utts):
        for t in utts[i + 1 :: 3]:
            target = e.split("/")[0] == t.split("/")[0]
            lines.append(
                f"{e} {t} {rng.normal() + separation * target:.5f} {'target' if target else 'nontarget'}\n"
            )
    return "".join(lines)


def wespeaker_numbers(text: str) -> tuple[float, float]:
    """EER % and minDCF(0.01) as WeSpeaker's compute_metrics.py computes them (independent transcription)."""
    fields = [line.split() for line in text.splitlines()]
    scores = np.array([float(f[2]) for f in fields])
    labels = np.array([f[3] == "target" for f in fields], dtype=float)
    order = np.argsort(scores, kind="mergesort")
    tgt = labels[order]
    fnr = np.cumsum(tgt) / tgt.sum()
    fpr = 1 - np.cumsum(1 - tgt) / (1 - tgt).sum()
    x1 = np.flatnonzero(fnr - fpr >= 0)[0]
    x2 = np.flatnonzero(fnr - fpr < 0)[-1]
    a = (fnr[x1] - fpr[x1]) / (fpr[x2] - fpr[x1] - (fnr[x2] - fnr[x1]))
    return 100 * (fnr[x1] + a * (fnr[x2] - fnr[x1])), np.min(0.01 * fnr + 0.99 * fpr) / 0.01


@pytest.fixture
def release(tmp_path):
    """A release-like folder: scores/ with two score files, result files for one method, a DET png."""
    root = tmp_path / "Gemini_df_resnet56"
    cos = write(root / "scores" / "vox1_O_cleaned.kaldi.score", score_lines(0, 2.0))
    write(root / "scores" / "vox2_dev_asnorm300_vox1_O_cleaned.kaldi.score", score_lines(1, 3.0))
    # the result file's numbers are what the table must show, even where they are not recomputed
    write(
        root / "scores" / "vox1_asnorm300_result",
        "---- vox2_dev_asnorm300_vox1_O_cleaned.kaldi.score -----\nEER = 0.941\n"
        "minDCF (p_target:0.01 c_miss:1 c_fa:1) = 0.089\n"
        "---- vox2_dev_asnorm300_vox1_E_cleaned.kaldi.score -----\nEER = 1.051\n"
        "minDCF (p_target:0.01 c_miss:1 c_fa:1) = 0.116\n",
    )
    write(root / "scores" / "vox1_O_cleaned.kaldi.det.png", "not really a png")
    return root, cos


def test_score_file_names_say_method_cohort_and_list():
    parsed = parse_score_name("vox2_dev_asnorm300_vox1_O_cleaned.kaldi.score")
    assert (parsed.method, parsed.trials, parsed.cohort, parsed.top_n) == (
        "asnorm",
        "vox1_O_cleaned",
        "vox2_dev",
        300,
    )
    assert parse_score_name("vox2_dev_snorm_vox1_H.kaldi.score").method == "snorm"
    assert parse_score_name("my_list.txt.score").trials == "my_list.txt"
    assert parse_score_name("notes.txt") is None


def test_released_folder_rows_equal_result_files_and_computed_ones_say_so(release):
    root, cos = release
    system = load_system(root, report_dir=root)
    rows = {(r.method, r.trials): r for r in system.rows}
    # the fixture's files are named after vox1_O_cleaned but hold 260 trials: a custom list, by content
    custom = "vox1_O_cleaned (custom)"
    asnorm_o = rows["asnorm", custom]
    assert (asnorm_o.eer_percent, asnorm_o.min_dcf, asnorm_o.origin) == (
        0.941,
        0.089,
        "`vox1_asnorm300_result`",
    )
    assert rows["asnorm", "vox1_E_cleaned"].n_target is None  # result block without its score file
    cosine = rows["cos", custom]
    eer, dcf = wespeaker_numbers(cos.read_text())
    assert f"{cosine.eer_percent:.3f}" == f"{eer:.3f}" and f"{cosine.min_dcf:.3f}" == f"{dcf:.3f}"
    assert "computed by sveval" in cosine.origin and cosine.det_image == "scores/vox1_O_cleaned.kaldi.det.png"
    labels = [line.split()[3] for line in cos.read_text().splitlines()]
    assert (cosine.n_target, cosine.n_nontarget) == (labels.count("target"), labels.count("nontarget"))
    assert system.name == "Gemini_df_resnet56" and len(system.fingerprints[custom]) == 71
    assert dict(system.provenance)["date"].startswith("unknown")


def test_markdown_table_is_laid_out_like_the_release_readme(release):
    root, _ = release
    system = load_system(root, report_dir=root)
    table = results_table([system], published_table("golden-gemini"))
    lines = table.splitlines()
    # the fixture's "vox1_O_cleaned" files hold 260 trials: never shown under Vox1-O beside published numbers;
    # the E block has no score file here, so nothing contradicts its name
    assert lines[0] == (
        "| System | Method | Vox1-O EER | Vox1-O MinDCF | Vox1-E EER | Vox1-E MinDCF "
        "| Vox1-H EER | Vox1-H MinDCF | vox1_O_cleaned (custom) EER | vox1_O_cleaned (custom) MinDCF |"
    )
    assert lines[3].startswith(
        "| Gemini_df_resnet56 | AS-norm (top 300) | — | — | 1.051 | 0.116 | — | — | 0.941 | 0.089 |"
    )
    assert (
        "| DF-ResNet114 (6.53 M), published | AS-norm (top 300) "
        "| 0.686 | 0.067 | 0.863 | 0.097 | 1.490 | 0.144 | — | — |" in lines
    )
    info = ReportInfo("0.1.0", "sveval report x", "2025-01-01 00:00 UTC")
    text = render_markdown([system], info)
    assert (
        "![Gemini_df_resnet56: scores/vox1_O_cleaned.kaldi.det.png](scores/vox1_O_cleaned.kaldi.det.png)"
        in text
    )
    assert "no results.json" in text and "Vox1-E = `vox1_E_cleaned`" in text
    data = report_dict([system], info)
    rows = json.loads(json.dumps(data))["systems"][0]["rows"]
    assert [(r["trials"], r["eer_percent"]) for r in rows if r["method"] == "asnorm"] == [
        ("vox1_E_cleaned", 1.051),
        ("vox1_O_cleaned (custom)", 0.941),
    ]


def test_cli_report_several_folders_meta_bootstrap_plots(release, tmp_path):
    root, _ = release
    other = tmp_path / "other"
    write(other / "vox1_O_cleaned.kaldi.score", score_lines(4, 1.5))
    meta = write(
        tmp_path / "meta.csv", "ID\tGender\n" + "".join(f"id1{s:04d}\t{'mf'[s % 2]}\n" for s in range(8))
    )
    out = tmp_path / "cmp" / "report.md"
    env = {"SOURCE_DATE_EPOCH": "1735689600"}
    args = [root, other, "--name", "gemini", "--name", "other", "--out", out, "--meta", meta]
    code, printed = run(*args, "--bootstrap", "50", "--plots", "--json", "--quiet", env=env)
    assert code == 0, printed
    text = out.read_text()
    assert (
        "on 2025-01-01 00:00 UTC" in text and "| other | cosine |" in printed and f"report: {out}" in printed
    )
    assert "## Confidence intervals" in text and "## By gender pairing" in text and "| male-male |" in text
    assert (out.parent / "report.vox1_O_cleaned_custom.det.png").read_bytes().startswith(b"\x89PNG")
    assert "](report.vox1_O_cleaned_custom.det.png)" in text and "](../Gemini_df_resnet56/scores/" in text
    data = json.loads(out.with_suffix(".json").read_text())
    assert [s["name"] for s in data["systems"]] == ["gemini", "other"]
    again = run(*args, "--bootstrap", "50", "--plots", "--json", "--quiet", env=env)
    assert again[0] == 0 and out.read_text() == text  # same input, same seed, same date: same report


@pytest.mark.parametrize(
    "args,message",
    [
        (["--name", "a", "--name", "b"], "--name given 2 time(s) for 1 folder(s)"),
        (["--out", "report.txt"], "must be a markdown file"),
    ],
)
def test_cli_usage_errors(release, args, message):
    code, out = run(release[0], *args)
    assert code == 2 and message in out


def test_empty_or_missing_folder_is_an_input_error(tmp_path):
    (tmp_path / "empty").mkdir()
    assert "no score files" in run(tmp_path / "empty")[1]
    assert "folder not found" in run(tmp_path / "nope")[1]
    assert scan_folder  # imported for the error path above


def test_two_files_of_one_method_and_list_keep_a_line_each(tmp_path):
    """Found by a tester: a Kaldi folder with `voxceleb1_test.score` and `plda.score` (3 columns, both read
    as cosine of the one --trials list) showed one row, the last file's numbers, and two unlabelled CI rows.
    Each file keeps its own line, named by its file, with its own numbers (WeSpeaker's, independently)."""
    four = {"voxceleb1_test": score_lines(0, 2.0), "plda": score_lines(1, 3.5)}
    fields = [line.split() for line in four["plda"].splitlines()]
    trials = write(tmp_path / "trials", "".join(f"{f[0]} {f[1]} {f[3]}\n" for f in fields))
    for name, text in four.items():
        three = "".join(" ".join(line.split()[:3]) + "\n" for line in text.splitlines())
        write(tmp_path / "kaldi" / f"{name}.score", three)
    code, out = run(tmp_path / "kaldi", "--trials", trials, "--bootstrap", 200, "--quiet")
    assert code == 0, out
    report = (tmp_path / "kaldi" / "report.md").read_text()
    for name, text in four.items():
        eer, dcf = wespeaker_numbers(text)
        assert f"| kaldi | cosine (`{name}.score`) | {eer:.3f} | {dcf:.3f} |" in report, report
        assert report.count(f"| kaldi | cosine (`{name}.score`) | trials (custom) | 8 |") == 1  # its CI row


def test_a_stopped_report_says_what_it_kept(release, monkeypatch):
    """Found by a tester: a stopped report said only `sveval: interrupted`; it says what it left, and the
    folder keeps no lock file."""
    import sveval.reporting.systems as systems

    folder = release[0] / "scores"
    (folder / "report.md").write_text("# sveval report\n\nGenerated by sveval earlier\n")
    monkeypatch.setattr(systems, "load_system", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt))
    code, out = run(folder, "--quiet")
    assert code == 130 and "Traceback" not in out
    assert out.strip() == f"sveval: interrupted: {folder / 'report.md'} left as it was (nothing written)"
    assert (folder / "report.md").read_text().endswith("earlier\n") and not (folder / ".sveval.lock").exists()


def test_a_folder_another_run_is_writing_is_not_reported_into(release, tmp_path):
    """One writer per output folder: while a run (here: this test) holds the folder's lock, `report DIR`
    exits 2 naming the holder and writes nothing; once it is let go, the report is written and the lock
    file is gone again. Reading a folder into a report written elsewhere needs no lock of it."""
    from sveval.io.lock import folder_lock

    folder = release[0] / "scores"
    with folder_lock(folder):
        code, out = run(folder, "--quiet")
        assert code == 2 and "Traceback" not in out and f"process {os.getpid()}" in out, out
        assert not (folder / "report.md").exists()
        code, out = run(folder, "--out", tmp_path / "elsewhere" / "r.md", "--quiet")
        assert code == 0 and (tmp_path / "elsewhere" / "r.md").is_file(), out
    code, out = run(folder, "--quiet")
    assert code == 0 and (folder / "report.md").is_file() and not (folder / ".sveval.lock").exists(), out


def test_meta_missing_speaker_names_the_file(release, tmp_path):
    meta = write(tmp_path / "meta.csv", "ID\tGender\nid10000\tm\n")
    code, out = run(release[0], "--meta", meta, "--quiet")
    assert code == 2 and "speaker(s) not in the metadata" in out and ".score" in out


def test_provenance_comes_from_results_json(release):
    root, _ = release
    record = {
        "schema": "sveval.score/1",
        "sveval_version": "9.9.9",
        "command": "sveval score --embeddings e.npz --cohort c.npz --trials vox1_O_cleaned",
        "date": "2025-01-02T03:04:05Z",
        "cohort": {"name": "vox2_dev", "utterances": 17982, "speakers": 5994},
        "methods": ["cos", "snorm", "asnorm"],
        "top_n": 300,
        "mean": "cohort",
        "compat": "exact",
        "precision": "float64 throughout",
        "definitions": {
            "eer": "percent, NIST SRE / WeSpeaker interpolation",
            "min_dcf": "normalised, p 0.01",
        },
        "lists": [
            {
                "name": "veri_test2.txt",
                "builtin": "vox1_O_cleaned",
                "fingerprint": "sha256:abc",
                "n_dropped": 3,
            }
        ],
    }
    write(root / "scores" / "results.json", json.dumps(record))
    system = load_system(root, report_dir=root)
    fields = dict(system.provenance)
    assert fields["written by"] == "sveval 9.9.9" and fields["command"] == f"`{record['command']}`"
    assert fields["cohort"] == "vox2_dev (5,994 speakers, 17,982 utterances)" and fields["top-N"] == "300"
    assert fields["EER definition"].startswith("percent, NIST") and fields["compat mode"] == "exact"
    assert (
        fields["date"] == "2025-01-02T03:04:05Z"
        and fields["trials dropped (--allow-missing)"] == "veri_test2.txt: 3"
    )
    assert system.fingerprints["vox1_O_cleaned"] == "sha256:abc"  # the record wins over the score file's
    write(root / "scores" / "results.json", "{not json")
    with pytest.raises(Exception, match="not valid JSON"):
        load_system(root)


def test_unlabelled_score_files_are_noted_and_malformed_ones_are_errors(release):
    root, _ = release
    write(root / "scores" / "mine.txt.score", "a b 0.5\na c 0.1\n")
    code, _ = run(root, "--quiet")
    text = (root / "report.md").read_text()
    assert code == 0 and "`mine.txt.score` has no label column" in text
    write(
        root / "scores" / "vox2_dev_asnorm300_vox1_O_cleaned.kaldi.score", "a b 0.5 target\na c x nontarget\n"
    )
    code, out = run(root, "--quiet")
    assert code == 2 and "vox2_dev_asnorm300_vox1_O_cleaned.kaldi.score:2" in out


# results.json as sveval 0.1.0 wrote it at first (abridged: one method): no "custom", "model", "warnings",
# "written"; the list named after its file
OLD_RECORD = {
    "schema": "sveval.score/1",
    "sveval_version": "0.1.0",
    "command": "sveval demo --out reports/demo",
    "date": "2025-11-26T00:00:00Z",
    "eval": {"name": "synthetic_vox1", "utterances": 4874, "scored_utterances": 4874},
    "cohort": {"name": "synthetic_vox2_dev", "utterances": 17982, "speakers": 5994},
    "dim": 256,
    "methods": ["cos"],
    "top_n": 300,
    "mean": "cohort",
    "compat": "exact",
    "precision": "float64 throughout",
    "definitions": {"eer": "percent, NIST SRE / WeSpeaker interpolation", "min_dcf": "normalised"},
    "allow_missing": False,
    "lists": [
        {
            "name": "synthetic_vox1_O.kaldi",
            "builtin": None,
            "source": "reports/demo/trials/synthetic_vox1_O.kaldi",
            "fingerprint": "sha256:fb2f273113e1c8f9",
            "n_trials": 37611,
            "n_scored": 37611,
            "n_dropped": 2,
            "missing_utterances": [],
            "n_missing_utterances": 0,
            "labelled": True,
            "methods": {
                "cos": {
                    "score_file": "synthetic_vox1_O.kaldi.score",
                    "signature": "score:cos|mean:cohort|trials:synthetic_vox1_O.kaldi@fb2f273113e1|v:0.1.0",
                    "n_target": 18802,
                    "n_nontarget": 18809,
                    "eer": 4.540379605508004,
                    "eer_threshold": 0.18362,
                    "min_dcf": 0.2931840941942272,
                    "min_dcf_threshold": 0.35348,
                }
            },
        }
    ],
    "notes": [],
    "files": ["synthetic_vox1_O.kaldi.score", "synthetic_vox1_cos_result"],
    "artifacts": {"report": {"markdown": "report.md"}},
}


def test_a_record_of_an_earlier_version_is_read(tmp_path):
    from sveval.io.score_folder import read_run_record
    from sveval.record import MethodMetrics

    write(tmp_path / "results.json", json.dumps(OLD_RECORD))
    record = read_run_record(tmp_path)
    (entry,) = record.lists
    (cos,) = entry.methods
    assert (record.eval.name, record.cohort.speakers, record.model, record.written) == (
        "synthetic_vox1",
        5994,
        None,
        None,
    )
    assert (entry.name, entry.custom, entry.label, entry.n_dropped) == (
        "synthetic_vox1_O.kaldi",
        None,  # not recorded then
        "synthetic_vox1_O.kaldi",
        2,
    )
    assert cos.metrics == MethodMetrics(18802, 18809, 4.540379605508004, 0.18362, 0.2931840941942272, 0.35348)
    assert cos.signature.format() == OLD_RECORD["lists"][0]["methods"]["cos"]["signature"]
    assert dict(cos.signature.fields)["trials"] == "synthetic_vox1_O.kaldi@fb2f273113e1"
    assert record.counts() == {"synthetic_vox1_O.kaldi.score": (18802, 18809)}
    assert record.dropped() == {"synthetic_vox1_O.kaldi.score": 2}
    assert record.artifacts == {"report": {"markdown": "report.md"}}


def test_a_signature_is_its_fields_printed_in_order():
    from sveval.signature import Signature

    signature = Signature.of(score="asnorm", top_n="300", cohort="vox2_dev:5994spk")
    assert signature.fields == (("score", "asnorm"), ("top-n", "300"), ("cohort", "vox2_dev:5994spk"))
    assert signature.format().startswith("score:asnorm|top-n:300|cohort:vox2_dev:5994spk|v:")
    for text in (
        signature.format(),
        "eer:nist|trials:a|b(custom)@7fc69f830f44|v:0.1.0",  # a `|` in a list's name stays in its value
        "no fields at all",
    ):
        assert Signature.parse(text).format() == text
    assert Signature.parse("cal:linear|v:0.0.9").version == "0.0.9"
