"""Built-in math task plugin."""
