"""Tests of the benchmark suite in bench/ (not of netiso's performance)."""
