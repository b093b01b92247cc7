"""Benchmarks: scripts that print figures (see the README's Performance section).

They measure what a user gets, so they start with the app's allocator setting (core.allocator), as the
window and the CLI do; benchmarks/allocator.py compares it with glibc's defaults in fresh processes."""

from core.allocator import keep_freed_memory

keep_freed_memory()
