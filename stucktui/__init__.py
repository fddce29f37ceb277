"""stucktui: a full-screen inspector for stuck Linux processes."""

__version__ = "0.1.0"
