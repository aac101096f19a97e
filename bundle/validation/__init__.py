"""Retrieval quality on the labelled question set, against thresholds."""
