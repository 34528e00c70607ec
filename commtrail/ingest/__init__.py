"""The ingest stage: find inputs, hash, sniff, parse, stage, inventory."""
