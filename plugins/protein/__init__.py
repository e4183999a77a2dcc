"""Built-in protein task plugin."""
