"""Voice benchmark: Hotline over FastAGI vs Hotline over pyst2 process-per-call AGI vs the same
menu written natively in Asterisk dialplan, on one sandbox Asterisk instance (``bench``).

One call (SIPp, bench/sipp): INVITE, wait for the menu, key 1 (SIP INFO), digits 5678, the
back-end lookup, "Result" + SAY DIGITS, Asterisk hangs up. Every variant's lookup is a real
HTTP GET /orders/12345678 against one demo back-end process of its own (bench/voice/backend.py):
the Hotline server runs with its in-process demo back-end off, the pyst2 scripts read the same
base URL from the rendered hotline-agi.toml, and the native dialplan uses CURL() +
JSON_DECODE().

Phases (the variants alternate inside every phase, so machine noise hits all of them):

1. throughput: each variant's maximum rate is searched for (``search``: a ramp from a low
   rate up to the first failing step, then bisection to within 5 %, at most a cap of 400
   calls/s; pyst2 first, then FastAGI and native alternating step by step); a step is a
   bounded number of calls at one rate (calls/s) and passes when SIPp reports every call
   successful *and* Asterisk's log shows every flow finished (``HOTLINE after-flow ...
   done=1 exit=hangup`` for Hotline, set by the Hotline server through HOTLINE_DONE;
   ``BENCH native done`` for the dialplan). CPU per step: utime+stime deltas of Asterisk,
   of the Hotline server and of the back-end process, and Asterisk's reaped children
   (cutime+cstime: the process-per-call AGI scripts).
2. latency: a moderate-load run per variant with Asterisk's millisecond log, verbose 3 and
   ``agi set debug on``: DTMF -> next prompt, measured inside Asterisk the same way for all:
   AGI: ``AGI Tx >> 200 result=<key or digits>`` -> the next ``AGI Rx << STREAM FILE/GET
   DATA/SAY``; native: the first ``Executing`` after ``Read()`` -> ``Executing Read/Playback``.

Run (root, sandbox built, ``asterisk_conf/sandbox.sh agi-venv`` done):
    .venv/bin/python -m bench.voice_bench            # 20-30 minutes (minute-long steps)
    .venv/bin/python -m bench.voice_bench --quick    # about 5 minutes
(``python -m bench.voice`` is the same.) Everything listens on and sends to 127.0.0.1 only;
the instance ``bench`` is stopped at the end.

Modules: ``plan`` (variants, searches, ports), ``search`` (the pure search for a maximum:
next rate, interval, alternation), ``instance`` (the bench's Config, prompts, dialplan and
caller scenario), ``measure`` (CPU, log parsing), ``run`` (the processes and the steps),
``report`` (the RESULTS.md section), ``cli`` (the command line); ``backend`` is the demo
back-end process; bench_menu.yaml, native.conf are the flow and its dialplan twin.
"""
