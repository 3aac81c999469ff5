"""The supervisor console: a Flask app built by ``create_console_app`` (see ``web_admin.app``)."""
