"""Linear calibration and fusion of scores into natural-log likelihood ratios: pure numpy/scipy.

The model maps a feature row x (one score for calibration; one score per system for fusion; the score plus
quality measures for QMF, see `sveval.calibration.qmf`) to llr = w·x + b.

Objective (BOSARIS `train_linear_fuser` / pyllr, "prior-weighted logistic regression") at a prior π, with
ℓ = logit(π), T targets and N nontargets:

    C(w, b) = π/T · Σ_targets log(1 + e^−(w·x + b + ℓ)) + (1−π)/N · Σ_nontargets log(1 + e^(w·x + b + ℓ))

divided by ln 2 this is the prior-weighted Cllr in bits; at π = ½ it is exactly Cllr (WeSpeaker's QMF loss).
Minimising it makes w·x + b an LLR that is well calibrated around the prior π. The fit standardises each
feature (`Standardised`), divides C by its value H(π) at the start w = 0, b = 0 (`Objective`), so that
scipy's L-BFGS-B tolerances are relative to the objective's scale at any prior and score scale, runs it with
the analytic gradient, and maps the weights back to the raw features. A fit that must not be used is a
`FitError` naming its cause (`check_training`, `check_fit`): perfectly separable training data (no finite
optimum), scores or a prior beyond float64's reach, or a result no better than a map known to be better.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit

from sveval.errors import InputError
from sveval.metrics.detection import cllr
from sveval.metrics.llr import min_cllr
from sveval.pair_join import trial_keys
from sveval.signature import Signature

METHODS = ("linear", "fusion", "qmf")
FITS = ("scipy", "wespeaker")
MAX_ITERATIONS = 2000
TINY = float(np.finfo(np.float64).tiny)  # the smallest normal float64, 2.2e-308


@dataclass(frozen=True)
class TrainingInfo:
    """What a model was trained on. cllr_* in bits, measured on the training trials."""

    sources: tuple[str, ...]  # file names of the training score files
    fingerprint: str  # sha256 of the training pairs and labels in canonical Kaldi form
    n_target: int
    n_nontarget: int
    n_repeated: int  # lines repeating an earlier (enroll, test) pair (WeSpeaker's generator makes them)
    n_self_pairs: int  # lines with enroll == test
    cllr_before: float  # of the first feature (the raw score), read as an LLR
    cllr_after: float
    min_cllr: float
    iterations: int
    converged: bool


@dataclass(frozen=True)
class CalibrationModel:
    """llr = Σ weights[i]·x[features[i]] + offset, fitted at `prior` by `fit` (scipy | wespeaker)."""

    method: str
    features: tuple[str, ...]
    weights: tuple[float, ...]
    offset: float
    prior: float
    fit: str
    training: TrainingInfo
    max_dur: float | None = None  # QMF: the duration cap in seconds, when durations are features

    def apply(self, features: np.ndarray) -> np.ndarray:
        """(n, d) features in the order of `features` -> (n,) LLRs (float64)."""
        x = _check_features(features, len(self.features))
        with np.errstate(over="ignore", invalid="ignore"):  # a non-finite LLR is the caller's input error
            return x @ np.asarray(self.weights) + self.offset

    @property
    def score_weights(self) -> tuple[tuple[str, float], ...]:
        """(system, weight on its score) per system the map reads: the training file and the weight of the
        "score" feature for linear and QMF (its other features are quality measures, not scores), each
        system's file and weight for fusion."""
        if self.method == "fusion":
            return tuple(zip(self.features, self.weights))
        return ((self.training.sources[0] if self.training.sources else "score", self.weights[0]),)

    @property
    def decreasing_in(self) -> tuple[str, ...]:
        """The systems whose score the map decreases in (a negative weight): a higher score then gives a
        lower LLR, which is what a distance-like (inverted) score needs. The map is still the best fit, but
        it reverses that system's ranking, so its EER and minDCF change with calibration instead of staying
        put, and a user who did not expect a distance should be told (`sveval calibrate` and `fuse` warn)."""
        return tuple(name for name, weight in self.score_weights if weight < 0)

    @property
    def signature(self) -> str:
        """`cal:<method>|prior:<p>|fit:<fit>|train:<file>@<fingerprint12>|v:<version>`."""
        train = "+".join(self.training.sources) + "@" + self.training.fingerprint.split(":")[-1][:12]
        return Signature.of(cal=self.method, prior=f"{self.prior:g}", fit=self.fit, train=train).format()

    def to_dict(self) -> dict:
        out = asdict(self)
        out["training"]["sources"] = list(self.training.sources)
        out["features"], out["weights"] = list(self.features), list(self.weights)
        out["signature"] = self.signature
        out["decreasing_in"] = list(self.decreasing_in)  # derived, so `from_dict` does not read it back
        return out

    @classmethod
    def from_dict(cls, data: dict, source: str) -> CalibrationModel:
        """Inverse of `to_dict`; InputError naming `source` for anything missing, of the wrong JSON type (a
        string for a number, a list for an object, null, ...) or inconsistent. Unknown keys are ignored."""
        field = _Fields(source)
        training = field.object(data, "training")
        model = cls(
            method=field.string(data, "method"),
            features=tuple(field.strings(data, "features")),
            weights=tuple(field.numbers(data, "weights")),
            offset=field.number(data, "offset"),
            prior=field.number(data, "prior"),
            fit=field.string(data, "fit"),
            training=TrainingInfo(
                sources=tuple(field.strings(training, "sources", "training.")),
                fingerprint=field.string(training, "fingerprint", "training."),
                **{k: field.count(training, k, "training.") for k in _COUNTS},
                **{
                    k: field.number(training, k, "training.")
                    for k in ("cllr_before", "cllr_after", "min_cllr")
                },
                converged=field.flag(training, "converged", "training."),
            ),
            max_dur=None if data.get("max_dur") is None else field.number(data, "max_dur"),
        )
        if model.method not in METHODS or model.fit not in FITS or len(model.weights) != len(model.features):
            raise InputError(
                "not a sveval calibration model: unknown method/fit or weights/features differ", source
            )
        numbers = (*model.weights, model.offset, model.prior, model.max_dur or 1.0)
        if not all(math.isfinite(x) for x in numbers) or not 0 < model.prior < 1:
            raise InputError(
                "not a sveval calibration model: weights, offset, prior and max_dur must be finite numbers "
                f"(prior between 0 and 1); got weights {list(model.weights)}, offset {model.offset}, "
                f"prior {model.prior}",
                source,
            )
        n_weights = len(model.weights)
        if n_weights not in {"linear": (1,), "qmf": (9, 13)}.get(model.method, range(2, n_weights + 1)):
            raise InputError(
                f"not a sveval calibration model: a {model.method} model with {n_weights} weight(s) (linear "
                "takes 1, qmf 9 or 13, fusion 2 or more)",
                source,
            )
        return model


