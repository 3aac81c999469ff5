"""Integration tests against a real Asterisk (the sandbox chroot) driven by SIPp."""
