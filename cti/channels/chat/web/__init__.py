"""The customer chat's browser side: the widget loader, the chat panel page and its UI
strings (``strings.STRINGS``). Served by the chat area's web routes; no Python logic here."""
