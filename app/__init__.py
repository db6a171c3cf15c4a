"""Wiring: settings, command line, Faust app, ClickHouse client and schema, embedded broker."""
