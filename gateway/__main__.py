"""Run the `gamegate` command as `python -m gateway`."""

from gateway.cli import main

main()
