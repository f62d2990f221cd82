"""Reports: results of one or more systems rendered as markdown (laid out like the Golden Gemini release
README) or as a JSON-ready dict. Pure: the numbers arrive in `System`/`Row` objects, nothing is read here.

Table: one row per system and scoring method, two columns per trial list (`Vox1-O EER | Vox1-O MinDCF`),
EER in percent and minDCF with 3 decimals: the numbers of the result files, unchanged.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from sveval.io.release import CALIBRATED_PREFIXES
from sveval.reporting.det import DetPlotCurve
from sveval.reporting.published import PublishedTable
from sveval.stats.bootstrap import BootstrapCI, GroupResult

# Column titles of the trial lists, in the order columns are shown. The released tables call the cleaned
# lists Vox1-O/E/H; the original (uncleaned) lists keep a mark so the two are never confused.
LIST_TITLES = {
    "vox1_O_cleaned": "Vox1-O",
    "vox1_E_cleaned": "Vox1-E",
    "vox1_H_cleaned": "Vox1-H",
    "vox1_O": "Vox1-O (original)",
    "vox1_E": "Vox1-E (original)",
    "vox1_H": "Vox1-H (original)",
}
UNKNOWN = "unknown"
_FIRST_COMPONENT = "speaker = first path component of the utterance id (VoxCeleb ids)"


def method_title(method: str, top_n: int | None = None) -> str:
    """'cos' -> 'cosine', 'snorm' -> 'S-norm', 'asnorm' + 300 -> 'AS-norm (top 300)'; a calibrated or fused
    file's method ('cali_asnorm', 'fused_cos') adds ', calibrated' or ', fused'."""
    for prefix, word in CALIBRATED_PREFIXES.items():
        if method.startswith(prefix):
            return f"{method_title(method.removeprefix(prefix), top_n)}, {word}"
    if method == "cos":
        return "cosine"
    if method == "snorm":
        return "S-norm"
    if method == "asnorm":
        return f"AS-norm (top {top_n})" if top_n else "AS-norm"
    return method


def list_title(name: str) -> str:
    return LIST_TITLES.get(name, name)


@dataclass(frozen=True)
class Row:
    """One score file's numbers. eer_percent/min_dcf are what the result file prints (origin says where
    they come from); counts, DET image and analyses are optional."""

    method: str
    trials: str
    eer_percent: float
    min_dcf: float
    origin: str
    p_target: float = 0.01
    c_miss: float = 1.0
    c_fa: float = 1.0
    top_n: int | None = None
    cohort: str | None = None
    score_file: str | None = None
    n_target: int | None = None
    n_nontarget: int | None = None
    det_image: str | None = None
    bootstrap: BootstrapCI | None = None
    genders: tuple[GroupResult, ...] = ()
    curve: DetPlotCurve | None = field(default=None, repr=False)  # for drawing; not rendered
    n_dropped: int = 0  # trials of the list left out (--allow-missing): the numbers cover fewer trials
    # calibrated score files (`cali_*`, `fused_*`) only: the scores read as natural-log LLRs
    act_dcf: float | None = None
    cllr: float | None = None
    min_cllr: float | None = None
    # a score file that was read but gave no counts (no labels): what the Trials table says instead
    counts_note: str | None = None
    # `report --groups`: per-group rows and fairness figures (sveval.stats.subgroups.SubgroupResult)
    subgroups: object | None = None


