"""Synthetic scenes for demos, tests and benchmarks (no camera needed); never used on a live session."""
