"""What a flow touches outside the interpreter: the merchant's HTTP API (``actions``), signed
links to the touch menu (``links``), SMS senders (``sms``), the flow's local clock
(``clock``) and the flow's picture (``graph``)."""
