"""`sveval report` with Kaldi-style inputs: 3-column score files (`enroll test score`, labels from --trials)
and utterance ids without '/' (`id10270_x6uYqmx31kE_00001`, speakers from --utt2spk).

The same trials, scores and speakers written VoxCeleb-style (4 columns, `id10270/x6uYqmx31kE/00001.wav`) are
the reference: every number of the report (table, Trials counts and fingerprint, bootstrap intervals, gender
breakdown) must come out the same. Without labels or speakers the report says what it skipped and why, and
never prints "unknown" for a file it has read.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from sveval.cli.main import cli

N_SPEAKERS, PER_SPEAKER = 10, 5
LIST = "toy.kaldi"  # a custom list: score files are named `toy.kaldi.score`, `vox2_dev_snorm_toy.kaldi.score`


def voxceleb_id(speaker: int, utt: int) -> str:
    return f"id1{speaker:04d}/yt{utt % 2}/{utt:05d}.wav"


def kaldi_id(speaker: int, utt: int) -> str:
    # what Kaldi's VoxCeleb recipe makes of the same utterance: no '/', so no speaker without a utt2spk
    return f"id1{speaker:04d}-yt{utt % 2}-{utt:05d}"


def trials(seed: int = 0):
    """(enroll index, test index, is_target, cosine score, snorm score) over utterances (speaker, utt)."""
    rng = np.random.default_rng(seed)
    utts = [(s, k) for s in range(N_SPEAKERS) for k in range(PER_SPEAKER)]
    out = []
    for i, e in enumerate(utts):
        for t in utts[i + 1 :: 2]:
            target = e[0] == t[0]
            out.append((e, t, target, rng.normal() + 2.0 * target, rng.normal() + 2.5 * target))
    return out


def write_inputs(root: Path, name_of, columns: int) -> Path:
    """A folder with the trial list, two score files (cosine and s-norm) of `columns` columns, a utt2spk
    and a meta file; returns the score folder."""
    rows = trials()
    (root / "scores").mkdir(parents=True)
    label = {True: "target", False: "nontarget"}
    (root / LIST).write_text("".join(f"{name_of(*e)} {name_of(*t)} {label[y]}\n" for e, t, y, _, _ in rows))
    for file, k in ((f"{LIST}.score", 3), (f"vox2_dev_snorm_{LIST}.score", 4)):
        lines = []
        for row in rows:
            e, t, y = row[:3]
            fields = [name_of(*e), name_of(*t), f"{row[k]:.5f}"] + ([label[y]] if columns == 4 else [])
            lines.append(" ".join(fields) + "\n")
        (root / "scores" / file).write_text("".join(lines))
    utts = {u for e, t, *_ in rows for u in (e, t)}
    (root / "utt2spk").write_text("".join(f"{name_of(*u)} id1{u[0]:04d}\n" for u in sorted(utts)))
    (root / "meta.csv").write_text(
        "ID\tGender\n" + "".join(f"id1{s:04d}\t{'mf'[s % 2]}\n" for s in range(N_SPEAKERS))
    )
    return root / "scores"


def report(*args, env=None):
    """(exit code, output, report.md text, report.json object or None)."""
    env = {"SOURCE_DATE_EPOCH": "1735689600", **(env or {})}
    result = CliRunner().invoke(cli, ["report", *map(str, args), "--quiet"], env=env)
    out = Path(args[args.index("--out") + 1])
    text = out.read_text() if result.exit_code == 0 else ""
    data = (
        json.loads(out.with_suffix(".json").read_text())
        if result.exit_code == 0 and "--json" in args
        else None
    )
    return result.exit_code, result.output, text, data


def numbers(data) -> list:
    """Every row of the JSON report without what names the file it came from."""
    return [
        {k: v for k, v in row.items() if k not in ("origin",)} for s in data["systems"] for row in s["rows"]
    ]


def sections(text: str, *titles: str) -> str:
    """The named `## ` sections of a report (the header with its command line left out)."""
    parts = re.split(r"(?m)^## ", text)
    return "".join(p for p in parts if p.split("\n", 1)[0] in titles)


@pytest.fixture
def folders(tmp_path):
    vox4 = write_inputs(tmp_path / "vox4", voxceleb_id, 4)
    kaldi3 = write_inputs(tmp_path / "kaldi3", kaldi_id, 3)
    return tmp_path, vox4, kaldi3


def test_three_column_folder_with_trials_gives_the_rows_of_the_four_column_one(folders):
    tmp, vox4, kaldi3 = folders
    vox3 = write_inputs(tmp / "vox3", voxceleb_id, 3)
    opts = ["--name", "sys", "--json"]
    code4, out4, text4, data4 = report(vox4, "--out", tmp / "r4.md", *opts)
    code3, out3, text3, data3 = report(vox3, "--trials", vox3.parent / LIST, "--out", tmp / "r3.md", *opts)
    assert (code4, code3) == (0, 0), out3
    assert numbers(data3) == numbers(data4)
    assert data3["systems"][0]["fingerprints"] == data4["systems"][0]["fingerprints"]
    # the same table, trial counts and fingerprint; "unknown" only where nothing was read (provenance)
    assert sections(text3, "Results", "Trials") == sections(text4, "Results", "Trials")
    assert "| sys | toy (custom) | 625 | 60 | 565 |" in text3 and "| sys | cosine |" in out3
    assert "unknown" not in sections(text3, "Results", "Trials")
    assert "| trial lists (--trials) | toy (custom) |" in text3
    assert f"--trials {vox3.parent / LIST}" in text3  # the command line records the list


def test_three_column_folder_without_trials_is_an_error_that_says_what_to_give(folders):
    tmp, _, kaldi3 = folders
    code, out, _, _ = report(kaldi3, "--out", tmp / "r.md")
    assert code == 2 and "nothing to report" in out and "at none" not in out
    assert "has no label column (3 columns: enroll test score)" in out and "--trials NAME|PATH" in out
    assert not (tmp / "r.md").exists()


def test_unlabelled_file_beside_labelled_ones_is_noted_never_counted_as_unknown(folders):
    tmp, vox4, _ = folders
    # a 3-column file of another list, with a result block: its row is the block's, its counts are not made up
    (vox4 / "other.txt.score").write_text("a/x/1 b/y/2 0.5\na/x/1 c/z/3 0.1\n")
    (vox4 / "vox1_cos_result").write_text(
        "---- other.txt.score -----\nEER = 1.000\nminDCF (p_target:0.01 c_miss:1 c_fa:1) = 0.100\n"
    )
    pair = tmp / "pair.txt"
    pair.write_text("a/x/1 b/y/2 target\na/x/1 c/z/3 nontarget\n")
    lists = ["--trials", vox4.parent / LIST, "--trials", pair]
    code, out, text, _ = report(vox4, *lists, "--out", tmp / "r.md")
    assert code == 0, out
    assert "`other.txt.score` has no label column" in text and "add --trials other.txt" in text
    assert "which is none of the --trials lists (`toy (custom)`, `pair (custom)`)" in text
    assert (
        "| other (custom) | 2 read; no labels (3-column file, no --trials list for it) | — | — | — |" in text
    )
    assert "unknown" not in sections(text, "Trials")
    # given one list, a 3-column file whose name points to no built-in list is taken to be of it: checked
    code, out, _, _ = report(vox4, "--trials", vox4.parent / LIST, "--out", tmp / "r.md")
    assert code == 2 and "other.txt.score: does not match the trial list: 2 scored pair(s) not in toy" in out


def test_kaldi_ids_with_utt2spk_give_the_bootstrap_and_breakdown_of_voxceleb_ids(folders):
    tmp, vox4, kaldi3 = folders
    analyses = [
        "--meta",
        vox4.parent / "meta.csv",
        "--bootstrap",
        "60",
        "--seed",
        "7",
        "--json",
        "--name",
        "s",
    ]
    code4, out4, text4, data4 = report(vox4, "--out", tmp / "r4.md", *analyses)
    code3, out3, text3, data3 = report(
        kaldi3,
        "--trials",
        kaldi3.parent / LIST,
        "--utt2spk",
        kaldi3.parent / "utt2spk",
        "--out",
        tmp / "r3.md",
        *analyses,
    )
    assert (code4, code3) == (0, 0), out3
    rows4, rows3 = numbers(data4), numbers(data3)
    assert all(r["bootstrap"] and r["genders"] for r in rows3)
    # same arithmetic on the same numbers: exact equality, intervals and gender groups included
    assert rows3 == rows4
    shown = ("Results", "Confidence intervals (speaker-clustered bootstrap)")
    assert sections(text3, *shown) == sections(text4, *shown)
    assert "| s | toy (custom) | 625 | 60 | 565 | `sha256:" in text3  # (other ids: another fingerprint)
    prov3, prov4 = data3["systems"][0]["provenance"], data4["systems"][0]["provenance"]
    assert prov4["speakers"] == "speaker = first path component of the utterance id (VoxCeleb ids)"
    assert prov3["speakers"] == f"speaker from utt2spk {kaldi3.parent / 'utt2spk'}"
    assert f"Speaker from utt2spk {kaldi3.parent / 'utt2spk'}, gender from the metadata file" in text3
    assert "Speaker = first path component of the utterance id (VoxCeleb ids), gender" in text4


def test_kaldi_ids_without_utt2spk_skip_speaker_analyses_with_a_note(folders):
    tmp, _, kaldi3 = folders
    meta = kaldi3.parent / "meta.csv"
    args = [kaldi3, "--trials", kaldi3.parent / LIST, "--out", tmp / "r.md", "--json"]
    code, out, text, data = report(*args, "--meta", meta, "--bootstrap", "60")
    assert code == 0, out
    note = (
        "bootstrap intervals (--bootstrap) and gender breakdown (--meta) skipped for `toy.kaldi.score`, "
        "`vox2_dev_snorm_toy.kaldi.score`: speakers unknown: toy.kaldi.score: cannot tell the speaker of "
        "'id10000-yt0-00000' (50 id(s) without '/', so not VoxCeleb-style speaker/video/utterance): give a "
        "utt2spk file (--utt2spk)"
    )
    assert f"- kaldi3: {note}" in text and data["systems"][0]["notes"] == [note]
    assert "## Confidence intervals" not in text and "## By gender pairing" not in text
    assert all(r["bootstrap"] is None and r["genders"] == [] for r in data["systems"][0]["rows"])
    assert data["systems"][0]["provenance"]["speakers"].endswith(
        "; speaker-level analyses skipped for 2 score file(s), see the notes"
    )
    # only what was asked is named as skipped
    code, out, text, _ = report(*args, "--bootstrap", "60")
    assert code == 0 and "- kaldi3: bootstrap intervals (--bootstrap) skipped for" in text
    assert "gender breakdown" not in text


def test_utt2spk_that_lacks_an_utterance_is_an_input_error(folders):
    tmp, _, kaldi3 = folders
    utt2spk = kaldi3.parent / "utt2spk"
    utt2spk.write_text("".join(utt2spk.read_text().splitlines(keepends=True)[1:]))
    code, out, _, _ = report(
        kaldi3,
        "--trials",
        kaldi3.parent / LIST,
        "--utt2spk",
        utt2spk,
        "--bootstrap",
        "60",
        "--out",
        tmp / "r.md",
    )
    assert code == 2 and f"{utt2spk}: 1 utterance(s) of toy.kaldi.score are not in this utt2spk file" in out
    assert "Traceback" not in out


def test_a_list_the_files_do_not_cover_is_an_input_error(folders):
    tmp, vox4, _ = folders
    short = tmp / LIST
    short.write_text("".join((vox4.parent / LIST).read_text().splitlines(keepends=True)[:-1]))
    code, out, _, _ = report(vox4, "--trials", short, "--out", tmp / "r.md")
    assert code == 2 and "does not match the trial list: 1 scored pair(s) not in toy.kaldi" in out


def test_files_are_matched_to_lists_by_name(folders):
    tmp, vox4, _ = folders
    # a second list beside the first: each file is checked against the list its name points to
    (vox4 / "pair.txt.score").write_text("id10001/a/1 id10001/b/2 0.9\nid10001/a/1 id10002/c/3 0.1\n")
    pair = tmp / "pair.txt"
    pair.write_text("id10001/a/1 id10001/b/2 target\nid10001/a/1 id10002/c/3 nontarget\n")
    code, out, text, _ = report(vox4, "--trials", vox4.parent / LIST, "--trials", pair, "--out", tmp / "r.md")
    assert code == 0, out
    assert (
        "| vox4 | pair (custom) | 2 | 1 | 1 |" in text and "| vox4 | toy (custom) | 625 | 60 | 565 |" in text
    )


def test_validate_takes_the_list_of_three_column_files(folders):
    """A Kaldi folder (3-column files, no result files) is validated against the list given: coverage and
    finite scores checked, nothing printed to recompute (not checkable, not a failure); a file that does
    not cover the list fails."""
    tmp, _, kaldi3 = folders
    result = CliRunner().invoke(cli, ["validate", str(kaldi3), "--trials", str(tmp / "kaldi3" / LIST)])
    assert result.exit_code == 0, result.output
    assert result.output.count("every trial of") == 2 and "no printed figure to check" in result.output
    without = CliRunner().invoke(cli, ["validate", str(kaldi3)])
    assert without.exit_code == 0 and "every trial of" not in without.output  # no list: nothing covered
    cut = kaldi3 / f"{LIST}.score"
    cut.write_text("".join(cut.read_text().splitlines(keepends=True)[:-1]))
    failed = CliRunner().invoke(cli, ["validate", str(kaldi3), "--trials", str(tmp / "kaldi3" / LIST)])
    assert failed.exit_code == 1 and "coverage" in failed.output
