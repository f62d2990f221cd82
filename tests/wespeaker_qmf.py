"""A plain transcription of WeSpeaker's QMF calibration (wespeaker/bin/score_calibration.py: gather, train,
infer), line-by-line text in and out as the original does, used as the oracle for `--compat wespeaker`."""

from __future__ import annotations

import numpy as np
import torch


def gather(utt2dur_path, max_dur, score_norm_file, factor_file):
    wavidx2dur = {}
    with open(utt2dur_path) as f:
        for line in f:
            idx, dur = line.split()
            wavidx2dur[idx] = min(float(dur), max_dur)

    def reorder_values(value_1, value_2):
        max_value = max(value_1, value_2)
        min_value = min(value_1, value_2)
        return "{:.4f} {:.4f} {:.4f} {:.4f}".format(
            min_value, max_value, max_value - min_value, max_value / min_value
        )

    with open(score_norm_file) as fin, open(factor_file, "w") as fout:
        for line in fin.readlines():
            line = line.strip().split()
            dur_str = reorder_values(wavidx2dur[line[0]], wavidx2dur[line[1]])
            mag_str = reorder_values(float(line[4]), float(line[5]))
            cohort_mean_str = reorder_values(float(line[6]), float(line[7]))
            fout.write(
                "{} {} {} {} {} {} {}\n".format(
                    line[0], line[1], line[3], line[2], dur_str, mag_str, cohort_mean_str
                )
            )


class LinearModel(torch.nn.Module):
    def __init__(self, input_dim):
        super().__init__()
        self.linear = torch.nn.Linear(input_dim, 1)
        torch.nn.init.constant_(self.linear.weight, 1.0 / input_dim)
        torch.nn.init.constant_(self.linear.bias, 0)

    def forward(self, x):
        return self.linear(x)


def cllr(target_llrs, nontarget_llrs):
    def negative_log_sigmoid(lodds):
        return torch.log1p(torch.exp(-lodds))

    return (
        0.5
        * (torch.mean(negative_log_sigmoid(target_llrs)) + torch.mean(negative_log_sigmoid(-nontarget_llrs)))
        / np.log(2)
    )


def train(factor_file, model_path):
    target, nontarget = [], []
    with open(factor_file) as fin:
        for line in fin.readlines():
            line = line.strip().split()
            if line[2] == "tgt" or line[2] == "target":
                target.append([float(v) for v in line[3:]])
            else:
                nontarget.append([float(v) for v in line[3:]])
    target_llrs = torch.tensor(target, dtype=torch.float64)
    nontarget_llrs = torch.tensor(nontarget, dtype=torch.float64)
    model = LinearModel(target_llrs.shape[-1])
    model.double()
    optimizer = torch.optim.LBFGS(model.parameters(), lr=0.01)
    best_loss = 1000000.0
    for _ in range(50):

        def closure():
            optimizer.zero_grad()
            loss = cllr(model(target_llrs), model(nontarget_llrs))
            loss.backward()
            return loss

        loss = optimizer.step(closure)
        if best_loss - loss < 1e-4:
            break
        if loss < best_loss:
            best_loss = loss
    torch.save(model.state_dict(), model_path)


def infer(factor_file, model_path, out_file):
    rows = []
    with open(factor_file) as fin:
        lines = fin.readlines()
        for line in lines:
            rows.append([float(v) for v in line.strip().split()[3:]])
    llrs = torch.tensor(rows, dtype=torch.float64)
    model = LinearModel(llrs.shape[-1])
    model.load_state_dict(torch.load(model_path, weights_only=True))
    model.eval()
    model.double()
    outputs = model(llrs)
    with open(out_file, "w") as fout:
        for i in range(len(lines)):
            line = lines[i].strip().split()
            fout.write("{} {} {} {}\n".format(line[0], line[1], outputs[i].item(), line[2]))
