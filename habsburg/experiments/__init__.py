"""Experiments: run, checkpoint, outcomes, compare, sweeps, sensitivity, EMA, validation."""
