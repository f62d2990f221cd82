"""Released model folders: what is in them, what their file names say, and the trial lists they need.

A release folder (as the Golden Gemini releases ship them) looks like

    <release>/config.yaml                 training configuration (WeSpeaker), names the architecture
    <release>/models/model_165.pt         checkpoint(s)
    <release>/scores/vox2_dev_asnorm300_vox1_O_cleaned.kaldi.score ...
    <release>/scores/vox1_cos_result, vox1_snorm300_result, vox1_asnorm300_result
    <release>/scores/*.png                DET plots

Names follow WeSpeaker's scripts: `<list>.score` (cosine), `<cohort>_snorm_<list>.score`,
`<cohort>_asnorm<N>_<list>.score`; result files `<eval>_cos_result`, `<eval>_snorm<N>_result` (score_norm.sh
appends the top-N even for s-norm, whose score file does not carry it), `<eval>_asnorm<N>_result`, each
written by `compute_metrics.py ... | tee -a`, so a block may appear more than once.

`sveval calibrate` and `sveval fuse` add `cali_<score file>` / `fused_<score file>` (the input's name with a
prefix) and one result file per output, `<output without .score>.result`: per operating point WeSpeaker's
block and an `actDCF (...) = x` line, then `Cllr = x bits, minCllr = y bits` and `signature: ...`.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, replace
from pathlib import Path

from sveval.errors import InputError, shown_id
from sveval.io.atomic import read_text
from sveval.io.catalog import builtin, check_against_manifest, load_manifest, load_trials
from sveval.io.fields import read_source_text
from sveval.io.output_folder import current_files
from sveval.io.results import numbered_lines, parse_block_lines, parse_result_file
from sveval.io.trials import read_trials
from sveval.types import ResultBlock, TrialList

METHODS = ("cos", "snorm", "asnorm")
# file names may hold any character but `/` (a newline too): DOTALL, matched with fullmatch (`$` would
# also match before a final newline)
_SCORE_NAME = re.compile(
    r"(?:(?P<cohort>.+?)_(?P<method>snorm|asnorm)(?P<top_n>\d*)_)?(?P<list>.+)\.score", re.S
)
_RESULT_NAME = re.compile(r"(?P<eval>.+)_(?P<method>cos|snorm|asnorm)(?P<top_n>\d*)_result", re.S)
_NUMBER = re.compile(r"= (\S+)$")
_ACT_DCF = re.compile(r"^actDCF \(p_target:(\S+) c_miss:(\S+) c_fa:(\S+)\) = (-?\d+(?:\.\d+)?)$")
_CLLR = re.compile(r"^Cllr = (-?\d+(?:\.\d+)?) bits, minCllr = (-?\d+(?:\.\d+)?) bits$")
_SIGNATURE = re.compile(r"^signature: \S")
# put before the input's name by `sveval calibrate` / `sveval fuse` (WeSpeaker names calibrated files cali_*)
CALIBRATED_PREFIXES = {"cali_": "calibrated", "fused_": "fused"}
LLR_RESULT_SUFFIX = ".result"


@dataclass(frozen=True)
class ScoreName:
    """What a score file's name says. list_basename is the trial file's name (`vox1_O_cleaned.kaldi`),
    list_name the built-in name it refers to (`vox1_O_cleaned`), or the basename when it is no built-in."""

    file: str
    method: str
    top_n: int | None
    cohort: str | None
    list_basename: str
    list_name: str
    prefix: str = ""  # `cali_` or `fused_` for the output of `sveval calibrate` / `sveval fuse`

    @property
    def trials(self) -> str:
        """The list as reports name it: the built-in name, else the trial file's name without `.kaldi`."""
        return self.list_name.removesuffix(".kaldi")

    @property
    def describe(self) -> str:
        method = {"cos": "cosine", "snorm": "s-norm", "asnorm": "AS-norm"}[self.method]
        if self.top_n is not None:
            method += f" top-{self.top_n}"
        if self.cohort:
            method += f", cohort {self.cohort}"
        if self.prefix:
            method += f", {CALIBRATED_PREFIXES[self.prefix]}"
        return f"{method}, trials {self.list_name}"


@dataclass(frozen=True)
class ResultName:
    """What a result file's name says: `vox1_asnorm300_result` -> eval vox1, asnorm, 300. A calibrated or
    fused output's result file (`cali_<stem>.result`) holds the block of one score file, `score_file`
    (`cali_<stem>.score`); it has no eval name, and method/top_n are those of the calibrated input."""

    file: str
    eval_name: str | None
    method: str
    top_n: int | None
    score_file: str | None = None


