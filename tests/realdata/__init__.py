"""realdata tests (issue 2)."""
