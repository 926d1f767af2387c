"""ipywidgets front end of deepaw-nb, imported as ``deepaw_widgets``."""
