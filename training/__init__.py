"""Offline training: data loading, tokenizers, training loops, evaluation, and the CLI that writes
artifacts."""
