"""The Mesa model: wiring, the monthly step, reporters, the event log and the export of tables."""
