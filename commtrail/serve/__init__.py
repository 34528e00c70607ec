"""The local review app (``commtrail serve``): read, star, tag and note events in a browser,
link identifiers to parties and write the report; bound to 127.0.0.1, guarded by a per-run token."""
