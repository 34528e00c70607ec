"""Names shared by the analysis and the drawing (no imports, so that a drawing worker stays light)."""

# the group of identifiers linked to no party of case.toml
UNKNOWN = "(unknown)"
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
# call kinds -> the label shown; an incoming call of another kind with a duration counts as answered
CALL_LABELS = {"incoming": "answered", "missed": "missed", "rejected": "rejected", "blocked": "blocked",
               "voicemail": "voicemail", "answered_elsewhere": "answered elsewhere", "outgoing": "outgoing"}
CALL_ORDER = ("answered", "missed", "rejected", "blocked", "voicemail", "answered elsewhere", "other", "outgoing")
# the days before and after an event that its figures compare
WINDOW_DAYS = 30
