"""cli tests (issue 2)."""
