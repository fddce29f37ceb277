"""The vocabulary every layer shares: frozen snapshot types and pure helpers over them.

Imports nothing of stucktui but itself (an import-linter contract in pyproject.toml).
"""
