"""Scoring the hotspot detector: random audiences (audiences.py), other detectors to compare
with (baselines.py), scores (scoring.py) and the published tables (report.py)."""
