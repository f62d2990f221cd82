"""Error curves, EER variants, minimum DCF and Cllr: pure numpy, O(n log n), one sort per score set.

``SortedScores.of(scores, is_target)`` holds one score set and the sorts its metrics read, each made once,
when first needed: every EER definition, minDCF at any operating point, the DET curve and the check of
tied scores come from it (``summary`` gives several at once). The functions ``det_curve``, ``eer``,
``min_dcf``, ``evaluate`` and ``summarize`` are the same computations on a fresh ``SortedScores``, for
one-off calls in the manner of scikit-learn's ``det_curve``.

Conventions shared by every function here (read these before quoting a number):

* Scores: higher means "more likely the same speaker". They are converted to float64; float32 input keeps
  its exact values and order.
* Operating point i: after sorting scores ascending (stable, ``kind="mergesort"``: tied scores keep
  trial order), trial i and everything sorted before it are rejected, everything after it is accepted:
      p_miss[i] = (#targets among sorted[0..i]) / T
      p_fa[i]   = 1 - (#nontargets among sorted[0..i]) / N
  and ``thresholds[i]`` = the i-th lowest score (the rule is "accept iff score > threshold" except inside
  a group of tied scores, see below). The curve has no point before the lowest score (the "accept all"
  point), exactly as WeSpeaker's ``compute_pmiss_pfa_rbst`` and Kaldi's ``compute_min_dcf.py``; minDCF and
  the NIST EER still use that point where it matters (see ``min_dcf`` and ``eer``).
* Sweeps (``SWEEPS``): ``"per-trial"`` keeps every point above; when scores tie, the points inside the
  tied group split it by trial order, so results can depend on that order (this is what WeSpeaker and
  Kaldi do). ``"tie-aware"`` (the default) keeps only the last point of each group of equal scores (one
  point per distinct score), so every point is a real threshold and results never depend on trial order:
  a system giving every trial the same score gets EER 0.5 and minDCF 1 whatever the order. Without ties
  the two sweeps give identical results.
  ``"wespeaker"`` is the per-trial sweep in the order of numpy's default (unstable) ``np.argsort``, which
  is what WeSpeaker's ``compute_pmiss_pfa_rbst`` calls: tied scores land in an order numpy leaves
  unspecified (it depends on the numpy build and the CPU's SIMD sort), so it reproduces WeSpeaker's printed
  numbers only on the same numpy and machine. On the six real Vox1-O score files printed with %.5f it
  moves EER by up to 5e-5 and minDCF(0.01) by up to 2e-4 against the stable order: enough to flip a
  third decimal now and then, which is why the stable order is used for "per-trial".
* EER values and rates are fractions in [0, 1]; multiply by 100 for the percentages people print.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from sveval.metrics.rocch import rocch_eer

SWEEPS = ("per-trial", "tie-aware", "wespeaker")
EER_DEFINITIONS = ("nist", "kaldi", "rocch")
WESPEAKER_POINT = (0.01, 1.0, 1.0)  # (p_target, c_miss, c_fa) of WeSpeaker's minDCF
COST_SLICE = 1 << 20  # detection costs are computed this many points at a time
PRINTED_DECIMALS = 3  # tie warnings compare numbers as WeSpeaker prints them: EER % and minDCF, 3 decimals


@dataclass(frozen=True)
class Eer:
    """An equal error rate as a fraction, the threshold it was read at, and which definition gave it."""

    value: float
    threshold: float
    definition: str

    @property
    def percent(self) -> float:
        """The EER in percent (100 * value), as the CLI prints it."""
        return 100 * self.value


@dataclass(frozen=True)
class Dcf:
    """Normalised minimum detection cost at one operating point (p_target, c_miss, c_fa)."""

    p_target: float
    c_miss: float
    c_fa: float
    min_dcf: float
    threshold: float


@dataclass(frozen=True, eq=False)
class DetCurve:
    """Error rates at every operating point of a sweep, thresholds ascending (arrays are read-only).

    p_miss is non-decreasing, p_fa non-increasing; the last point is always (p_miss=1, p_fa=0). The NIST
    EER and minDCF are read off these points (``eer``, ``min_dcf``), so a curve drawn and the numbers
    printed beside it come from one sweep.
    """

    p_miss: np.ndarray
    p_fa: np.ndarray
    thresholds: np.ndarray
    sweep: str

    def __len__(self) -> int:
        return len(self.thresholds)

    def eer(self) -> Eer:
        """The NIST EER of this sweep (definition: ``SortedScores.eer``)."""
        x1 = _first_crossing(self.p_miss, self.p_fa)
        return _eer_from_points(self.p_miss, self.p_fa, x1, float(self.thresholds[x1]))

    def min_dcf(self, p_target: float = 0.01, c_miss: float = 1.0, c_fa: float = 1.0) -> Dcf:
        """The normalised minDCF of this sweep (definition: ``SortedScores.min_dcf``)."""
        _check_cost(p_target, c_miss, c_fa)
        i, c_min = _first_minimum_cost(self.p_miss, self.p_fa, p_target, c_miss, c_fa)
        return _dcf_of_minimum(p_target, c_miss, c_fa, c_min, float(self.thresholds[i]))


@dataclass(frozen=True)
class Summary:
    """Several EER definitions and operating points of one score set, all from a single sort.

    tie_warnings: sentences saying where the per-trial sweep in file order (Kaldi, WeSpeaker with a stable
    sort) would print another number than these (tie-aware) ones; empty unless asked for (``tie_check``).
    """

    eers: tuple[Eer, ...]
    dcfs: tuple[Dcf, ...]
    n_target: int
    n_nontarget: int
    sweep: str
    tie_warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Metrics:
    """What result files print: NIST/WeSpeaker EER and normalised minDCF, from one sweep.

    ``eer`` is a fraction in [0, 1]; ``eer_percent`` is the same number in percent, what the CLI, ``--json``,
    result files and results.json print. ``min_dcf`` is normalised (1 = no better than a trivial decision).
    """

    eer: float
    eer_threshold: float
    min_dcf: float
    min_dcf_threshold: float
    p_target: float
    c_miss: float
    c_fa: float
    n_target: int
    n_nontarget: int
    sweep: str = "tie-aware"

    @classmethod
    def of(cls, summary: Summary) -> Metrics:
        """The NIST EER and the first operating point of a summary."""
        eer = next(e for e in summary.eers if e.definition == "nist")
        dcf = summary.dcfs[0]
        return cls(
            eer.value,
            eer.threshold,
            dcf.min_dcf,
            dcf.threshold,
            dcf.p_target,
            dcf.c_miss,
            dcf.c_fa,
            summary.n_target,
            summary.n_nontarget,
            summary.sweep,
        )

    @property
    def eer_percent(self) -> float:
        """The EER in percent (100 * eer), as printed by the CLI and stored in results.json."""
        return 100 * self.eer


# ----------------------------------------------------------------------------------------------------
# validation and sorting


def _as_scores(scores, name: str) -> np.ndarray:
    arr = np.asarray(scores)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array, got shape {arr.shape}")
    if arr.size and arr.dtype.kind not in "fiu":
        raise ValueError(f"{name} must be real numbers, got dtype {arr.dtype}")
    arr = arr.astype(np.float64, copy=False)
    bad = ~np.isfinite(arr)
    if bad.any():
        first = int(np.argmax(bad))
        raise ValueError(
            f"{name} contain {int(bad.sum())} non-finite value(s) (NaN or inf); "
            f"the first is at index {first} ({arr[first]})"
        )
    return arr


def _as_labels(is_target, n: int, name: str) -> np.ndarray:
    lab = np.asarray(is_target)
    if lab.ndim != 1:
        raise ValueError(f"is_target must be a 1-D array, got shape {lab.shape}")
    if lab.shape[0] != n:
        raise ValueError(f"{name} and is_target differ in length: {n} vs {lab.shape[0]}")
    if n == 0:
        raise ValueError(f"no trials: {name} and is_target are empty")
    if lab.dtype != np.bool_:
        if lab.dtype.kind not in "iuf" or not np.isin(lab, (0, 1)).all():
            raise ValueError(f"is_target must be boolean (or 0/1), got dtype {lab.dtype}")
        lab = lab.astype(np.bool_)
    n_tar = int(np.count_nonzero(lab))
    if n_tar == 0:
        raise ValueError(f"no target trials among the {n} trials: EER, DCF and Cllr need both classes")
    if n_tar == n:
        raise ValueError(f"no nontarget trials among the {n} trials: EER, DCF and Cllr need both classes")
    return lab


def _check_choice(value: str, choices: tuple[str, ...], what: str) -> None:
    if value not in choices:
        raise ValueError(f"{what} must be one of {', '.join(map(repr, choices))}; got {value!r}")


def _stable_sort(s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sorted scores, order), order identical to np.argsort(s, kind="mergesort") but ~2x faster: numpy's
    default (SIMD, unstable) argsort, then tied scores put back in trial order by one int64 sort."""
    n = s.shape[0]
    order = np.argsort(s)
    srt = s[order]
    new = np.empty(n, dtype=bool)
    new[0] = True
    np.not_equal(srt[1:], srt[:-1], out=new[1:])
    if not new.all():
        if n > 3_000_000_000:  # (group, index) would not fit in one int64 key
            order = np.argsort(s, kind="mergesort")
            return s[order], order
        key = np.cumsum(new)
        key -= 1
        if n < 2**31:  # (group of equal scores, trial index) in one int64, in place: no n-long temporaries
            key <<= 32
            key |= order
            key.sort()
            key &= 0xFFFFFFFF
            order = key
        else:
            key *= n
            key += order
            key.sort()
            order = key % n
    return srt, order