_COUNTS = ("n_target", "n_nontarget", "n_repeated", "n_self_pairs", "iterations")


@dataclass(frozen=True)
class _Fields:
    """Typed reads of a model JSON's fields: InputError naming the file, the field and what it holds. JSON
    true/false are not numbers here (Python's bool is an int)."""

    source: str

    def _get(self, data: dict, key: str, prefix: str, kinds, wanted: str):
        if key not in data:
            self._wrong(f"no field {prefix}{key}")
        value = data[key]
        if not isinstance(value, kinds) or isinstance(value, bool) and bool not in kinds:
            shown = json.dumps(value)[:40] if not isinstance(value, (dict, list)) else type(value).__name__
            self._wrong(f"{prefix}{key} must be {wanted}, got {shown}")
        return value

    def _wrong(self, why: str):
        raise InputError(f"not a sveval calibration model: {why}", self.source)

    def object(self, data, key, prefix=""):
        return self._get(data, key, prefix, (dict,), "an object")

    def string(self, data, key, prefix=""):
        return self._get(data, key, prefix, (str,), "a string")

    def number(self, data, key, prefix=""):
        return float(self._get(data, key, prefix, (int, float), "a number"))

    def count(self, data, key, prefix=""):
        value = self._get(data, key, prefix, (int,), "a whole number")
        if value < 0:
            self._wrong(f"{prefix}{key} must not be negative, got {value}")
        return value

    def flag(self, data, key, prefix=""):
        return self._get(data, key, prefix, (bool,), "true or false")

    def strings(self, data, key, prefix=""):
        items = self._get(data, key, prefix, (list,), "a list of strings")
        if not all(isinstance(item, str) for item in items):
            self._wrong(f"{prefix}{key} must be a list of strings")
        return items

    def numbers(self, data, key, prefix=""):
        items = self._get(data, key, prefix, (list,), "a list of numbers")
        if not all(isinstance(item, (int, float)) and not isinstance(item, bool) for item in items):
            self._wrong(f"{prefix}{key} must be a list of numbers")
        return [float(item) for item in items]


