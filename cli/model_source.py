"""`sveval score --model`: score audio instead of embeddings. The eval (and cohort) audio is embedded into
cache folders under --out (`OUT/embeddings/<set>/`, WeSpeaker's layout), which the next run reuses: the
extraction is resumable and its `xvector.json` refuses embeddings of another model or precision.

torch is imported only when --model is given, inside the functions below.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import click

from sveval.errors import InputError

OPTIONS = (
    click.option(
        "--model",
        "model",
        help="Score audio: checkpoint file or model folder, .onnx file or published name to embed with.",
    ),
    click.option("--arch", help="With --model: architecture [default: config.yaml, else the keys]."),
    click.option(
        "--wav-scp", type=click.Path(dir_okay=False), help="With --model: eval audio, Kaldi wav.scp."
    ),
    click.option(
        "--wav-dir",
        type=click.Path(file_okay=False),
        help="With --model: eval audio folder (ids spk/video/00001.wav).",
    ),
    click.option(
        "--cohort-wav-scp",
        type=click.Path(dir_okay=False),
        help="With --model: cohort audio, Kaldi wav.scp (speakers: --cohort-utt2spk or the id's first "
        "path component).",
    ),
    click.option(
        "--cohort-wav-dir", type=click.Path(file_okay=False), help="With --model: cohort audio folder."
    ),
    click.option("--device", help="With --model: auto, cpu, cuda or cuda:N [default: auto]."),
    click.option(
        "--batch-size",
        type=int,
        help="With --model: at most this many utterances per batch [default: none on GPU, 1 on CPU].",
    ),
    click.option(
        "--precision",
        type=click.Choice(["fp32", "tf32", "bf16"]),
        help="With --model: fp32, tf32 or bf16 (see sveval extract --help) [default: fp32].",
    ),
    click.option(
        "--num-workers",
        type=int,
        help="With --model: audio-decoding processes [default: cores on GPU, 2 on CPU; 0: inline].",
    ),
    click.option("--skip-bad", is_flag=True, help="With --model: skip unreadable or too-short audio."),
)
FIELDS = (
    "model",
    "arch",
    "wav_scp",
    "wav_dir",
    "cohort_wav_scp",
    "cohort_wav_dir",
    "device",
    "batch_size",
    "precision",
    "num_workers",
    "skip_bad",
)


def model_options(func):
    """Add the --model options to a click command, handed to it as one `model_source: ModelSource`."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        source = ModelSource(**{name: kwargs.pop(name) for name in FIELDS})
        return func(*args, model_source=source, **kwargs)

    for option in reversed(OPTIONS):
        wrapper = option(wrapper)
    return wrapper


@dataclass(frozen=True)
class Sets:
    """What a run scores: eval (and cohort) embeddings, their default names, and the model that made them."""

    evaluation: object  # sveval.types.Embeddings
    eval_name: str
    cohort: object | None  # sveval.types.Embeddings
    cohort_name: str | None
    cohort_source: str | None  # for error messages about cohort speakers
    model: dict | None  # provenance for results.json


