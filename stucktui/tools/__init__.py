"""External programs (py-spy, gdb): pure argv builders and output parsers, and one runner."""