def _check_features(features, width: int) -> np.ndarray:
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != width:
        raise ValueError(f"features must be (n, {width}), got shape {x.shape}")
    return x


class FitError(InputError, ValueError):
    """A fit whose model must not be used (it did not move, is worse than a map known to be better, has no
    finite optimum, or overflows), with the cause and what to do. A ValueError too:
    `sveval.calibration.run.train` names the training file for the ValueErrors of `fit_logistic`, and so for
    these."""


@dataclass(frozen=True)
class Standardised:
    """Features as the optimiser sees them: z = (y − mean(y)) / sd(y) per column, where y = (x/2 − m) / top,
    m the column's median of x/2 and top = max |x/2 − m| (halves, so that ±1e308 scores cannot overflow; the
    median first, so that 1e15 + small scores keep their digits). A constant column gets sd 1. The fit's
    tolerances then mean the same for scores of any scale."""

    z: np.ndarray
    half_median: np.ndarray
    top: np.ndarray
    centre: np.ndarray
    spread: np.ndarray

    @classmethod
    def of(cls, x: np.ndarray) -> Standardised:
        half_median, top = _halves(x)
        y = (x / 2 - half_median) / top
        centre, spread = y.mean(axis=0), y.std(axis=0)
        spread[spread == 0] = 1.0
        return cls((y - centre) / spread, half_median, top, centre, spread)

    def raw(self, theta: np.ndarray) -> tuple[np.ndarray, float]:
        """The (weights, offset) on x of parameters theta = (weights on z, offset)."""
        per_y = theta[:-1] / self.spread
        w = per_y / self.top / 2  # divided in turn: spread·top could under- or overflow
        return w, float(theta[-1] - np.sum(per_y * self.centre) - 2 * np.sum(w * self.half_median))


