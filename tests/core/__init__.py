"""core tests (issue 2)."""
