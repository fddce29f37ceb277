"""Widgets of the app: tables and panels fed with snapshots."""
