"""The touch renderer (ITR): the same flow as the voice menu, as a mobile web page.

``view`` turns interpreter effects into a view model (pure); ``session`` signs the state
(with its issue time: pages expire) and runs actions; ``once`` keeps the one-time keys of side
effects; ``handoff`` signs the hand-off of a queue exit to a chat; ``app`` is the Flask
application factory ``create_itr_app``.
"""
