"""Demo data: a sample merchant back-end (orders, deliveries, accounts) for the demo flows."""