@dataclass(frozen=True)
class ResultEntry:
    """One block of a result file with where it is and the numbers exactly as printed."""

    block: ResultBlock
    line: int
    eer_text: str
    min_dcf_text: str
    # calibrated/fused result files only: the actDCF at the block's operating point, the file's Cllr/minCllr
    act_dcf_text: str | None = None
    cllr_text: str | None = None
    min_cllr_text: str | None = None

    @property
    def score_file(self) -> str:
        """The score file's name as it would sit in the folder (a header holding a path is reduced to it)."""
        return os.path.basename(self.block.score_file)


@dataclass(frozen=True)
class RefusedEntry:
    """An entry of the folder that validation does not open: its name (relative to the release folder,
    raw: displays escape it) and why."""

    name: str
    reason: str


@dataclass(frozen=True)
class ReleaseFolder:
    """The files of a release folder that validation looks at, each list sorted by name."""

    root: Path
    scores_dir: Path
    score_files: tuple[Path, ...]
    result_files: tuple[Path, ...]
    config: Path | None
    checkpoints: tuple[Path, ...]
    det_plots: tuple[Path, ...]
    onnx_files: tuple[Path, ...] = ()  # WeSpeaker runtime models (avg_model.onnx) beside the checkpoints
    refused: tuple[RefusedEntry, ...] = ()  # entries validation would read but must not open
    record: dict | None = None  # sveval's own results.json in scores_dir, as parsed while listing


def is_score_file(file_name: str) -> bool:
    """A score file's name: `.score`, or `.score.gz` (gzip: read as the score file it names)."""
    return file_name.endswith((".score", ".score.gz"))


def is_result_file(file_name: str) -> bool:
    """A result file's name as validation lists them: any `*_result` (one it cannot read then fails its
    check), or a calibrated output's `cali_<stem>.result` (`parse_result_name`)."""
    return file_name.endswith("_result") or parse_result_name(file_name) is not None


def score_files_of(paths, folder) -> list:
    """The score files among `paths` (`is_score_file`); InputError where a `.score` and its `.score.gz` are
    both there: both would be read as the one score file the result files name, and which one a check or
    a report took would be a matter of listing order."""
    scores = [p for p in paths if is_score_file(p.name)]
    names = {p.name for p in scores}
    twins = sorted(n for n in names if n.endswith(".score") and f"{n}.gz" in names)
    if twins:
        raise InputError(
            f"both {twins[0]} and {twins[0]}.gz are here: they claim one score file name; keep one of them",
            shown_id(folder),
        )
    return scores


def parse_score_name(file_name: str) -> ScoreName | None:
    """Split a WeSpeaker score-file name; None when it does not end in `.score` (or `.score.gz`: the name
    is that of the score file inside). A `cali_`/`fused_` prefix (`sveval calibrate`/`fuse`) is taken off
    first and kept in `prefix`: the rest is the input's name."""
    file = os.path.basename(file_name).removesuffix(".gz")
    prefix = next((p for p in CALIBRATED_PREFIXES if file.startswith(p)), "")
    match = _SCORE_NAME.fullmatch(file.removeprefix(prefix))
    if not match:
        return None
    method = match.group("method") or "cos"
    top_n = int(match.group("top_n")) if match.group("top_n") else None
    basename = match.group("list")
    return ScoreName(file, method, top_n, match.group("cohort"), basename, _list_name(basename), prefix)


def _list_name(basename: str) -> str:
    """`vox1_O_cleaned.kaldi` -> `vox1_O_cleaned`; `veri_test2.txt` -> `vox1_O_cleaned` (its source file)."""
    stem = basename[: -len(".kaldi")] if basename.endswith(".kaldi") else basename
    if builtin(stem):
        return stem
    for entry in load_manifest()[1].values():
        if entry.source == basename:
            return entry.name
    return basename


def _names_of(trials: TrialList) -> set[str]:
    """What score files of this list may be named after: its built-in name, its file name, its basename
    (`vox1_O_cleaned.kaldi`), each also without `.kaldi`."""
    names = {trials.name, trials.basename} | ({trials.builtin} if trials.builtin else set())
    return names | {n.removesuffix(".kaldi") for n in names}


def list_for(parsed: ScoreName, trials: tuple[TrialList, ...]) -> TrialList | None:
    """The --trials list a score file's name points to (`vox2_dev_asnorm300_vox1_O_cleaned.kaldi.score` ->
    vox1_O_cleaned, whether given by name or as a path to veri_test2.txt; `mine.txt.score` -> mine.txt), or
    None."""
    named = {parsed.trials, parsed.list_name, parsed.list_basename}
    return next((t for t in trials if named & _names_of(t)), None)


