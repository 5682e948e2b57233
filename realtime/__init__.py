"""The streaming engine: audio I/O, ring buffers, the worker, the stem mixer."""

# Time the worker may be late, by default (the CLI's and the window's). At 10 ms the round
# trip at 48 kHz / 256 would be 74.0 ms, but 30 minutes of the window on JACK at 10 ms with
# nothing beside gave 1 miss (the worker polling its ring) and 18 (woken by the callback
# at its start; realtime/wake.py now wakes it at its end) on 2026-12-06; 20 ms held on
# 2026-12-01/02 in 5-minute runs (8 misses in 30 minutes once). Here, not in engine.py, so
# that the CLI can show it without importing torch.
DEFAULT_SAFETY_MS = 20.0
