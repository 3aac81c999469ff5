"""The touch renderer (ITR): the same flow as the voice menu, as a mobile web page.

``view`` turns interpreter effects into a view model (pure); ``session`` signs the state and
runs actions; ``app`` is the Flask application factory ``create_itr_app``.
"""
