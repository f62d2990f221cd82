"""Embedding audio: `sveval extract` (an ark/scp folder, sharded or merged) and `sveval score --model` (the
eval and cohort audio embedded into cache folders under the score folder, `OUT/embeddings/<set>/`,
WeSpeaker's layout, which the next run reuses: the extraction is resumable and its `xvector.json` refuses
embeddings of another model or precision).

torch is imported only inside the functions below (through sveval.models), when audio is embedded.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from sveval.app.output_folder import stderr_line
from sveval.errors import InputError

OUTPUTS = ("xvector.scp", "xvector.ark", "xvector.json")  # the names of a single-process run


@dataclass(frozen=True)
class ExtractJob:
    """`sveval extract`'s options. merge: only publish the parts of `merge_dirs` as one xvector.scp (checked
    against the audio list when one is given)."""

    model: str | None = None
    arch: str | None = None
    wav_scp: str | None = None
    wav_dir: str | None = None
    out: str | None = None
    device: str = "auto"
    batch_size: int | None = None
    frames_per_batch: int | None = None
    precision: str = "fp32"
    num_workers: int | None = None
    skip_bad: bool = False
    num_shards: int | None = None
    shard_index: int | None = None
    merge: bool = False
    merge_dirs: tuple[str, ...] = ()
    progress: bool = True


@dataclass(frozen=True)
class Extracted:
    """What an extraction did: the model as loaded (`sveval.models.registry.load`) and its
    `sveval.models.extract_result` record."""

    loaded: object
    result: object

    def summary(self) -> dict:
        loaded, result = self.loaded, self.result
        return {
            "model": str(loaded.checkpoint),
            "arch": loaded.arch,
            "arch_from": loaded.arch_source,
            "layout": loaded.layout,
            "device": result.device,
            "precision": result.precision,
            "extracted": result.extracted,
            "already_done": result.already_done,
            "skipped": len(result.skipped),
            "resampled": result.resampled,
            "multichannel": result.multichannel,
            "changed_audio": len(result.changed),
            "silent": len(result.silent),
            "seconds": round(result.seconds, 3),
            "utt_per_second": round(result.utt_per_second, 2),
            "scp": str(result.scp) if result.scp else None,
        }


@dataclass(frozen=True)
class Merged:
    """What `--merge` published (`sveval.io.ark.publish_scp`'s record); checked: against an audio list."""

    result: object
    checked: bool

    def summary(self) -> dict:
        return {
            "scp": str(self.result.scp),
            "count": self.result.count,
            "duplicates": len(self.result.duplicates),
            "checked_against_list": self.checked,
            "points_into": [str(p) for p in self.result.points_into],
        }


def run(job: ExtractJob, say=stderr_line) -> Extracted | Merged | None:
    """Extract (or merge) as `job` says; warnings go to `say` as they are found. None on a torchrun rank
    other than 0 (rank 0 speaks for everyone)."""
    from sveval.models import require_torch  # noqa: PLC0415

    require_torch()
    if job.merge:
        return _merge(job, say)
    if job.merge_dirs:
        raise InputError(f"unexpected argument {job.merge_dirs[0]!r} (folders are only taken with --merge)")
    if not job.model or not job.out:
        raise InputError("--model and --out are required")
    if bool(job.wav_scp) == bool(job.wav_dir):
        raise InputError("give exactly one of --wav-scp and --wav-dir")
    if job.num_workers is not None and job.num_workers < 0:
        raise InputError(f"--num-workers must be >= 0, got {job.num_workers}")
    from sveval.models import parallel  # noqa: PLC0415

    try:  # the shard options, before the list and the model are read
        parallel.from_environment(job.num_shards, job.shard_index)
    except ValueError as exc:
        raise InputError(str(exc)) from exc

    from sveval.io.atomic import check_writable_dir  # noqa: PLC0415
    from sveval.io.lock import check_unlocked  # noqa: PLC0415
    from sveval.io.output_folder import refuse_output_over_input  # noqa: PLC0415
    from sveval.models.extract import extract_to_dir  # noqa: PLC0415

    # Everything that needs no audio before the first utterance: the list, its files (a stat each: a
    # missing one is found before any folder is made), the folder, the model.
    for name in OUTPUTS:
        refuse_output_over_input(os.path.join(job.out, name), [job.wav_scp, job.model])
    utts = read_audio_list(job.wav_scp, job.wav_dir, job.skip_bad, say)
    if not job.skip_bad:
        from sveval.io.audio import require_audio_files  # noqa: PLC0415

        require_audio_files(utts, job.wav_scp or job.wav_dir)
    # a folder created only for these checks goes again if they fail and it is still empty (another run
    # may have started in it meanwhile; a started extraction stays: it resumes)
    created = not os.path.lexists(job.out)
    shared = (job.num_shards or 1) > 1 or int(os.environ.get("WORLD_SIZE", "1")) > 1
    try:
        check_writable_dir(job.out)
        check_unlocked(job.out, shared=shared)
        loaded = load_model(job.model, job.arch, job.progress)
    except BaseException:
        if created:
            with contextlib.suppress(OSError):
                os.rmdir(job.out)
        raise
    result = extract_to_dir(
        loaded,
        utts,
        job.out,
        device=job.device,
        batch_size=job.batch_size,
        frames_per_batch=job.frames_per_batch,
        precision=job.precision,
        num_workers=job.num_workers,
        skip_bad=job.skip_bad,
        num_shards=job.num_shards,
        shard_index=job.shard_index,
        progress=job.progress,
    )
    if os.environ.get("RANK", "0") != "0":
        return None
    for line in result.warnings():
        say(f"sveval: warning: {line}")
    _warn_ignored_keys(loaded, say)
    return Extracted(loaded, result)


def load_model(model: str, arch: str | None, progress: bool):
    """The model to embed with (`sveval.models.registry.load`)."""
    from sveval.models.registry import load  # noqa: PLC0415

    return load(model, arch, progress=progress)


def _warn_ignored_keys(loaded, say) -> None:
    if loaded.ignored_keys:
        prefixes = sorted({k.split(".")[0] + ".*" for k in loaded.ignored_keys})
        say(f"sveval: warning: ignored training-only checkpoint keys: {', '.join(prefixes)}")


def read_audio_list(wav_scp, wav_dir, skip_bad: bool, say=stderr_line):
    """The utterances of a wav.scp or an audio folder; a folder's left-out files are named through `say`."""
    from sveval.io.audio import list_wav_dir, read_wav_scp, scan_audio_folder  # noqa: PLC0415

    if wav_scp:
        return read_wav_scp(wav_scp)
    utts = list_wav_dir(wav_dir, skip_bad=skip_bad)  # refuses undecodable audio unless skip_bad
    for line in scan_audio_folder(wav_dir).notes():
        say(f"sveval: warning: {line}")
    return utts


def _merge(job: ExtractJob, say) -> Merged:
    from sveval.io import ark  # noqa: PLC0415
    from sveval.io.lock import folder_lock  # noqa: PLC0415

    if not job.merge_dirs:
        raise InputError("--merge needs one or more extraction folders")
    target = job.out or (job.merge_dirs[0] if len(job.merge_dirs) == 1 else None)
    if target is None:
        raise InputError("--merge with several folders needs --out for the merged xvector.scp")
    wanted = None
    skipped: set[str] = set()
    if job.wav_scp or job.wav_dir:
        for folder in job.merge_dirs:
            skipped |= ark.read_skipped(folder)
        utts = read_audio_list(job.wav_scp, job.wav_dir, True, say)
        wanted = ark.wanted_from((u.utt, u.path) for u in utts if u.utt not in skipped)
    with folder_lock(target):
        result = ark.publish_scp(job.merge_dirs, target, wanted)
    if result.duplicates:
        say(
            f"sveval: warning: {len(result.duplicates)} ids found in several parts; the last written record "
            f"is used (e.g. {result.duplicates[0]}); give --wav-scp to choose by audio"
        )
    if skipped and wanted is not None:
        say(f"sveval: warning: {len(skipped)} listed utterances were skipped by the extraction")
    if result.points_into:
        say(
            f"sveval: note: {result.scp} points into the arks of {', '.join(map(str, result.points_into))}: "
            "it is not self-contained; keep those folders"
        )
    return Merged(result, wanted is not None)


@dataclass(frozen=True)
class AudioSource:
    """`sveval score --model`'s options: the model and the eval (and cohort) audio it embeds."""

    model: str | None = None
    arch: str | None = None
    wav_scp: str | None = None
    wav_dir: str | None = None
    cohort_wav_scp: str | None = None
    cohort_wav_dir: str | None = None
    device: str | None = None
    batch_size: int | None = None
    precision: str | None = None
    num_workers: int | None = None
    skip_bad: bool = False

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
            options = [name for name in self.__dataclass_fields__ if name != "model"]
            given = [f"--{n.replace('_', '-')}" for n in options if getattr(self, n) not in (None, False)]
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


@dataclass(frozen=True)
class Sets:
    """What a run scores: eval (and cohort) embeddings, their default names, and the model that made them."""

    evaluation: object  # sveval.types.Embeddings
    eval_name: str
    cohort: object | None  # sveval.scoring.run.Cohort: embedded cohort audio, held in memory
    cohort_name: str | None
    cohort_source: str | None  # a cohort embedding file, streamed into its sums when the run scores
    model: dict | None  # provenance for results.json


def embed_sets(
    source: AudioSource,
    out: Path,
    trial_lists,
    *,
    eval_name,
    cohort_name,
    cohort_utt2spk,
    allow_missing,
    progress,
    asnorm_top_n: int | None = None,
    say=stderr_line,
) -> Sets:
    """Embed the eval and cohort audio into OUT/embeddings/<set>/ (reusing what is there) and read them.

    Everything that can be checked without audio is checked before the first utterance is extracted:
    trial utterances missing from the eval audio, cohort speakers and `asnorm_top_n` (AS-norm's N, None
    when AS-norm is not run) against their count, colliding cache folders, the model.
    """
    from sveval.models import require_torch  # noqa: PLC0415

    require_torch()
    import numpy as np  # noqa: PLC0415

    from sveval.speakers import speaker_map  # noqa: PLC0415

    eval_utts = read_audio_list(source.wav_scp, source.wav_dir, source.skip_bad, say)
    eval_name = eval_name or set_name(Path(source.eval_audio))
    if not allow_missing:
        _check_trials_covered(trial_lists, eval_utts, source.eval_audio)
    cohort_utts = None
    if source.cohort_audio:
        cohort_utts = read_audio_list(source.cohort_wav_scp, source.cohort_wav_dir, source.skip_bad, say)
        cohort_name = cohort_name or set_name(Path(source.cohort_audio))
        ids = np.asarray([u.utt for u in cohort_utts], dtype=object)
        # speakers known before minutes of extraction, not after
        speakers = speaker_map(cohort_utt2spk, option="--cohort-utt2spk").of(ids, source.cohort_audio)
        n_speakers = len(set(speakers.tolist()))
        if asnorm_top_n is not None and asnorm_top_n > n_speakers:
            raise InputError(
                f"--top-n {asnorm_top_n} is larger than the cohort ({n_speakers:,} speakers in "
                f"{source.cohort_audio}); nothing was extracted"
            )
        if cohort_name == eval_name:
            raise InputError(
                f"eval and cohort would share the cache folder {out / 'embeddings' / eval_name}: "
                "pass --eval-name or --cohort-name"
            )

    loaded = load_model(source.model, source.arch, progress)
    _warn_ignored_keys(loaded, say)
    evaluation, _, eval_record = _embed(
        source, loaded, eval_utts, out / "embeddings" / eval_name, progress, say
    )
    cohort, records = None, {"eval": eval_record}
    if cohort_utts is not None:
        from sveval.scoring.run import Cohort  # noqa: PLC0415

        folder = out / "embeddings" / cohort_name
        embeddings, found, records["cohort"] = _embed(source, loaded, cohort_utts, folder, progress, say)
        cohort = Cohort(cohort_name, embeddings, speakers[found])  # less the utterances skipped
    return Sets(
        evaluation=evaluation,
        eval_name=eval_name,
        cohort=cohort,
        cohort_name=cohort_name,
        cohort_source=None,
        model=_provenance(source, loaded, out / "embeddings" / eval_name, records),
    )


def _embed(source: AudioSource, loaded, utts, folder: Path, progress: bool, say):
    """Extract what the cache lacks, then read exactly `utts` (minus skipped ones) back, in list order:
    the embeddings, which of `utts` they are (a mask) and the record of the cache for results.json."""
    import pandas as pd  # noqa: PLC0415

    from sveval.io.embeddings import read_embeddings  # noqa: PLC0415
    from sveval.models.extract import extract_to_dir  # noqa: PLC0415
    from sveval.types import Embeddings  # noqa: PLC0415

    result = extract_to_dir(
        loaded,
        utts,
        folder,
        device=source.device or "auto",
        batch_size=source.batch_size,
        precision=source.precision or "fp32",
        num_workers=source.num_workers,
        skip_bad=source.skip_bad,
        progress=progress,
    )
    if result.scp is None:
        raise InputError("extraction did not finish (no xvector.scp was published)", str(folder))
    speed = f" ({result.utt_per_second:.1f} utt/s on {result.device})" if result.extracted else ""
    say(
        f"sveval: {folder}: {result.already_done:,} embeddings reused from the cache, "
        f"{result.extracted:,} extracted{speed}"
    )
    for line in result.warnings():
        say(f"sveval: warning: {line}")
    # The cache may also hold utterances of an earlier, different list: keep this list's only, so that a
    # cohort is exactly the cohort audio given.
    cached = read_embeddings(result.scp)
    where = pd.Index(cached.ids).get_indexer([u.utt for u in utts])
    found = where >= 0
    embeddings = Embeddings(cached.ids[where[found]], cached.vectors[where[found]])
    record = {
        "folder": f"embeddings/{folder.name}",  # relative to the score folder: valid wherever it goes
        "utterances": len(embeddings),
        "extracted": result.extracted,
        "reused": result.already_done,
        "skipped": len(result.skipped),
    }
    return embeddings, found, record


def _provenance(source: AudioSource, loaded, folder: Path, records: dict) -> dict:
    from sveval.io.ark import read_manifest  # noqa: PLC0415

    manifest = read_manifest(folder) or {}
    return {
        "path": str(source.model),
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


@dataclass(frozen=True)
class ExportJob:
    """`sveval export-onnx`'s options: the checkpoint (file, folder or published name), the .onnx file to
    write, and a .npy mean vector subtracted inside the graph (None: none)."""

    model: str
    out: str
    arch: str | None = None
    mean_vec: str | None = None
    progress: bool = True


@dataclass(frozen=True)
class Exported:
    """The .onnx file written and what it holds."""

    path: Path
    arch: str
    summary: dict


def export(job: ExportJob) -> Exported:
    """A checkpoint sveval loads as an ONNX graph in WeSpeaker's runtime contract (`sveval.models.export`)."""
    from sveval.models import require_torch  # noqa: PLC0415

    require_torch()
    from sveval.io.embeddings import read_mean_vector  # noqa: PLC0415
    from sveval.io.output_folder import refuse_output_over_input  # noqa: PLC0415
    from sveval.models.checkpoint import LoadedModel  # noqa: PLC0415
    from sveval.models.export import export_onnx  # noqa: PLC0415

    refuse_output_over_input(job.out, [job.model, job.mean_vec])
    loaded = load_model(job.model, job.arch, job.progress)
    refuse_output_over_input(job.out, [loaded.checkpoint])  # a published name's file, or a folder's
    if not isinstance(loaded, LoadedModel):
        raise InputError(
            "--model is already an ONNX graph; export-onnx takes a PyTorch checkpoint", job.model
        )
    vector = read_mean_vector(job.mean_vec, loaded.model.embed_dim) if job.mean_vec else None
    path = export_onnx(loaded, job.out, vector)
    summary = {
        "onnx": str(path),
        "checkpoint": str(loaded.checkpoint),
        "arch": loaded.arch,
        "mean_vec": job.mean_vec,
        "input": f"feats (B, T, {loaded.fbank.num_mel_bins})",
        "output": f"embs (B, {loaded.model.embed_dim})",
    }
    return Exported(path, loaded.arch, summary)
