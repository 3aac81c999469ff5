"""The chat channel: conversations with customers as contacts of the routing engine."""
