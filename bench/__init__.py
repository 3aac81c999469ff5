"""Benchmarks (not tests): side-by-side ratios, written reports."""
