"""The reviewer's own work on a case: annotations (stars, tags, notes) and the people table."""