def _sorted_apart(scores: np.ndarray, is_target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(target scores, nontarget scores), each ascending: np.sort's values.

    Scores printed with a fixed number of decimals, as WeSpeaker and sveval print them (%.5f), lie on a
    grid: each is the float64 nearest to k / 10**d for an integer k. There they are sorted by counting
    (`_counted_apart`): on 6 M such scores 42 ms of CPU against 480 ms for np.sort of the two classes, the
    largest cost of `sveval metrics` after parsing (numpy's sort runs at about 60 ns a value on this
    machine's AMD EPYC). Other scores are sorted."""
    counted = _counted_apart(scores, is_target)
    if counted is not None:
        return counted
    # np.compress: 4x faster than a boolean index on 6 M trials (numpy 2.4)
    tar, non = np.compress(is_target, scores), np.compress(~is_target, scores)
    tar.sort()  # in place: no second copy of the scores
    non.sort()
    return tar, non


def _counted_apart(scores: np.ndarray, is_target: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """`_sorted_apart` by counting, or None when the scores are not on one decimal grid of at most
    COST_SLICE points: d is the fewest decimals that fit the first 1,024 scores, and every score s must
    give back its own bits as k / 10**d with k = rint(s * 10**d) (integers below 2**52: exact), so each
    grid point (kmin + i) / 10**d is, bit for bit, the scores counted there. Counts are per (k, label),
    COST_SLICE scores at a time. A zero comes out as 0.0 even where it was -0.0 (printed "-0.00000"):
    the two compare equal, and np.sort leaves them in no set order (its SIMD code even turns some 0.0
    into -0.0)."""
    head = scores[:1024]
    scale = next(
        (10.0**d for d in range(10) if np.array_equal(np.rint(head * 10.0**d) / 10.0**d, head)), None
    )
    if scale is None:
        return None
    low, high = np.rint(scores.min() * scale), np.rint(scores.max() * scale)
    if not (np.isfinite(low) and np.isfinite(high) and max(-low, high) < 2**52 and high - low < COST_SLICE):
        return None
    points = int(high - low) + 1
    counts = np.zeros(2 * points, dtype=np.int64)  # (k - kmin, label) -> trials
    for lo in range(0, len(scores), COST_SLICE):
        part = scores[lo : lo + COST_SLICE]
        k = np.multiply(part, scale)
        np.rint(k, out=k)
        if not np.array_equal(np.divide(k, scale).view(np.int64), part.view(np.int64)):
            return None
        k -= low
        key = k.astype(np.intp)
        key <<= 1
        key |= is_target[lo : lo + COST_SLICE]
        counts += np.bincount(key, minlength=2 * points)
    grid = (low + np.arange(points)) / scale
    return np.repeat(grid, counts[1::2]), np.repeat(grid, counts[0::2])


def _distinct(ascending: np.ndarray) -> np.ndarray:
    """The distinct values of an ascending array (the last of each run of equal values)."""
    return ascending[np.append(ascending[1:] != ascending[:-1], True)] if len(ascending) else ascending


# ----------------------------------------------------------------------------------------------------
# the sorted score set


@dataclass(frozen=True, eq=False)
class SortedScores:
    """One score set and the sorts its metrics read, each made when first needed and kept (build it with
    ``SortedScores.of``, which checks the input).

    scores, is_target: in trial order (float64, bool). sweep: the sweep the methods use when given none; it
    also fixes the order of tied trials of the per-trial sweeps: numpy's default argsort order for
    "wespeaker", the stable order (trial order) otherwise, so one object serves "tie-aware" and
    "per-trial" and asking it for the other family is a ValueError. The tie-aware sweep, the Kaldi and
    ROCCH EERs and the tie check need no trial order: they read the two classes sorted apart (counted on
    a decimal grid, else numpy's sort of values: `_sorted_apart`; several times faster than a stable
    argsort of the whole set). Sweeps are computed per call, never kept: on large lists they are 2-3
    arrays as long as the list. ascending: the scores are already ascending in the order their per-trial
    sweep follows (the extreme orders of tied trials).
    """

    scores: np.ndarray
    is_target: np.ndarray
    sweep: str = "tie-aware"
    ascending: bool = False

    @classmethod
    def of(cls, scores, is_target, sweep: str = "tie-aware") -> SortedScores:
        """Checked input: 1-D finite real scores, boolean (or 0/1) labels of the same length, both classes
        present (ValueError otherwise); sweep one of SWEEPS."""
        _check_choice(sweep, SWEEPS, "sweep")
        s = _as_scores(scores, "scores")
        return cls(s, _as_labels(is_target, s.shape[0], "scores"), sweep)

    @cached_property
    def n_target(self) -> int:
        return int(np.count_nonzero(self.is_target))

    @property
    def n_nontarget(self) -> int:
        return int(self.is_target.shape[0] - self.n_target)

    @cached_property
    def in_order(self) -> tuple[np.ndarray, np.ndarray]:
        """(scores ascending, labels) in the order of the per-trial sweep."""
        if self.ascending:
            return self.scores, self.is_target
        if self.sweep == "wespeaker":  # numpy's default argsort, exactly as compute_pmiss_pfa_rbst calls it
            order = np.argsort(self.scores)
            srt = self.scores[order]
        else:
            srt, order = _stable_sort(self.scores)
        return srt, self.is_target[order]

    @cached_property
    def classes(self) -> tuple[np.ndarray, np.ndarray]:
        """(target scores, nontarget scores), each ascending."""
        return _sorted_apart(self.scores, self.is_target)

    def _sweep(self, sweep: str | None) -> str:
        """The sweep to use: this object's when None; a per-trial sweep must follow this object's order."""
        if sweep is None:
            return self.sweep
        _check_choice(sweep, SWEEPS, "sweep")
        if sweep != "tie-aware" and (sweep == "wespeaker") != (self.sweep == "wespeaker"):
            raise ValueError(f"scores were sorted for another sweep than {sweep!r}")
        return sweep

    def counts(self, sweep: str | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(#targets, #nontargets, threshold) at or below each operating point of the sweep."""
        if self._sweep(sweep) != "tie-aware":  # the sort order already decides between the per-trial ones
            srt, lab = self.in_order
            n_tar_le = np.cumsum(lab, dtype=np.int64)  # exact
            n_non_le = np.arange(1, n_tar_le.shape[0] + 1)
            n_non_le -= n_tar_le  # in place: one n-long temporary less on very large files
            return n_tar_le, n_non_le, srt
        # tie-aware: one point per distinct score t, with #targets <= t and #nontargets <= t, from the two
        # classes sorted apart (no n-long sorted copy of all the scores)
        tar, non = self.classes
        thresholds = np.concatenate((_distinct(tar), _distinct(non)))
        thresholds.sort(kind="stable")  # two ascending runs: merged in one pass
        thresholds += 0.0  # (-0.0 ties with 0.0: one group)
        thresholds = _distinct(thresholds)
        n_tar_le = np.searchsorted(tar, thresholds, side="right")
        return n_tar_le, np.searchsorted(non, thresholds, side="right"), thresholds

    def rates(self, n_tar_le, n_non_le, overwrite: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(p_miss, p_fa) = (n_tar_le / T, 1 - n_non_le / N) from int64 counts, the same float64 values
        whether `overwrite` (the counts' buffers become the rates) or not."""
        p_miss = np.divide(n_tar_le, self.n_target, out=n_tar_le.view(np.float64) if overwrite else None)
        p_fa = np.divide(n_non_le, self.n_nontarget, out=n_non_le.view(np.float64) if overwrite else None)
        np.subtract(1, p_fa, out=p_fa)  # = 1 - n_non_le / N, bit for bit
        return p_miss, p_fa

    def det_curve(self, sweep: str | None = None) -> DetCurve:
        """The miss / false-alarm rates at every operating point of ``sweep`` (see the module docstring).

        Point i: p_miss = #targets with (sorted position <= i) / T, p_fa = 1 - #nontargets likewise / N,
        thresholds[i] = the i-th lowest score. Per-trial: one point per trial; tie-aware: one per distinct
        score, where p_miss = #targets with score <= t / T and p_fa = #nontargets with score > t / N.
        """
        sweep = self._sweep(sweep)
        n_tar_le, n_non_le, thresholds = self.counts(sweep)
        # the rates overwrite the (int64, fresh) counts they come from: no n-long temporaries
        p_miss, p_fa = self.rates(n_tar_le, n_non_le, overwrite=True)
        for a in (p_miss, p_fa, thresholds):
            a.flags.writeable = False
        return DetCurve(p_miss, p_fa, thresholds, sweep)

    def eer(self, definition: str = "nist", sweep: str | None = None) -> Eer:
        """Equal error rate (a fraction) by one of three definitions.

        ``"nist"`` (NIST SRE scorer, WeSpeaker ``compute_eer``; the default and what result files print): on
        the sweep's points with d = p_miss - p_fa, x1 = first i with d >= 0, x2 = last i with d < 0,
        a = (p_miss[x1] - p_fa[x1]) / (p_fa[x2] - p_fa[x1] - (p_miss[x2] - p_miss[x1])),
        EER = p_miss[x1] + a * (p_miss[x2] - p_miss[x1]) (the crossing of segment x2-x1 with p_miss = p_fa);
        threshold = thresholds[x1]. With the per-trial sweep and stable sorting this is WeSpeaker's number
        to the last bit. Like WeSpeaker, d is computed in float64: where p_miss and p_fa are mathematically
        equal (common when T == N, as on Vox1-O) the rounding of 1 - n/N decides whether that point is x1;
        the EER moves by < 1e-15 and the threshold by one point.
        Edge case: when no point has d < 0 (WeSpeaker raises IndexError; it happens when the lowest score
        is the only target or the only nontarget, or, tie-aware, when the lowest group of tied scores
        already has p_miss >= p_fa), x2 is the implicit "accept everything" point (p_miss=0, p_fa=1), so
        EER = p_miss[x1] / (1 + p_miss[x1] - p_fa[x1]); e.g. all scores tied, tie-aware: 0.5.

        ``"kaldi"`` (Kaldi ``compute-eer``, ComputeEer in ivector/compute-eer.cc): targets and nontargets
        sorted ascending separately; for p = 0 .. T-2, q = N - 1 - trunc(N * p * 1.0 / T) (not below 0);
        stop at the first p with nontarget[q] < target[p], else p = T-1; EER = p / T, threshold =
        target[p]. No interpolation, so it moves in steps of 1/T (with a single target it is always 0).
        Kaldi parses scores as float32 and returns the EER as float32; here both stay float64. The
        comparisons agree whenever the scores have at most 6 significant digits (FLT_DIG: distinct such
        decimals stay distinct and ordered in float32); WeSpeaker's ``%.5f`` scores with |s| >= 10 have 7
        and could, rarely, tie in float32 where they do not tie here.

        ``"rocch"`` (BOSARIS ``rocch`` + ``rocch2eer``, also pyllr): the point where the convex hull of the
        ROC -- the tie-aware points plus (p_miss=0, p_fa=1) -- crosses p_miss = p_fa; equal to
        max over p of the Bayes-optimal min(p * p_miss + (1-p) * p_fa). It is the optimistic definition:
        never above the tie-aware NIST EER and never above 0.5. threshold = the threshold of the hull
        vertex at the upper end (p_miss >= p_fa) of the crossing edge; reaching the EER itself needs
        randomising between that threshold and the vertex below it.

        ``sweep`` applies to "nist" only. "kaldi" and "rocch" never depend on trial order (their reference
        tools fix how ties are treated), so every sweep value gives the same result for them.
        """
        _check_choice(definition, EER_DEFINITIONS, "definition")
        sweep = self._sweep(sweep)
        if definition == "nist":
            return self.det_curve(sweep).eer()
        if definition == "kaldi":
            return self._eer_kaldi()
        n_tar_le, n_non_le, thr = self.counts("tie-aware")
        value, point = rocch_eer(n_tar_le, n_non_le, self.n_target, self.n_nontarget)
        return Eer(value, float(thr[point]), "rocch")

    def _eer_kaldi(self) -> Eer:
        tar, non = self.classes  # ascending, as std::sort gives them
        n_t, n_n = tar.shape[0], non.shape[0]
        pos = np.arange(n_t - 1, dtype=np.int64)  # target_position + 1 < target_size
        # ssize_t nontarget_n = nontarget_size * target_position * 1.0 / target_size  (truncating cast)
        nontarget_n = ((n_n * pos).astype(np.float64) / n_t).astype(np.int64)
        q = np.maximum(n_n - 1 - nontarget_n, 0)
        hit = non[q] < tar[pos]
        p = int(np.argmax(hit)) if hit.any() else n_t - 1
        return Eer(p * 1.0 / n_t, float(tar[p]), "kaldi")

    def min_dcf(
        self, p_target: float = 0.01, c_miss: float = 1.0, c_fa: float = 1.0, sweep: str | None = None
    ) -> Dcf:
        """Normalised minimum detection cost (NIST SRE; Kaldi ``compute_min_dcf.py``; WeSpeaker).

        minDCF = min_i (c_miss * p_miss[i] * p_target + c_fa * p_fa[i] * (1 - p_target))
                 / min(c_miss * p_target, c_fa * (1 - p_target))
        over the sweep's points and the "accept all" point (p_miss 0, p_fa 1; threshold -inf), so with the
        "reject all" point (the sweep's last) both trivial decisions are candidates and the value never
        exceeds 1; threshold = thresholds at the first i attaining the minimum (as Kaldi's
        ``compute_min_dcf.py``). Kaldi's script lacks the accept-all point; apart from that, with the
        per-trial sweep the value and threshold equal that script's exactly (the accept-all point only wins
        when the script prints > 1). Common operating points: p_target=0.01 (VoxCeleb, WeSpeaker), 0.05
        (VoxSRC), 0.001 (SRE10), 0.01 with c_miss=10 (SRE08).
        """
        return self.det_curve(sweep).min_dcf(p_target, c_miss, c_fa)

    def summary(
        self,
        definitions: tuple[str, ...] = EER_DEFINITIONS,
        operating_points: tuple[tuple[float, float, float], ...] = (WESPEAKER_POINT,),
        sweep: str | None = None,
        tie_check: bool = False,
        curve: DetCurve | None = None,
    ) -> Summary:
        """``eer`` for each definition and ``min_dcf`` for each (p_target, c_miss, c_fa), from one sweep.

        curve: this object's ``det_curve(sweep)`` where the caller has it already (a DET plot's), read
        instead of sweeping again.

        tie_check: with the tie-aware sweep, also say in ``Summary.tie_warnings`` where the per-trial sweep
        in file order (Kaldi, WeSpeaker with a stable sort) would print another number than these: EER in
        percent and minDCF compared with PRINTED_DECIMALS decimals (none without ties). The per-trial
        numbers come from ``per_trial_in_file_order``: only the tie groups where the order can matter are
        read in file order, so the trials are never sorted for it.
        """
        for definition in definitions:
            _check_choice(definition, EER_DEFINITIONS, "definition")
        sweep = self._sweep(sweep)
        if curve is not None and curve.sweep != sweep:
            raise ValueError(f"the curve given is of the {curve.sweep!r} sweep, not {sweep!r}")
        if curve is None and ("nist" in definitions or operating_points):
            curve = self.det_curve(sweep)
        eers = tuple(curve.eer() if d == "nist" else self.eer(d, sweep) for d in definitions)
        dcfs = tuple(curve.min_dcf(*point) for point in operating_points)
        del curve  # (2 x n float64 on a per-trial sweep: freed before the tie check)
        warnings = self._tie_warnings(eers, dcfs) if tie_check and sweep == "tie-aware" else ()
        return Summary(eers, dcfs, self.n_target, self.n_nontarget, sweep, warnings)

    def evaluate(
        self, p_target: float = 0.01, c_miss: float = 1.0, c_fa: float = 1.0, sweep: str | None = None
    ) -> Metrics:
        """NIST EER and ``min_dcf`` at one operating point from one sweep, plus the trial counts."""
        return Metrics.of(self.summary(("nist",), ((p_target, c_miss, c_fa),), sweep))

    def tie_order_range(
        self, p_target: float = 0.01, c_miss: float = 1.0, c_fa: float = 1.0
    ) -> tuple[Metrics, Metrics]:
        """The lowest and highest per-trial ``evaluate`` results over every order of tied trials.

        The per-trial sweep (Kaldi, WeSpeaker) puts operating points between tied trials, so its numbers
        depend on how tied trials are ordered. Nontargets first within each group of equal scores gives
        every point inside a group its lowest p_fa for its p_miss, the curve nearest the origin, hence the
        lowest NIST EER and minDCF; targets first gives the farthest curve, the highest (and minDCF then
        equals the tie-aware one). Returns (low, high), both with sweep "per-trial"; without ties they are
        equal. Both orders are built from the counts of each tied group (no sort of the trials).
        """
        return tuple(o.evaluate(p_target, c_miss, c_fa, "per-trial") for o in self._extreme_orders())

    def _extreme_orders(self) -> Iterator[SortedScores]:
        """The score set in its two extreme per-trial orders, one after the other (each is n long): within
        each group of tied scores, nontargets first (low), then targets first (high)."""
        n_tar_le, n_non_le, thresholds = self.counts("tie-aware")
        targets = np.diff(n_tar_le, prepend=0)
        nontargets = np.diff(n_non_le, prepend=0)
        scores = np.repeat(thresholds, targets + nontargets)
        for first, second, first_is_target in ((nontargets, targets, False), (targets, nontargets, True)):
            # per group: the first class's run, then the other's
            runs = np.column_stack([first, second]).ravel()
            labels = np.repeat(np.tile([first_is_target, not first_is_target], len(first)), runs)
            yield SortedScores(scores, labels, "per-trial", ascending=True)

    def _tie_warnings(self, eers: tuple[Eer, ...], dcfs: tuple[Dcf, ...]) -> tuple[str, ...]:
        from sveval.metrics.file_order import per_trial_in_file_order  # (it builds on this module)

        per_trial = per_trial_in_file_order(self, [(d.p_target, d.c_miss, d.c_fa) for d in dcfs])
        figures = [("EER", e.percent, per_trial.eers[0].percent) for e in eers if e.definition == "nist"]
        figures += [
            (f"minDCF({d.p_target:g}/{d.c_miss:g}/{d.c_fa:g})", d.min_dcf, p.min_dcf)
            for d, p in zip(dcfs, per_trial.dcfs)
        ]
        out = []
        for name, ours, theirs in figures:
            ours, theirs = (f"{v:.{PRINTED_DECIMALS}f}" for v in (ours, theirs))
            if ours != theirs:
                how = "the per-trial sweep in file order (--sweep per-trial)"
                out.append(f"tied scores: {name} {ours} here; {how} prints {theirs}")
        return tuple(out)


# ----------------------------------------------------------------------------------------------------
# the definitions, on a sweep's points


def _eer_from_points(p_miss, p_fa, x1: int, threshold: float) -> Eer:
    """The NIST interpolation between point x1 (the first with p_miss >= p_fa) and the point before it."""
    if x1 > 0:
        x2 = x1 - 1  # == last index with d < 0, because d is non-decreasing
        pm2, pf2 = p_miss[x2], p_fa[x2]
    else:  # no point with d < 0: use the implicit "accept everything" point (p_miss=0, p_fa=1)
        pm2, pf2 = 0.0, 1.0
    pm1, pf1 = p_miss[x1], p_fa[x1]
    a = (pm1 - pf1) / (pf2 - pf1 - (pm2 - pm1))
    return Eer(float(pm1 + a * (pm2 - pm1)), threshold, "nist")


def _first_minimum_cost(p_miss, p_fa, p_target: float, c_miss: float, c_fa: float) -> tuple[int, float]:
    """(first i attaining the minimum, that minimum) of c_det = c_miss * p_miss * p_target + c_fa * p_fa *
    (1 - p_target): the same operations in the same order as Kaldi's compute_min_dcf.py (so the same float64
    values), in slices of COST_SLICE points (no n-long temporaries), keeping the first minimum like its strict
    `<` loop."""
    best_i, best = 0, np.inf
    for lo in range(0, len(p_miss), COST_SLICE):
        c_det = np.multiply(c_miss, p_miss[lo : lo + COST_SLICE])
        c_det *= p_target
        fa_part = np.multiply(c_fa, p_fa[lo : lo + COST_SLICE])
        fa_part *= 1 - p_target
        c_det += fa_part
        i = int(np.argmin(c_det))
        if c_det[i] < best:
            best_i, best = lo + i, float(c_det[i])
    return best_i, best


def _first_crossing(p_miss: np.ndarray, p_fa: np.ndarray) -> int:
    """The first i with p_miss[i] - p_fa[i] >= 0, by bisection: the difference is non-decreasing, also in
    floating point (p_miss non-decreasing, p_fa non-increasing, rounding monotone), and 1 at the last
    point; each difference is the same float64 subtraction a vectorised `p_miss - p_fa` makes."""
    lo, hi = 0, len(p_miss) - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if p_miss[mid] - p_fa[mid] >= 0:
            hi = mid
        else:
            lo = mid + 1
    return lo


def _check_cost(p_target: float, c_miss: float, c_fa: float) -> None:
    for name, v in (("c_miss", c_miss), ("c_fa", c_fa)):
        if not (np.isfinite(v) and v > 0):
            raise ValueError(f"{name} must be a finite positive number, got {v!r}")
    if not 0 < p_target < 1:
        raise ValueError(f"p_target must lie strictly between 0 and 1, got {p_target!r}")


def _dcf_of_minimum(p_target: float, c_miss: float, c_fa: float, c_min: float, threshold: float) -> Dcf:
    """The normalised minDCF from the sweep's lowest cost `c_min` (reached at `threshold`)."""
    c_def = min(c_miss * p_target, c_fa * (1 - p_target))
    # The "accept all" point (p_miss 0, p_fa 1), which Kaldi's script lacks: without it the value exceeds 1
    # when every target scores below every nontarget and c_miss * p_target > c_fa * (1 - p_target).
    accept_all = c_fa * (1 - p_target)
    if accept_all < c_min:
        return Dcf(float(p_target), float(c_miss), float(c_fa), float(accept_all / c_def), float("-inf"))
    return Dcf(float(p_target), float(c_miss), float(c_fa), float(c_min / c_def), threshold)


# ----------------------------------------------------------------------------------------------------
# one-off calls: each sorts its scores once (SortedScores.of; its methods document the definitions)


def det_curve(scores, is_target, sweep: str = "tie-aware") -> DetCurve:
    """``SortedScores.of(scores, is_target, sweep).det_curve()``."""
    return SortedScores.of(scores, is_target, sweep).det_curve()


def eer(scores, is_target, definition: str = "nist", sweep: str = "tie-aware") -> Eer:
    """``SortedScores.of(scores, is_target, sweep).eer(definition)``."""
    return SortedScores.of(scores, is_target, sweep).eer(definition)


def min_dcf(
    scores,
    is_target,
    p_target: float = 0.01,
    c_miss: float = 1.0,
    c_fa: float = 1.0,
    sweep: str = "tie-aware",
) -> Dcf:
    """``SortedScores.of(scores, is_target, sweep).min_dcf(p_target, c_miss, c_fa)``."""
    return SortedScores.of(scores, is_target, sweep).min_dcf(p_target, c_miss, c_fa)


def evaluate(
    scores,
    is_target,
    p_target: float = 0.01,
    c_miss: float = 1.0,
    c_fa: float = 1.0,
    sweep: str = "tie-aware",
) -> Metrics:
    """``SortedScores.of(scores, is_target, sweep).evaluate(p_target, c_miss, c_fa)``."""
    return SortedScores.of(scores, is_target, sweep).evaluate(p_target, c_miss, c_fa)


def summarize(
    scores,
    is_target,
    definitions: tuple[str, ...] = EER_DEFINITIONS,
    operating_points: tuple[tuple[float, float, float], ...] = (WESPEAKER_POINT,),
    sweep: str = "tie-aware",
) -> Summary:
    """``SortedScores.of(scores, is_target, sweep).summary(definitions, operating_points)``."""
    return SortedScores.of(scores, is_target, sweep).summary(definitions, operating_points)


def cllr(llrs, is_target) -> float:
    """Log-likelihood-ratio cost in bits, for scores that are calibrated natural-log LLRs.

    Cllr = 1/(2 ln 2) * (mean over targets of log(1 + e^-s) + mean over nontargets of log(1 + e^s)),
    computed as np.logaddexp(0, .) so that huge |s| neither overflow nor lose the linear tail. 1 bit is the
    cost of the uninformative system (all LLRs 0); 0 is perfect; above 1 is worse than saying nothing.
    """
    s = _as_scores(llrs, "llrs")
    lab = _as_labels(is_target, s.shape[0], "llrs")
    c_tar = np.mean(np.logaddexp(0.0, -s[lab]))
    c_non = np.mean(np.logaddexp(0.0, s[~lab]))
    return float((c_tar + c_non) / (2 * np.log(2)))
