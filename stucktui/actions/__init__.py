"""Actions on a target process: signals, fd closing, and the audit log."""
