"""The streaming engine: audio I/O, ring buffers, the worker, the stem mixer."""

# Time the worker may be late, by default (the CLI's and the window's). At 10.9 ms the round
# trip at 48 kHz / 256 is 74.9 ms (the 75 ms bar), but 30 minutes of the window on JACK with
# nothing beside gave 1-2 misses at 10 and 10.9 ms on 2026-12-06, the last two when the
# hypervisor took the worker's vCPU (README, "The 10 ms safety buffer"); 20 ms held in
# 5-minute runs (8 misses in 30 minutes once). Here, not in engine.py, so that the CLI can
# show it without importing torch.
DEFAULT_SAFETY_MS = 20.0