@dataclass(frozen=True)
class System:
    """A folder's results. provenance: ordered (field, value) pairs, a value may say it is unknown."""

    name: str
    folder: str
    rows: tuple[Row, ...]
    provenance: tuple[tuple[str, str], ...] = ()
    overlays: tuple[str, ...] = ()
    fingerprints: dict[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    speakers: str = ""  # how ids were mapped to speakers (SpeakerMap.describe()), where analyses used it

    def row_title(self, row: Row) -> str:
        """The row's method as the tables name it, with its score file where another file of this folder
        gives the same method of the same list (a Kaldi folder's `voxceleb1_test.score` and `plda.score`,
        both read as cosine): each keeps a line of its own, never one cell for two files."""
        key = (row.method, row.top_n, row.cohort, row.trials)
        same = [r for r in self.rows if (r.method, r.top_n, r.cohort, r.trials) == key]
        title = method_title(row.method, row.top_n)
        return f"{title} (`{row.score_file}`)" if len(same) > 1 and row.score_file else title


@dataclass(frozen=True)
class ReportInfo:
    """About the report itself: who made it, how, when."""

    sveval_version: str
    command: str
    date: str
    title: str = "sveval report"


def _column_lists(systems, published: PublishedTable | None) -> list[str]:
    names = [r.trials for s in systems for r in s.rows]
    if published is not None:
        names += [n for row in published.rows for n in row.results]
    order = list(LIST_TITLES)
    known = [n for n in order if n in names]
    return known + list(dict.fromkeys(n for n in names if n not in LIST_TITLES))


def _cells(values: dict, lists: list[str]) -> list[str]:
    """EER and MinDCF cells per list; values: list -> (eer %, min_dcf[, n_dropped]). A list scored on fewer
    trials than it has (--allow-missing) is marked in its EER cell, `1.234 (12 dropped)`."""
    cells = []
    for name in lists:
        eer, dcf, *dropped = values.get(name, (None, None))
        mark = f" ({dropped[0]:,} dropped)" if dropped and dropped[0] else ""
        cells += ["—" if eer is None else f"{eer:.3f}{mark}", "—" if dcf is None else f"{dcf:.3f}"]
    return cells


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def results_table(systems, published: PublishedTable | None = None) -> str:
    """The main table: one line per system and method, EER (%) and MinDCF per trial list."""
    lists = _column_lists(systems, published)
    header = ["System", "Method"] + [f"{list_title(n)} {k}" for n in lists for k in ("EER", "MinDCF")]
    body = []
    for system in systems:
        # one line per method, or per score file where two files give one method of one list (row_title)
        lines = list(dict.fromkeys((r.method, r.top_n, r.cohort, system.row_title(r)) for r in system.rows))
        for method, top_n, cohort, title in lines:
            values = {
                r.trials: (r.eer_percent, r.min_dcf, r.n_dropped)
                for r in system.rows
                if (r.method, r.top_n, r.cohort, system.row_title(r)) == (method, top_n, cohort, title)
            }
            body.append([system.name, title] + _cells(values, lists))
    if published is not None:
        for row in published.rows:
            label = f"{row.model} ({row.params_millions:.2f} M), published"
            body.append([label, method_title(row.method, row.top_n)] + _cells(row.results, lists))
    return _table(header, body)


def _where_numbers_come_from(systems) -> str:
    """'as printed in the result files', or which numbers sveval computed (score files without a result
    block, `Row.origin`)."""
    rows = [r for s in systems for r in s.rows]
    computed = [f"`{r.score_file}`" for r in rows if r.origin.startswith("computed by sveval")]
    if not computed:
        return "as printed in the result files"
    if len(computed) == len(rows):
        return "computed by sveval from the score files (no result files): " + ", ".join(computed)
    return (
        "as printed in the result files, except those of " + ", ".join(computed)
        + ", computed by sveval (score files without a result block)"
    )


def _operating_points(systems) -> str:
    points = sorted({(r.p_target, r.c_miss, r.c_fa) for s in systems for r in s.rows})
    return "; ".join(f"p_target {p:g}, c_miss {cm:g}, c_fa {cf:g}" for p, cm, cf in points) or "none"


def _counts_table(systems) -> str:
    body = []
    for system in systems:
        seen = {}
        for r in system.rows:
            seen.setdefault(r.trials, r)
        for name, r in seen.items():
            fp = system.fingerprints.get(name)
            fp_cell = f"`{fp}`" if fp else UNKNOWN
            if r.n_target is not None and r.n_nontarget is not None:
                counts = [f"{r.n_target + r.n_nontarget:,}", f"{r.n_target:,}", f"{r.n_nontarget:,}"]
            elif r.counts_note:  # read, but without labels: say what it is, never "unknown"
                counts, fp_cell = [r.counts_note, "—", "—"], fp_cell if fp else "—"
            else:  # a result block whose score file is not in the folder: nothing was read
                counts = [UNKNOWN] * 3
            body.append([system.name, name, *counts, fp_cell])
    return _table(["System", "Trial list", "Trials", "Target", "Nontarget", "Fingerprint (sha256)"], body)


def _ci(low: float, high: float, scale: float = 1.0) -> str:
    return f"[{scale * low:.3f}, {scale * high:.3f}]"


def _analyses(systems) -> list[str]:
    out = []
    rows = [(s, r) for s in systems for r in s.rows if r.bootstrap is not None]
    if rows:
        b = rows[0][1].bootstrap
        out.append("## Confidence intervals (speaker-clustered bootstrap)\n")
        out.append(
            f"95 % percentile intervals from {b.n:,} replicates (seed {b.seed}). Each replicate draws the "
            "speakers of the list with replacement, as many draws as there are speakers; a nontarget trial "
            "between speakers a and b is repeated m_a·m_b times and a target trial of speaker a m_a times "
            "(m = how often a speaker was drawn; a trial with an undrawn speaker not at all), and the NIST "
            "EER and minDCF of that weighted list are computed with the per-trial sweep. Because m_a·m_b "
            "counts what is particular to a speaker pair three times (Owen's pigeonhole bootstrap), as many "
            "replicates resample the pairs of two speakers alone, and the speaker replicates are rescaled "
            "about the list's figure to the variance V_speaker − 2·V_pair (at least V_speaker / 3), times "
            "the few-clusters factor S/(S−1)·(t_{S−1}/z)² (S speakers; 1.09 for 40, 1.003 for 1,251), never "
            "beyond the speaker stage's own spread. A "
            "replicate that draws no target or no nontarget trial has no EER: it is dropped, and the "
            "intervals are percentiles of the others (column Dropped).\n"
        )
        body = [
            [s.name, s.row_title(r), r.trials, str(r.bootstrap.n_speakers)]
            + [f"{r.bootstrap.n_dropped:,}"]
            + [f"{r.eer_percent:.3f}", _ci(r.bootstrap.eer_low, r.bootstrap.eer_high, 100)]
            + [f"{r.min_dcf:.3f}", _ci(r.bootstrap.min_dcf_low, r.bootstrap.min_dcf_high)]
            for s, r in rows
        ]
        header = ["System", "Method", "Trial list", "Speakers", "Dropped", "EER %", "95 % CI", "MinDCF"]
        header.append("95 % CI")
        out.append(_table(header, body))
    rows = [(s, r) for s in systems for r in s.rows if r.genders]
    if rows:
        out.append("## By gender pairing\n")
        mapped = "; ".join(dict.fromkeys(s.speakers for s, _ in rows if s.speakers)) or _FIRST_COMPONENT
        out.append(
            f"{mapped[:1].upper()}{mapped[1:]}, gender from the metadata file. Same-gender "
            "groups: EER (%) and minDCF of the trials whose two speakers both have that gender. Cross-gender "
            "trials are all nontargets: their false-alarm rate (%) at the pooled EER and minDCF thresholds "
            "(accept iff score > threshold).\n"
        )
        body = []
        for s, r in rows:
            for g in r.genders:
                if g.eer is not None:
                    numbers = [f"{100 * g.eer:.3f}", f"{g.min_dcf:.3f}", "—", "—"]
                else:
                    fa = [g.fa_at_eer_threshold, g.fa_at_dcf_threshold]
                    numbers = ["—", "—"] + ["—" if x is None else f"{100 * x:.3f}" for x in fa]
                name = [s.name, s.row_title(r), r.trials, g.group]
                body.append(name + [f"{g.n_target:,}", f"{g.n_nontarget:,}"] + numbers)
        header = ["System", "Method", "Trial list", "Pairing", "Target", "Nontarget", "EER %", "MinDCF"]
        out.append(_table(header + ["FA % at EER thr.", "FA % at minDCF thr."], body))
    return out


def _pct(x) -> str:
    return "—" if x is None else f"{100 * x:.3f}"


def _figure(x: float) -> str:
    return "∞" if x == float("inf") else f"{x:.3f}"


def _figure_ci(ci, figure: float | None = None) -> str:
    """The interval; marked † where it leaves out the figure itself (see OUTSIDE_NOTE)."""
    if ci is None:
        return "—"
    outside = figure is not None and not ci[0] <= figure <= ci[1]
    return f"[{_figure(ci[0])}, {_figure(ci[1])}]" + (" †" if outside else "")


# Why a fairness interval can leave out its own figure, said under the table where it happens.
OUTSIDE_NOTE = (
    "† The interval does not contain the figure itself. FDR (at most 1), GARBE (at least 0) and max/min "
    "(at least 1) are bounded at 'fair' and measure the spread between groups: resampling adds spread, so "
    "their replicates lean away from fair and a percentile interval can lie wholly on the unfair side of a "
    "figure that is close to fair. Read such an interval as 'no evidence of more unfairness than its upper "
    "end', not as a confirmed gap."
)


def subgroup_sections(systems) -> list[str]:
    """`report --groups`: per-group rows and fairness figures (see sveval.stats.subgroups for the
    definitions)."""
    rows = [(s, r) for s in systems for r in s.rows if r.subgroups is not None]
    if not rows:
        return []
    first = rows[0][1].subgroups
    rules = dict(rule for _, r in rows for rule in r.subgroups.rules)
    out = ["## Subgroups\n"]
    out.append(
        "How a trial is assigned to a group: "
        + "; ".join(f"**{name}**: {rule}" for name, rule in rules.items())
        + ". Speakers: distinct speakers of the group's own trials (a video group: its target trials). "
        f"EER (%) and MinDCF at the group's own thresholds; FMR and FNMR (%) at the pooled thresholds, those "
        "of the whole list's EER and minDCF (accept iff score > threshold). A group with fewer than "
        f"{first.min_speakers} speakers (--min-speakers) or fewer than {first.min_trials} target or "
        f"nontarget trials (--min-trials; a cross row: nontarget trials) is listed with its counts only.\n"
    )
    body = []
    for s, r in rows:
        for g in r.subgroups.groups:
            head = [s.name, s.row_title(r), r.trials, g.grouping, g.group]
            counts = [f"{g.n_speakers:,}", f"{g.n_target:,}", f"{g.n_nontarget:,}"]
            if not g.reported:
                numbers = ["counts only"] + ["—"] * 5
            else:
                numbers = ["—" if g.eer is None else f"{100 * g.eer:.3f}"]
                numbers += ["—" if g.min_dcf is None else f"{g.min_dcf:.3f}"]
                numbers += [_pct(g.fmr_at_eer), _pct(g.fnmr_at_eer), _pct(g.fmr_at_dcf), _pct(g.fnmr_at_dcf)]
            body.append(head + counts + numbers)
    header = ["System", "Method", "Trial list", "Grouping", "Group", "Speakers", "Target", "Nontarget"]
    header += ["EER %", "MinDCF", "FMR % (EER thr.)", "FNMR % (EER thr.)", "FMR % (minDCF thr.)"]
    out.append(_table(header + ["FNMR % (minDCF thr.)"], body))
    fair = [(s, r, f) for s, r in rows for f in r.subgroups.fairness]
    notes = sorted({f"{s.name}, {r.score_file}: {n}" for s, r in rows for n in r.subgroups.notes})
    if fair:
        out.append("### Fairness figures at the pooled thresholds\n")
        n_boot = first.bootstrap
        intervals = (
            f"95 % percentile intervals from {n_boot:,} speaker-clustered bootstrap replicates (seed "
            f"{first.seed}, drawn as in the Confidence intervals section: speakers drawn with replacement, a "
            "trial between speakers a and b weighted m_a·m_b, without that section's pair-stage correction, "
            "so these intervals are the wider, conservative ones), the threshold held at its "
            "full-list value; a replicate in which a group has no target or no nontarget trial is dropped "
            "(column Dropped)."
            if n_boot
            else "No intervals: give --bootstrap N for speaker-clustered bootstrap intervals."
        )
        out.append(
            "Over the groups of a grouping that have numbers above (cross rows excluded), at a pooled "
            "threshold τ (the whole list's EER threshold, or its minDCF threshold), α = "
            f"{fair[0][2].alpha:g}: FDR(τ) = 1 − (α·max|FMR_i − FMR_j| + (1−α)·max|FNMR_i − FNMR_j|) "
            "(de Freitas Pereira & Marcel, IEEE T-BIOM 2022; 1 = fair); GARBE(τ) = α·G(FMR) + (1−α)·G(FNMR), "
            "G the sample Gini coefficient n/(n−1)·Σ_i Σ_j |x_i − x_j| / (2n²·mean) (Howard et al. 2022; "
            "0 = fair); max/min: the largest group rate over the smallest (∞ when the smallest is 0). "
            + intervals
            + "\n"
        )
        body = []
        for s, r, f in fair:
            body.append(
                [s.name, s.row_title(r), r.trials, f.grouping, ", ".join(f.groups)]
                + [f"{f.threshold_name} ({f.threshold:.4g})", f"{f.n_dropped:,}" if n_boot else "—"]
                + [_figure(f.fdr), _figure_ci(f.fdr_ci, f.fdr)]
                + [_figure(f.garbe), _figure_ci(f.garbe_ci, f.garbe)]
                + [_figure(f.fmr_ratio), _figure_ci(f.fmr_ratio_ci, f.fmr_ratio)]
                + [_figure(f.fnmr_ratio), _figure_ci(f.fnmr_ratio_ci, f.fnmr_ratio)]
            )
        header = ["System", "Method", "Trial list", "Grouping", "Groups", "τ", "Dropped", "FDR", "95 % CI"]
        header += ["GARBE", "95 % CI", "FMR max/min", "95 % CI", "FNMR max/min", "95 % CI"]
        out.append(_table(header, body))
        if any(" †" in cell for row in body for cell in row):
            out.append(OUTSIDE_NOTE + "\n")
    if notes:
        out.append("\n".join(f"- {n}" for n in notes) + "\n")
    return out


@dataclass(frozen=True)
class PairedTable:
    """`report --baseline`: the systems that have a score file of one method and list, compared with the
    baseline's (sveval.stats.compare.ComparisonResult, systems named as in the report); or a note why not."""

    method: str
    top_n: int | None
    trials: str
    result: object | None = None
    speakers: str = ""
    note: str | None = None


def paired_sections(paired) -> list[str]:
    """The "Paired comparisons" section (sveval.stats.compare: paired speaker-clustered bootstrap)."""
    from sveval.stats.compare import p_text  # noqa: PLC0415

    if not paired:
        return []
    out = ["## Paired comparisons\n"]
    done = [p for p in paired if p.result is not None]
    if done:
        r = done[0].result.resampling
        out.append(
            f"Each system against the baseline, on the same trials (`sveval compare`): difference = system − "
            f"baseline (EER in percentage points; lower is better for every metric), its {r.level:.0%} "
            f"percentile interval from {r.n:,} paired speaker-clustered bootstrap replicates (seed {r.seed}; "
            "each replicate draws the speakers once with replacement and weights every system's trials "
            "alike: a nontarget trial between speakers a and b m_a·m_b times, a target trial m_a times; the "
            "replicate differences rescaled about the list's difference as in the Confidence intervals "
            "section), two-sided p = min(1, 2·min(share of replicate differences ≤ 0, share ≥ 0)), "
            "Holm's correction over the systems compared with the baseline (per metric), and the share of "
            f"replicates whose ranking of the two flips. Speakers: {done[0].speakers}.\n"
        )
    for p in paired:
        out.append(f"### {method_title(p.method, p.top_n)}, {list_title(p.trials)}\n")
        if p.result is None:
            out.append(f"Not compared: {p.note}\n")
            continue
        n = p.result.resampling.n
        body = []
        for c in p.result.comparisons:
            for m in c.metrics:
                body.append(
                    [c.system, c.baseline, m.key.label(), f"{m.baseline:.3f}", f"{m.system:.3f}"]
                    + [f"{m.difference:+.3f}", f"[{m.ci[0]:+.3f}, {m.ci[1]:+.3f}]"]
                    + [p_text(m.p_value, n), p_text(m.p_holm, n, len(p.result.comparisons))]
                    + [f"{100 * m.flips:.1f} %"]
                )
        header = ["System", "Baseline", "Metric", "Baseline value", "System value", "Difference"]
        header += [f"{p.result.resampling.level:.0%} CI", "p", "p (Holm)", "Ranking flips"]
        out.append(_table(header, body))
    return out


def paired_dict(paired) -> list[dict]:
    """The JSON form: per method and list, `sveval compare --json`'s `comparisons` and the resampling."""
    from sveval.stats.compare import comparison_dict

    out = []
    for p in paired:
        entry = {"method": p.method, "top_n": p.top_n, "trials": p.trials}
        if p.result is None:
            entry["note"] = p.note
        else:
            entry.update(comparison_dict(p.result))
            entry["resampling"] = asdict(p.result.resampling)
            entry["speakers"] = p.speakers
        out.append(entry)
    return out


def calibration_table(systems) -> str:
    """Calibrated rows only: EER and minDCF, and what only LLRs have: actual DCF, Cllr, minCllr."""
    body = [
        [
            s.name,
            s.row_title(r),
            list_title(r.trials),
            f"{r.eer_percent:.3f}",
            f"{r.min_dcf:.3f}",
        ]
        + [f"{r.act_dcf:.3f}", f"{r.cllr:.3f}", f"{r.min_cllr:.3f}"]
        for s in systems
        for r in s.rows
        if r.cllr is not None
    ]
    if not body:
        return ""
    header = ["System", "Method", "Trial list", "EER %", "MinDCF", "actDCF", "Cllr", "minCllr"]
    return _table(header, body)


def render_markdown(
    systems,
    info: ReportInfo,
    published: PublishedTable | None = None,
    images: tuple[str, ...] = (),
    paired: tuple[PairedTable, ...] = (),
) -> str:
    """The whole report as markdown text; `images` are extra DET plots (paths relative to the report);
    `paired`: the paired comparisons against a baseline (`report --baseline`)."""
    parts = [f"# {info.title}\n", f"Generated by sveval {info.sveval_version} on {info.date} with:\n"]
    parts.append(f"```\n{info.command}\n```\n")
    parts.append("## Results\n")
    parts.append(results_table(systems, published))
    parts.append(
        f"EER in %, NIST/WeSpeaker definition unless the provenance says otherwise; MinDCF normalised, at "
        f"{_operating_points(systems)}. Both to 3 decimals, {_where_numbers_come_from(systems)}."
        + "".join(f" {list_title(n)} = `{n}`." for n in _column_lists(systems, None) if list_title(n) != n)
        + "\n"
    )
    if published is not None:
        parts.append(f"Published rows: {published.source}.\n")
    notes = [f"- {s.name}: {note}" for s in systems for note in s.notes]
    if notes:
        parts.append("\n".join(notes) + "\n")
    calibrated = calibration_table(systems)
    if calibrated:
        parts.append("## Calibration\n")
        parts.append(calibrated)
        parts.append(
            "Calibrated score files read as natural-log likelihood ratios: actDCF accepts (decides target) "
            "if LLR ≥ θ = log(c_fa(1-p)/(c_miss p)), the Bayes threshold, as BOSARIS fast_actDCF and NIST "
            "scorers, and is normalised like MinDCF (same operating point); Cllr "
            "and minCllr (after the optimal monotone map, PAV) in bits. Model, prior and training list: "
            "calibration.json in the folder.\n"
        )
    parts.append("## Trials\n")
    parts.append(_counts_table(systems))
    parts.extend(_analyses(systems))
    parts.extend(subgroup_sections(systems))
    parts.extend(paired_sections(paired))
    images = (
        [("all systems", i) for i in images]
        + [(s.name, i) for s in systems for i in s.overlays]
        + [(s.name, r.det_image) for s in systems for r in s.rows if r.det_image]
    )
    if images:
        parts.append("## DET plots\n")
        parts.extend(f"![{name}: {image}]({image})\n" for name, image in images)
    parts.append("## Provenance\n")
    groups: dict[tuple, list] = {}
    for system in systems:  # systems with the same provenance share one table
        groups.setdefault(system.provenance, []).append(system)
    for provenance, members in groups.items():
        folders = ", ".join(f"`{s.folder}`" for s in members)
        origins = sorted({r.origin for s in members for r in s.rows})
        rows = [["systems", ", ".join(s.name for s in members)], ["folders", folders]]
        rows += [[k, v] for k, v in provenance] + [["numbers from", "; ".join(origins)]]
        parts.append(_table(["", ""], rows))
    return "\n".join(parts)


def report_dict(
    systems, info: ReportInfo, published: PublishedTable | None = None, paired: tuple[PairedTable, ...] = ()
) -> dict:
    """The same content for machines (EER in percent as in the table; `paired_comparisons` only with
    --baseline)."""
    out = {
        "sveval_version": info.sveval_version,
        "command": info.command,
        "date": info.date,
        "systems": [
            {
                "name": s.name,
                "folder": s.folder,
                "provenance": dict(s.provenance),
                "fingerprints": dict(s.fingerprints),
                "overlays": list(s.overlays),
                "notes": list(s.notes),
                "rows": [_row_dict(r) for r in s.rows],
            }
            for s in systems
        ],
        "published": asdict(published) if published is not None else None,
    }
    if paired:
        out["paired_comparisons"] = paired_dict(paired)
    return out


def _row_dict(row: Row) -> dict:
    """A row for JSON: without the drawing data, with the LLR metrics only for calibrated rows and
    `counts_note` only where a score file was read without giving counts."""
    out = {k: v for k, v in asdict(row).items() if k != "curve"}
    if row.cllr is None:
        for key in ("act_dcf", "cllr", "min_cllr"):
            del out[key]
    if row.counts_note is None:
        del out["counts_note"]
    if row.subgroups is None:
        del out["subgroups"]
    return out
