"""Metrics over the inference log and threshold violations."""