@dataclass(frozen=True)
class ModelSource:
    model: str | None
    arch: str | None
    wav_scp: str | None
    wav_dir: str | None
    cohort_wav_scp: str | None
    cohort_wav_dir: str | None
    device: str | None
    batch_size: int | None
    precision: str | None
    num_workers: int | None
    skip_bad: bool

    @property
    def used(self) -> bool:
        return self.model is not None

    @property
    def cohort_audio(self) -> str | None:
        return self.cohort_wav_scp or self.cohort_wav_dir

    @property
    def eval_audio(self) -> str | None:
        return self.wav_scp or self.wav_dir

    @property
    def inputs(self) -> tuple[str, ...]:
        """The paths this source reads (an output may never replace one)."""
        paths = (self.model, self.wav_scp, self.wav_dir, self.cohort_wav_scp, self.cohort_wav_dir)
        return tuple(p for p in paths if p)

    def check(self, *, eval_path, cohort_path, exp_dir) -> None:
        """Usage errors (exit 2) for options that make no sense together."""
        if not self.used:
            given = [f"--{n.replace('_', '-')}" for n in FIELDS[1:] if getattr(self, n) not in (None, False)]
            if given:
                verb = "makes" if len(given) == 1 else "make"
                raise InputError(
                    f"{', '.join(given)} only {verb} sense with --model (scoring audio: sveval score "
                    "--model M --wav-scp EVAL_SCP ...)"
                )
            return
        for flag, value in (("--embeddings", eval_path), ("--cohort", cohort_path), ("--exp-dir", exp_dir)):
            if value:
                raise InputError(
                    f"--model scores audio and {flag} takes embeddings: give one or the other (cohort audio: "
                    "--cohort-wav-scp / --cohort-wav-dir)"
                )
        if bool(self.wav_scp) == bool(self.wav_dir):
            raise InputError("--model needs exactly one of --wav-scp and --wav-dir (the eval audio)")
        if self.cohort_wav_scp and self.cohort_wav_dir:
            raise InputError("give at most one of --cohort-wav-scp and --cohort-wav-dir")
        if self.num_workers is not None and self.num_workers < 0:
            raise InputError(f"--num-workers must be >= 0, got {self.num_workers}")

    def extract(
        self,
        out: Path,
        trial_lists,
        *,
        eval_name,
        cohort_name,
        cohort_utt2spk,
        allow_missing,
        progress,
        asnorm_top_n: int | None = None,
    ) -> Sets:
        """Embed the eval and cohort audio into OUT/embeddings/<set>/ (reusing what is there) and read them.

        Everything that can be checked without audio is checked before the first utterance is extracted:
        trial utterances missing from the eval audio, cohort speakers and `asnorm_top_n` (AS-norm's N, None
        when AS-norm is not run) against their count, colliding cache folders, the model.
        """
        from sveval.models import require_torch  # noqa: PLC0415

        require_torch()
        import numpy as np  # noqa: PLC0415

        from sveval.io.audio import list_wav_dir, read_wav_scp, scan_audio_folder  # noqa: PLC0415
        from sveval.io.embeddings import read_utt2spk, speakers_from_ids, speakers_from_utt2spk  # noqa: PLC0415

        def utterances(scp, folder):
            if scp:
                return read_wav_scp(scp)
            utts = list_wav_dir(folder, skip_bad=self.skip_bad)
            for line in scan_audio_folder(folder).notes():
                click.echo(f"sveval: warning: {line}", err=True)
            return utts

        eval_utts = utterances(self.wav_scp, self.wav_dir)
        eval_name = eval_name or set_name(Path(self.eval_audio))
        if not allow_missing:
            _check_trials_covered(trial_lists, eval_utts, self.eval_audio)
        cohort_utts = None
        if self.cohort_audio:
            cohort_utts = utterances(self.cohort_wav_scp, self.cohort_wav_dir)
            cohort_name = cohort_name or set_name(Path(self.cohort_audio))
            ids = np.asarray([u.utt for u in cohort_utts], dtype=object)
            if cohort_utt2spk:  # speakers known before minutes of extraction, not after
                speakers = speakers_from_utt2spk(ids, *read_utt2spk(cohort_utt2spk), cohort_utt2spk)
            else:
                speakers = speakers_from_ids(ids, self.cohort_audio)
            n_speakers = len(set(speakers.tolist()))
            if asnorm_top_n is not None and asnorm_top_n > n_speakers:
                raise InputError(
                    f"--top-n {asnorm_top_n} is larger than the cohort ({n_speakers:,} speakers in "
                    f"{self.cohort_audio}); nothing was extracted"
                )
            if cohort_name == eval_name:
                raise InputError(
                    f"eval and cohort would share the cache folder {out / 'embeddings' / eval_name}: "
                    "pass --eval-name or --cohort-name"
                )

        from sveval.models.registry import load  # noqa: PLC0415

        loaded = load(self.model, self.arch, progress=progress)
        if loaded.ignored_keys:
            prefixes = sorted({k.split(".")[0] + ".*" for k in loaded.ignored_keys})
            click.echo(
                f"sveval: warning: ignored training-only checkpoint keys: {', '.join(prefixes)}", err=True
            )
        evaluation, eval_record = self._embed(loaded, eval_utts, out / "embeddings" / eval_name, progress)
        cohort, records = None, {"eval": eval_record}
        if cohort_utts is not None:
            cohort, records["cohort"] = self._embed(
                loaded, cohort_utts, out / "embeddings" / cohort_name, progress
            )
        return Sets(
            evaluation=evaluation,
            eval_name=eval_name,
            cohort=cohort,
            cohort_name=cohort_name,
            cohort_source=str(out / "embeddings" / cohort_name) if cohort is not None else None,
            model=self._provenance(loaded, out / "embeddings" / eval_name, records),
        )

    def _embed(self, loaded, utts, folder: Path, progress: bool):
        """Extract what the cache lacks, then read exactly `utts` (minus skipped ones) back, in list order."""
        import pandas as pd  # noqa: PLC0415

        from sveval.io.embeddings import read_embeddings  # noqa: PLC0415
        from sveval.models.extract import extract_to_dir  # noqa: PLC0415
        from sveval.types import Embeddings  # noqa: PLC0415

        result = extract_to_dir(
            loaded,
            utts,
            folder,
            device=self.device or "auto",
            batch_size=self.batch_size,
            precision=self.precision or "fp32",
            num_workers=self.num_workers,
            skip_bad=self.skip_bad,
            progress=progress,
        )
        if result.scp is None:
            raise InputError("extraction did not finish (no xvector.scp was published)", str(folder))
        speed = f" ({result.utt_per_second:.1f} utt/s on {result.device})" if result.extracted else ""
        click.echo(
            f"sveval: {folder}: {result.already_done:,} embeddings reused from the cache, "
            f"{result.extracted:,} extracted{speed}",
            err=True,
        )
        for line in result.warnings():
            click.echo(f"sveval: warning: {line}", err=True)
        # The cache may also hold utterances of an earlier, different list: keep this list's only, so that a
        # cohort is exactly the cohort audio given.
        cached = read_embeddings(result.scp)
        where = pd.Index(cached.ids).get_indexer([u.utt for u in utts])
        where = where[where >= 0]
        embeddings = Embeddings(cached.ids[where], cached.vectors[where])
        record = {
            "folder": f"embeddings/{folder.name}",  # relative to the score folder: valid wherever it goes
            "utterances": len(embeddings),
            "extracted": result.extracted,
            "reused": result.already_done,
            "skipped": len(result.skipped),
        }
        return embeddings, record

    def _provenance(self, loaded, folder: Path, records: dict) -> dict:
        from sveval.io.ark import read_manifest  # noqa: PLC0415

        manifest = read_manifest(folder) or {}
        return {
            "path": str(self.model),
            "checkpoint": str(loaded.checkpoint),
            "arch": loaded.arch,
            "arch_from": loaded.arch_source,
            "layout": loaded.layout,
            "weights_sha256": manifest.get("weights_sha256"),
            "precision": manifest.get("precision"),
            "embed_dim": manifest.get("embed_dim"),
            "fbank": manifest.get("fbank"),
            "embeddings": records,
        }


