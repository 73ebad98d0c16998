"""kalshi."""
