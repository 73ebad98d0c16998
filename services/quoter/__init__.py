"""quoter."""
