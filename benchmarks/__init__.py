"""Benchmarks for mova at queue sizes of 1,000 to 100,000 entries (see README, "Performance")."""
