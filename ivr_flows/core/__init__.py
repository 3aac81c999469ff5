"""The pure core of flows: the model, the interpreter (inputs in, effects out), validation
and errors. No I/O, no clock, no environment: a test enforces it for every module here."""
