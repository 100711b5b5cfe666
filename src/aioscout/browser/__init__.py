"""Headless Chromium over the DevTools protocol: the report tests and the screenshots use it."""