def only_list(parsed: ScoreName, trials: tuple[TrialList, ...]) -> TrialList | None:
    """For a 3-column file whose name points to no --trials list: the one list given, unless the file's name
    points to another built-in list (its coverage is checked, so a wrong list is an error, not numbers)."""
    if len(trials) == 1 and builtin(parsed.trials) is None:
        return trials[0]
    return None


def parse_result_name(file_name: str) -> ResultName | None:
    """`<eval>_<method>[N]_result`, or a calibrated/fused output's `cali_<stem>.result`; None otherwise."""
    file = os.path.basename(file_name)
    if file.endswith(LLR_RESULT_SUFFIX):
        score = parse_score_name(file.removesuffix(LLR_RESULT_SUFFIX) + ".score")
        if score is None or not score.prefix:
            return None
        return ResultName(file, None, score.method, score.top_n, score.file)
    match = _RESULT_NAME.fullmatch(file)
    if not match:
        return None
    top_n = int(match.group("top_n")) if match.group("top_n") else None
    return ResultName(file, match.group("eval"), match.group("method"), top_n)


def result_matches_score(result: ResultName, score: ScoreName) -> bool:
    """Whether a score file's block belongs in this result file (s-norm result names carry an unused N); a
    calibrated/fused output's block belongs in its own result file only."""
    if result.score_file is not None or score.prefix:
        return result.score_file == score.file
    if result.method != score.method:
        return False
    return result.method != "asnorm" or result.top_n == score.top_n


def expected_result_name(score: ScoreName, eval_name: str = "vox1") -> str:
    if score.prefix:
        return score.file.removesuffix(".score") + LLR_RESULT_SUFFIX
    top_n = "" if score.top_n is None or score.method == "cos" else str(score.top_n)
    return f"{eval_name}_{score.method}{top_n}_result"


def guess_eval_name(result_files) -> str:
    """The eval-set name the folder's WeSpeaker result files use most (`synthetic_vox1_cos_result` ->
    synthetic_vox1), for naming a missing one; `vox1` when none says. Calibrated result files have none."""
    names = [
        r.eval_name for p in result_files if (r := parse_result_name(os.path.basename(p))) and r.eval_name
    ]
    return max(sorted(set(names)), key=names.count) if names else "vox1"


def read_result_entries(path: str | os.PathLike) -> list[ResultEntry]:
    """Blocks of a result file with their header line numbers and the printed number strings (a calibrated
    output's `.result` file: with its actDCF, Cllr and minCllr as printed too)."""
    text = read_source_text(path, "result file")
    name = parse_result_name(os.path.basename(path))
    if name is not None and name.score_file is not None:
        return _read_llr_entries(text, str(path))
    blocks = parse_result_file(text, str(path))  # strict: raises InputError naming file and line
    lines = numbered_lines(text, str(path))
    entries = []
    for block, k in zip(blocks, range(0, len(lines), 3)):
        eer_text = _NUMBER.search(lines[k + 1][1]).group(1)
        dcf_text = _NUMBER.search(lines[k + 2][1]).group(1)
        entries.append(ResultEntry(block, lines[k][0], eer_text, dcf_text))
    return entries


def _read_llr_entries(text: str, source: str) -> list[ResultEntry]:
    """Strict: per operating point header, EER, minDCF and actDCF lines; then the Cllr and signature lines."""
    lines = numbered_lines(text, source)
    if not lines:
        raise InputError("empty result file", source)
    blocks, k = [], 0
    while k < len(lines) and lines[k][1].startswith("---- "):
        block = parse_block_lines(lines[k : k + 3], source)
        act = _ACT_DCF.match(lines[k + 3][1]) if k + 3 < len(lines) else None
        if act is None or _numbers(act.group(1, 2, 3)) != (block.p_target, block.c_miss, block.c_fa):
            where = lines[min(k + 3, len(lines) - 1)]
            raise InputError(
                f"expected `actDCF (p_target:{block.p_target:g} ...) = <value>`", source, where[0]
            )
        eer, dcf = (_NUMBER.search(lines[k + j][1]).group(1) for j in (1, 2))
        blocks.append((block, lines[k][0], eer, dcf, act.group(4)))
        k += 4
    if not blocks:
        raise InputError(f"expected `---- <score file> -----`, found {lines[0][1]!r}", source, lines[0][0])
    rest = lines[k:]
    cllr = _CLLR.match(rest[0][1]) if rest else None
    if cllr is None:
        where = rest[0] if rest else lines[-1]
        raise InputError("expected `Cllr = <bits> bits, minCllr = <bits> bits`", source, where[0])
    if len(rest) != 2 or not _SIGNATURE.match(rest[1][1]):
        where = rest[1] if len(rest) > 1 else rest[0]
        raise InputError("expected one `signature: ...` line to end the file", source, where[0])
    return [
        ResultEntry(block, line, eer, dcf, act, cllr.group(1), cllr.group(2))
        for block, line, eer, dcf, act in blocks
    ]


