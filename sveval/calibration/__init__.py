"""Calibration and fusion of scores into log-likelihood ratios (linear, QMF), and calibration lists."""
