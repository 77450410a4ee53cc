"""Benchmarks (issue 22): ``python -m bench`` runs them all beside their same-run ceilings."""