def _numbers(texts) -> tuple[float, ...] | None:
    """The texts as floats, None when one is no number (`p_target:x`)."""
    try:
        return tuple(float(t) for t in texts)
    except ValueError:
        return None


def discover_release(path: str | os.PathLike) -> ReleaseFolder:
    """Find the files of a release folder (containing `scores/`) or of a scores folder itself.

    Validation stays inside the folder: an entry it would read (a score, result, config, checkpoint or
    .onnx file) must be a regular file there, or a symbolic link to one that stays inside. A link leaving
    the folder, a broken link, a FIFO, socket, device or folder under such a name is listed in `refused`
    (decided by lstat/stat alone: it is never opened, since opening a FIFO blocks and reading a link to
    /etc/shadow would print its first line in a parse error)."""
    given = Path(path)
    try:
        st = os.stat(given)
    except OSError as exc:
        what = "no such folder" if isinstance(exc, FileNotFoundError) else f"cannot read: {exc.strerror}"
        raise InputError(what, shown_id(given)) from None
    if not stat.S_ISDIR(st.st_mode):
        raise InputError("expected a release folder (containing scores/) or a scores folder", shown_id(given))
    root = given
    scores_dir = root / "scores" if (root / "scores").is_dir() else root
    if scores_dir == root and root.name == "scores":
        root = root.parent
    # the folder: what the user named, and the release around a scores folder they named
    inside = (Path(os.path.realpath(given)), Path(os.path.realpath(root)))
    refused: list[RefusedEntry] = []
    why = _refusal(scores_dir, inside, folder=True) if scores_dir != root else ""
    if why:
        raise InputError(f"{why}; nothing in it is validated", shown_id(scores_dir))
    entries = [p for p in _list_dir(scores_dir) if not p.name.startswith(".")]  # e.g. an interrupted write
    current = current_files(scores_dir)
    if current is not None:  # written by sveval: what its records list, as they wrote it, and nothing else
        entries = [p for p in entries if p.name in current.names]
        refused += [
            RefusedEntry(
                _shown_relative(scores_dir / name, root),
                "changed (or gone) since sveval wrote it: its record lists another size or SHA-256",
            )
            for name in current.changed
            if is_score_file(name) or parse_result_name(name) is not None  # what validation reads
        ]
        refused += [
            RefusedEntry(_shown_relative(scores_dir / record, root), f"its outputs were made from an earlier "
                         f"{source}, which has been rewritten since: rerun that command")  # fmt: skip
            for record, source in current.stale
        ]
    score_files = _keep(score_files_of(entries, scores_dir), scores_dir, inside, refused)
    result_files = _keep(
        [p for p in entries if is_result_file(p.name)],
        scores_dir,
        inside,
        refused,
    )
    if not score_files and not result_files and not refused:
        raise InputError(
            "no score files (*.score) or result files (*_result) here: expected a release folder "
            "containing scores/, or a scores folder",
            shown_id(scores_dir),
        )
    models = root / "models"
    folders = [root]
    if os.path.isdir(models):
        why = _refusal(models, inside, folder=True)
        if why:  # reported once, as a folder: nothing in it is looked at
            refused.append(RefusedEntry(_shown_relative(models, root), why))
        else:
            folders.append(models)
    configs = [folder / "config.yaml" for folder in folders if os.path.lexists(folder / "config.yaml")]
    config = next(iter(_keep(configs[:1], root, inside, refused)), None)
    model_files = [p for folder in folders for p in _list_dir(folder)]
    checkpoints = _keep([p for p in model_files if p.suffix == ".pt"], root, inside, refused)
    onnx_files = _keep([p for p in model_files if p.suffix == ".onnx"], root, inside, refused)
    plots = tuple(p for p in entries if p.suffix.lower() == ".png" and not _refusal(p, inside))  # never read
    return ReleaseFolder(
        root,
        scores_dir,
        score_files,
        result_files,
        config,
        checkpoints,
        plots,
        onnx_files,
        tuple(refused),
        current.documents.get("results.json") if current is not None else None,
    )


