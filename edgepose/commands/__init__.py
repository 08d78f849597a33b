"""Subcommands of the `edgepose` CLI, one module each."""
