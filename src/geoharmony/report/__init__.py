"""The HTML report of a dataset (``html.py`` builds it)."""
