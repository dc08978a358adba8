"""`python -m streamq_cli` (from a checkout) runs the same app as the `streamq` command."""

from .main import main

main()
