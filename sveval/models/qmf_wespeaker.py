"""WeSpeaker's QMF calibration training and inference (`wespeaker/bin/score_calibration.py`), step for step.

Reproduced exactly, so that `sveval calibrate --method qmf --compat wespeaker` writes the same calibrated
score file as WeSpeaker's `local/score_calibration.sh` (stages 2-4):

- model: `torch.nn.Linear(d, 1)` created in float32, weight set to the float32 value of 1/d and bias to 0,
  then converted to float64 (so the start weight is float32(1/d), not the float64 1/d);
- loss: Cllr = ½·(mean over targets of log1p(exp(−s)) + mean over nontargets of log1p(exp(s))) / ln 2, with
  the targets and nontargets each in file order;
- optimiser: `torch.optim.LBFGS(lr=0.01)` with its defaults (20 iterations per step, no line search);
- up to 50 steps; stop as soon as (best loss so far − the loss returned by the step) < 1e-4, where a step
  returns the loss evaluated before its own iterations; the best loss starts at 1e6;
- inference: a fresh float32 `Linear` loads the saved float64 state dict (so the weights are rounded to
  float32), is converted to float64 and applied to all trials at once.

torch is imported here only, and lazily.
"""

from __future__ import annotations

import numpy as np

from sveval.calibration.linear import check_fit, check_training

MAX_EPOCHS = 50
STOP_DELTA = 1e-4


def _model(width: int):
    import torch

    linear = torch.nn.Linear(width, 1)
    torch.nn.init.constant_(linear.weight, 1.0 / width)
    torch.nn.init.constant_(linear.bias, 0)
    return linear.double()


def _cllr(torch, target_llrs, nontarget_llrs):
    def negative_log_sigmoid(lodds):
        return torch.log1p(torch.exp(-lodds))

    return (
        0.5
        * (torch.mean(negative_log_sigmoid(target_llrs)) + torch.mean(negative_log_sigmoid(-nontarget_llrs)))
        / np.log(2)
    )


def train(features: np.ndarray, is_target: np.ndarray, progress=None) -> tuple[np.ndarray, float, int]:
    """features (n, d) float64 in WeSpeaker's column order, is_target (n,) bool; progress: optional
    callable(step, loss) told after each of the (at most 50) L-BFGS steps.

    Returns (weights (d,), bias, steps taken). Training data or a result that must not be used is a
    `sveval.calibration.linear.FitError`, as for sveval's own fit (`check_training`, `check_fit` at prior ½).
    """
    x = np.asarray(features, dtype=np.float64)
    lab = np.asarray(is_target, dtype=bool)
    check_training(x)  # before importing torch and running the schedule, which take minutes
    import torch

    target = torch.from_numpy(np.ascontiguousarray(x[lab]))
    nontarget = torch.from_numpy(np.ascontiguousarray(x[~lab]))
    model = _model(x.shape[1])
    optimizer = torch.optim.LBFGS(model.parameters(), lr=0.01)
    best_loss = 1000000.0
    steps = 0
    for _ in range(MAX_EPOCHS):

        def closure():
            optimizer.zero_grad()
            loss = _cllr(torch, model(target), model(nontarget))
            loss.backward()
            return loss

        loss = optimizer.step(closure)
        steps += 1
        if progress is not None:
            progress(steps, float(loss.detach()))
        if best_loss - loss < STOP_DELTA:
            break
        if loss < best_loss:
            best_loss = loss
    weight = model.weight.detach().numpy().reshape(-1).copy()
    bias = float(model.bias.detach().numpy()[0])
    check_fit(x, lab, 0.5, weight, bias)
    return weight, bias, steps


def infer(features: np.ndarray, weights, bias: float) -> np.ndarray:
    """The model's output for every row, computed by torch as WeSpeaker's inference does. (n,) float64."""
    import torch

    model = torch.nn.Linear(len(weights), 1)  # float32, as WeSpeaker's LinearModel before load_state_dict
    with torch.no_grad():
        model.weight.copy_(torch.tensor(np.asarray(weights, dtype=np.float64).reshape(1, -1)))
        model.bias.copy_(torch.tensor([float(bias)], dtype=torch.float64))
        model.double()
        out = model(torch.from_numpy(np.ascontiguousarray(features, dtype=np.float64)))
    return out.numpy().reshape(-1).copy()