def _halves(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per column of x: the median of x/2 and max |x/2 − that| (1 where 0), neither of which can overflow
    (np.median of x itself averages two middle values: 1e308 + 1e308 would)."""
    half_median = np.median(x / 2, axis=0)
    top = np.max(np.abs(x / 2 - half_median), axis=0)
    return half_median, np.where(top > 0, top, 1.0)


def prior_entropy(prior: float) -> float:
    """H(π) = −π·ln π − (1−π)·ln(1−π) in nats: the objective of the module doc at the constant map llr = 0
    (the fit's start), whatever the scores. Dividing by it makes the start's objective exactly 1."""
    return float(-prior * np.log(prior) - (1.0 - prior) * np.log1p(-prior))


@dataclass(frozen=True)
class Objective:
    """The objective of the module doc divided by H(π): C = 1 at the constant map llr = 0, 0 for a perfect
    map. Evaluated on LLRs, so the same numbers judge the optimiser's result and the maps it is compared with;
    the gradient is taken with respect to the standardised parameters (`Standardised`)."""

    sign: np.ndarray  # +1 target, −1 nontarget
    weight: np.ndarray  # π/(T·H(π)) per target, (1−π)/(N·H(π)) per nontarget
    shift: float  # logit(π)

    @classmethod
    def of(cls, is_target: np.ndarray, prior: float) -> Objective:
        if prior < TINY:  # 1 − π never is: the largest float64 below 1 is 1 − 1.1e-16
            raise FitError(
                f"the prior {prior:g} is too small for the data: below {TINY:.3g} (the smallest normal "
                "float64) the objective's weights lose their precision and the fit cannot move; give a "
                "--prior of at least 1e-300"
            )
        n_tar = int(is_target.sum())
        weight = np.where(is_target, prior / n_tar, (1.0 - prior) / (is_target.size - n_tar))
        return cls(
            np.where(is_target, 1.0, -1.0),
            weight / prior_entropy(prior),
            float(np.log(prior) - np.log1p(-prior)),
        )

    def value_and_slope(self, llr: np.ndarray) -> tuple[float, np.ndarray]:
        """C at these LLRs and dC/dllr per trial."""
        margin = self.sign * (llr + self.shift)
        with np.errstate(over="ignore", invalid="ignore"):  # an infinite or NaN C is judged by the caller
            loss = float(np.sum(self.weight * np.logaddexp(0.0, -margin)))
            return loss, -self.weight * expit(-margin) * self.sign

    def gradient(self, z: np.ndarray, slope: np.ndarray) -> np.ndarray:
        # reductions by einsum/sum, not BLAS dot: OpenBLAS's threaded dot stalls on a busy machine (30x)
        return np.concatenate([np.einsum("ij,i->j", z, slope), [slope.sum()]])


def fit_logistic(features, is_target, prior: float) -> tuple[np.ndarray, float, int, bool]:
    """Minimise the objective of the module doc. features (n, d), is_target (n,) bool, 0 < prior < 1.

    Returns (weights (d,), offset, iterations, converged). Training data or a fit that must not be used is a
    `FitError` (`check_training`, `check_fit`).
    """
    x = _check_features(features, np.shape(features)[1])
    lab = np.asarray(is_target, dtype=bool)
    if not 0.0 < prior < 1.0:
        raise ValueError(f"prior must be between 0 and 1, got {prior}")
    n_tar = int(lab.sum())
    if n_tar == 0 or n_tar == lab.size:
        raise ValueError("training needs both target and nontarget trials")
    check_training(x)
    std = Standardised.of(x)
    objective = Objective.of(lab, prior)

    def value_and_gradient(theta):
        loss, slope = objective.value_and_slope(std.z @ theta[:-1] + theta[-1])
        return loss, objective.gradient(std.z, slope)

    # C starts at exactly 1 and the features are standardised, so these are relative tolerances: stop when
    # an iteration gains less than 1e-15 of the start's cost or no parameter moves C by 1e-9 per unit
    result = minimize(
        value_and_gradient,
        np.zeros(x.shape[1] + 1),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": MAX_ITERATIONS, "gtol": 1e-9, "ftol": 1e-15},
    )
    w, b = std.raw(result.x)
    check_fit(x, lab, prior, w, b)
    return w, b, int(result.nit), bool(result.success)


STATIONARY = 1e-6  # max |dC/dθ| below which a map counts as optimal (C gains < ~1e-12 by moving on)
# Real scores lie within ~10 median deviations of their median (PLDA LLRs of ±500 with a deviation of 10: 50);
# a score a million deviations out is an outlier that any linear map must follow, ignoring all the others
OUTLYING = 1e6


def outlying(values: np.ndarray) -> np.ndarray:
    """|v − median| in units of the median absolute deviation (the mean absolute deviation where that is 0,
    when most values are equal), computed in halves so that ±1e308 cannot overflow. Gaussian scores: ~5."""
    half_median, top = _halves(values[:, None])
    deviation = np.abs(values / 2 - half_median[0]) / top[0]  # in [0, 1]
    unit = np.median(deviation) or np.mean(deviation) or 1.0
    with np.errstate(over="ignore"):  # beyond float64: infinitely far, as far as any check is concerned
        return deviation / unit


def check_training(features) -> None:
    """FitError unless the training features can be fitted: every feature finite (a max/min ratio of a huge
    and a tiny statistic overflows), and no score (the first feature) more than `OUTLYING` median deviations
    from the median score. Names the first offending line (trials are in the training file's order)."""
    x = _check_features(features, np.shape(features)[1])
    bad = np.argwhere(~np.isfinite(x))
    if bad.size:
        row, column = bad[0]
        raise FitError(
            f"feature {column + 1} of the training trial on line {row + 1} is {x[row, column]}: the scale of "
            "the scores or statistics overflows float64 (e.g. a max/min ratio of huge and tiny values); "
            "remove the outliers or rescale them"
        )
    far = outlying(x[:, 0])
    row = int(np.argmax(far))
    if far[row] > OUTLYING:
        how_far = f"{far[row]:.3g}" if np.isfinite(far[row]) else "over 1e308"
        raise FitError(
            f"the score on line {row + 1} is {x[row, 0]:.6g}, {how_far} median deviations from the median "
            f"score ({np.count_nonzero(far > OUTLYING):,} such line(s)): the scale of these outliers "
            "dominates any linear map, which then ignores the other scores; remove them and train again"
        )


def check_fit(features, is_target, prior: float, weights, offset: float) -> None:
    """FitError unless the fitted map llr = features·weights + offset can be used. It cannot when

    - an LLR of a training trial is not finite: the scores' scale overflows the map;
    - the data are separable along the map: every target's projection features·weights is at or above
      every nontarget's (not all equal), so the objective keeps falling as the weights grow and there is no
      finite optimum;
    - its normalised objective C (`Objective`) is not below that of a reference map, the constant llr = 0
      (the fit's start) or the identity llr = first feature (the scores read as LLRs), while that reference
      is not optimal itself (a gradient component above `STATIONARY` in standardised parameters): a better
      map exists and the fit did not find it.
    """
    x = _check_features(features, np.shape(features)[1])
    lab = np.asarray(is_target, dtype=bool)
    w = np.asarray(weights, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        llr = x @ w + offset  # as sveval.calibration.run computes them
        projection = x @ (w / np.max(np.abs(w))) if np.isfinite(w).all() and w.any() else np.zeros_like(llr)
    if not np.isfinite(llr).all():
        raise FitError(
            f"the fitted map gives {np.count_nonzero(~np.isfinite(llr)):,} non-finite LLR(s) on the training "
            f"trials: the scale of the scores (up to {np.max(np.abs(x)):.3g}) overflows float64; rescale the "
            "scores and train again"
        )
    if projection[~lab].max() <= projection[lab].min() and projection.max() > projection.min():
        raise FitError(
            "the training data are separable: a weighted sum of the features puts every target at or "
            "above every nontarget, so logistic regression has no finite optimum and the weights only grow "
            "with the iterations; train on more (or harder) trials where targets and nontargets overlap"
        )
    std, objective = Standardised.of(x), Objective.of(lab, prior)
    fitted, _ = objective.value_and_slope(llr)
    references = (
        ("its start, the constant map llr = 0", np.zeros_like(llr)),
        ("the scores read as LLRs", x[:, 0]),
    )
    for name, reference in references:
        cost, slope = objective.value_and_slope(reference)
        with np.errstate(over="ignore", invalid="ignore"):
            steepest = np.max(np.abs(objective.gradient(std.z, slope)))
        if fitted >= cost and not steepest <= STATIONARY:
            raise FitError(
                f"the fit did not improve on {name} (normalised cost {fitted:.6g} >= {cost:.6g}) though a "
                f"better map exists (the cost falls at {steepest:.3g} per standard deviation there), at "
                f"prior {prior:g}: train at a prior nearer 0.5, or rescale the scores"
            )


def training_info(
    sources, enroll, test, is_target, raw_scores, llrs, iterations: int, converged: bool, fingerprint: str
) -> TrainingInfo:
    """Counts (repeated pairs, self-pairs) and Cllr before/after of a training set."""
    keys = trial_keys(np.asarray(enroll, dtype=object), np.asarray(test, dtype=object))
    n_repeated = int(keys.size - np.unique(keys).size)
    lab = np.asarray(is_target, dtype=bool)
    return TrainingInfo(
        sources=tuple(sources),
        fingerprint=fingerprint,
        n_target=int(lab.sum()),
        n_nontarget=int((~lab).sum()),
        n_repeated=n_repeated,
        n_self_pairs=int(np.count_nonzero(np.asarray(enroll) == np.asarray(test))),
        cllr_before=cllr(raw_scores, lab),
        cllr_after=cllr(llrs, lab),
        min_cllr=min_cllr(llrs, lab),
        iterations=iterations,
        converged=converged,
    )
