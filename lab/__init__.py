"""Driving the lab: bootstrap (bootstrap.sh), orchestration (run.py) and the compose file's vocabulary."""
