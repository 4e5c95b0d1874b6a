"""Benchmarks of the analysis engine (run as modules, not collected by pytest)."""
