"""Linear calibration and fusion of scores into natural-log likelihood ratios: pure numpy/scipy.

The model maps a feature row x (one score for calibration; one score per system for fusion; the score plus
quality measures for QMF, see `sveval.qmf`) to llr = w·x + b.

Objective (BOSARIS `train_linear_fuser` / pyllr, "prior-weighted logistic regression") at a prior π, with
ℓ = logit(π), T targets and N nontargets:

    C(w, b) = π/T · Σ_targets log(1 + e^−(w·x + b + ℓ)) + (1−π)/N · Σ_nontargets log(1 + e^(w·x + b + ℓ))

divided by ln 2 this is the prior-weighted Cllr in bits; at π = ½ it is exactly Cllr (WeSpeaker's QMF loss).
Minimising it makes w·x + b an LLR that is well calibrated around the prior π. The fit standardises each
feature, runs scipy's L-BFGS-B with the analytic gradient to convergence (gradient norm 1e-9), and maps the
weights back to the raw features. Perfectly separable training data has no finite optimum: the fit then
stops at the iteration limit and says so (`converged`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit

from sveval.calibration_metrics import min_cllr
from sveval.errors import InputError
from sveval.io.trials import trial_keys
from sveval.metrics import cllr
from sveval.signature import make_signature

METHODS = ("linear", "fusion", "qmf")
FITS = ("scipy", "wespeaker")
MAX_ITERATIONS = 2000


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
    def signature(self) -> str:
        """`cal:<method>|prior:<p>|fit:<fit>|train:<file>@<fingerprint12>|v:<version>`."""
        train = "+".join(self.training.sources) + "@" + self.training.fingerprint.split(":")[-1][:12]
        return make_signature(cal=self.method, prior=f"{self.prior:g}", fit=self.fit, train=train)

    def to_dict(self) -> dict:
        out = asdict(self)
        out["training"]["sources"] = list(self.training.sources)
        out["features"], out["weights"] = list(self.features), list(self.weights)
        out["signature"] = self.signature
        return out

    @classmethod
    def from_dict(cls, data: dict, source: str) -> CalibrationModel:
        """Inverse of `to_dict`; InputError naming `source` for anything missing or inconsistent."""
        try:
            training = TrainingInfo(**{**data["training"], "sources": tuple(data["training"]["sources"])})
            model = cls(
                method=str(data["method"]),
                features=tuple(str(f) for f in data["features"]),
                weights=tuple(float(w) for w in data["weights"]),
                offset=float(data["offset"]),
                prior=float(data["prior"]),
                fit=str(data["fit"]),
                training=training,
                max_dur=None if data.get("max_dur") is None else float(data["max_dur"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"not a sveval calibration model: {exc!r}", source) from None
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


def _check_features(features, width: int) -> np.ndarray:
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != width:
        raise ValueError(f"features must be (n, {width}), got shape {x.shape}")
    return x


def fit_logistic(features, is_target, prior: float) -> tuple[np.ndarray, float, int, bool]:
    """Minimise the objective of the module doc. features (n, d), is_target (n,) bool, 0 < prior < 1.

    Returns (weights (d,), offset, iterations, converged).
    """
    x = _check_features(features, np.shape(features)[1])
    lab = np.asarray(is_target, dtype=bool)
    if not 0.0 < prior < 1.0:
        raise ValueError(f"prior must be between 0 and 1, got {prior}")
    n_tar = int(lab.sum())
    if n_tar == 0 or n_tar == lab.size:
        raise ValueError("training needs both target and nontarget trials")
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    z = (x - mean) / scale
    sign = np.where(lab, 1.0, -1.0)
    weight = np.where(lab, prior / n_tar, (1.0 - prior) / (lab.size - n_tar))
    shift = float(np.log(prior) - np.log1p(-prior))

    def objective(theta):
        margin = sign * (z @ theta[:-1] + theta[-1] + shift)
        # reductions by einsum/sum, not BLAS dot: OpenBLAS's threaded dot stalls on a busy machine (30x)
        loss = float(np.sum(weight * np.logaddexp(0.0, -margin)))
        d_llr = -weight * expit(-margin) * sign
        return loss, np.concatenate([np.einsum("ij,i->j", z, d_llr), [d_llr.sum()]])

    result = minimize(
        objective,
        np.zeros(x.shape[1] + 1),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": MAX_ITERATIONS, "gtol": 1e-9, "ftol": 1e-15},
    )
    w = result.x[:-1] / scale
    return w, float(result.x[-1] - mean @ w), int(result.nit), bool(result.success)


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
