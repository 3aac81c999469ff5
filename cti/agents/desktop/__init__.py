"""The agent desktop: sign-in, the desktop page and its frames."""