def _keep(paths: list[Path], base: Path, inside, refused: list) -> tuple[Path, ...]:
    """The paths that are regular files inside the folder; the others go to `refused` with the reason,
    named relative to `base` as the other checks name them (`x.score`, `models/avg_model.pt`)."""
    kept = []
    for p in paths:
        why = _refusal(p, inside)
        if why:
            refused.append(RefusedEntry(_shown_relative(p, base), why))
        else:
            kept.append(p)
    return tuple(kept)


def _refusal(path: Path, inside, folder: bool = False) -> str:
    """Why validation must not open `path` ('' when it may): a link that leaves the folder or leads
    nowhere, or something other than a regular file (a folder, with folder=True). Only lstat and stat:
    nothing is opened and no link target's name or content is shown."""
    try:
        st = os.lstat(path)
    except OSError as exc:
        return f"cannot be examined: {exc.strerror}"
    target = Path(os.path.realpath(path))  # every component: `models` itself may be the link
    if not any(target == top or top in target.parents for top in inside):
        if stat.S_ISLNK(st.st_mode):
            return "a symbolic link leading outside the folder: not followed"
        return "reached through a symbolic link leading outside the folder: not followed"
    if stat.S_ISLNK(st.st_mode):
        try:
            st = os.stat(path)
        except OSError:
            return "a symbolic link that leads nowhere (broken, or a loop)"
    wanted = stat.S_ISDIR if folder else stat.S_ISREG
    if wanted(st.st_mode):
        return ""
    kind = next((word for test, word in _KINDS if test(st.st_mode)), "special file")
    return f"a {kind}, not a {'folder' if folder else 'regular file'}: not opened"


_KINDS = (
    (stat.S_ISFIFO, "FIFO (named pipe)"),
    (stat.S_ISSOCK, "socket"),
    (stat.S_ISCHR, "character device"),
    (stat.S_ISBLK, "block device"),
    (stat.S_ISDIR, "folder"),
    (stat.S_ISREG, "regular file"),
)


def _shown_relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def _list_dir(folder: Path) -> list[Path]:
    try:
        return sorted(folder.iterdir())
    except OSError as exc:
        raise InputError(f"cannot read folder: {exc.strerror or exc}", shown_id(folder)) from exc


def resolve_trials(list_name: str, trials_dir: str | os.PathLike | None = None) -> TrialList:
    """The trial list a score file names, never downloaded.

    With `trials_dir`, a file there wins (the built-in's source file or `<name>.kaldi`, or for other names
    the file `<list basename>` itself); otherwise the usual look-up ($SVEVAL_TRIALS_DIR, then the cache).
    A built-in list is verified against the manifest wherever it comes from. Raises InputError with the
    hint saying where to put the file.
    """
    entry = builtin(list_name)
    if trials_dir is not None:
        names = (entry.source, entry.kaldi_name) if entry else (list_name,)
        for file_name in names:
            candidate = Path(trials_dir) / file_name
            if candidate.is_file():
                if entry is None:
                    return load_trials(candidate)
                trials = read_trials(candidate, name=entry.name, basename=entry.kaldi_name)
                check_against_manifest(trials, entry)
                return replace(trials, builtin=entry.name)
    if entry is not None:
        return load_trials(list_name, download=False)
    where = f"--trials-dir ({trials_dir})" if trials_dir is not None else "a folder passed with --trials-dir"
    raise InputError(f"{list_name} is not a built-in trial list; put the file {list_name} into {where}")


@dataclass(frozen=True)
class ModelConfig:
    """The part of a WeSpeaker config.yaml that says which network the checkpoint belongs to."""

    path: str
    model: str | None
    feat_dim: object
    embed_dim: object
    exp_dir: str | None


def read_model_config(path: str | os.PathLike) -> ModelConfig:
    """`model`, `model_args.feat_dim`, `model_args.embed_dim` (and `exp_dir`) via yaml.safe_load.

    Raises InputError when the file is not YAML or not a mapping; missing keys come back as None so the
    caller can say which is missing. Needs pyyaml (the `model` extra): ImportError otherwise.
    """
    import yaml

    text = read_text(path, "config file")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise InputError(f"not valid YAML: {getattr(exc, 'problem', None) or exc}", str(path), line) from None
    if not isinstance(data, dict):
        raise InputError("expected a YAML mapping (WeSpeaker config)", str(path))
    args = data.get("model_args") if isinstance(data.get("model_args"), dict) else {}
    model = data.get("model")
    exp_dir = data.get("exp_dir")
    return ModelConfig(
        str(path),
        str(model) if model is not None else None,
        args.get("feat_dim"),
        args.get("embed_dim"),
        str(exp_dir) if exp_dir is not None else None,
    )