def set_name(path: Path) -> str:
    """`vox1` for exp/embeddings/vox1/xvector.scp, data/vox1/wav.scp or a folder named vox1 (as resolved:
    `../x.npz` is named after the folder it is in, never `..`)."""
    path = Path(os.path.abspath(path))
    return path.name if path.is_dir() else path.parent.name or path.stem


def check_name_part(name: str | None, option: str) -> None:
    """InputError (exit 2) unless `name` can be one part of an output file's name: the eval and cohort
    names go into file names inside --out, so a '/' or '..' would write elsewhere."""
    if name is None:
        return
    odd = any(c.isspace() or not c.isprintable() for c in name)
    if not name or "/" in name or name in (".", "..") or odd:
        raise InputError(
            f"{option} {name!r} must be a plain name (no '/', spaces or control characters, not '.' or "
            "'..'): it becomes part of the output file names inside --out"
        )


def _check_trials_covered(trial_lists, utts, source: str) -> None:
    import numpy as np  # noqa: PLC0415
    import pandas as pd  # noqa: PLC0415

    listed = {u.utt for u in utts}
    for trials in trial_lists:
        ids = pd.unique(np.concatenate([np.asarray(trials.enroll), np.asarray(trials.test)]))
        missing = [str(i) for i in ids if str(i) not in listed]
        if missing:
            raise InputError(
                f"{len(missing):,} utterance(s) of {trials.name} are not in the eval audio, e.g. "
                f"{', '.join(missing[:3])} (--allow-missing drops their trials)",
                source,
            )
