"""Execution: runs a plan (tasks, runners, statistics, the dataset folder's life cycle)."""
