"""The timeline stage: record schema, identity, dedup, the master evidence file."""
