"""Event model, provider adapters and the stream processors."""
