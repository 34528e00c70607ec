"""The outputs stage: analysis, charts, the report, exports, the manifest and verify."""
