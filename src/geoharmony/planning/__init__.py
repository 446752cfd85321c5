"""Decisions: configuration, study area and the plan — everything decided before a pixel is read."""
