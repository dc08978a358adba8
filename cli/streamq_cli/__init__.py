"""The streamq command-line interface (installed as the `streamq_cli` package)."""
