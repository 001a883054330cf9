"""Runners decide where each component of the one DAG runs: in-process, in a container, or as a Job."""
