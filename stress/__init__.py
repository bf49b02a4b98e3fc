"""Load, fault and soak scripts for the local gateway (see stress/harness.py)."""
