"""The streaming engine: audio I/O, ring buffers, the worker, the stem mixer."""

# Time the worker may be late, by default (the CLI's and the window's). 10 ms gave 1 miss
# (with 5 JACK xruns) in one of three 5-minute loopback runs on this 2-core VM; 20 ms gave
# none. Here, not in engine.py, so that the CLI can show it without importing torch.
DEFAULT_SAFETY_MS = 20.0
