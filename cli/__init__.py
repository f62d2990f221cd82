"""The `sveval` command line: one module per command, each thin (parse -> sveval.io -> library -> write)."""
