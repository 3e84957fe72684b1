"""Atheris harnesses (reliability #50): `python -m tests.hostile.fuzz.<target> [libFuzzer flags] [corpus dir]`.

Each harness feeds arbitrary bytes to one parser or validator and lets only the errors it documents
through; anything else escaping is a crash that libFuzzer reports (and saves) with a non-zero exit.
Run by tests/hostile/test_atheris.py (a few thousand runs) and `make fuzz` (a minute each).
"""
