"""Helpers and small modules the tests share (fixtures live in tests/conftest.py)."""
