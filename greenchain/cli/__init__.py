"""The ``greenchain`` command line."""
