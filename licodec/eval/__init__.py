"""Evaluation: metrics, rate-distortion runs, BD-rates, plots."""
