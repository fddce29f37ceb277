"""Widgets of the app: tables and panels fed with snapshots."""

# the header's icon (it opens the command palette): Textual's '⭘' (U+2B58) is a missing glyph
# in common terminal fonts; '≡' is in every font that covers code page 437
HEADER_ICON = "≡"
