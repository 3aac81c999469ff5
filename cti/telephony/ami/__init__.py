"""AMI: ``codec`` (pure wire format), ``events`` (typed telephony events, pure), ``client``
(Twisted protocol + reconnecting client), ``bridge`` (AMI facts -> routing events)."""
