"""Benchmarks of socialmetrics (`bench/run.py`) and their data generator; never part of the test run."""
