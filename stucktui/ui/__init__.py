"""The Textual app: screens, widgets and the stylesheet. Never reads /proc itself."""
