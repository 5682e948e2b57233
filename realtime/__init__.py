"""The streaming engine: audio I/O, ring buffers, the worker, the stem mixer."""

# Time the worker may be late, by default (the CLI's and the window's). The 75 ms round trip
# at 48 kHz: 74.5 ms on JACK at a 128-frame period (82.5 at 256). At 256 the most safety
# the bar leaves is 10.9 ms, which 30 minutes of the window did not hold on 2026-12-06 (2
# misses, both when the hypervisor took the worker's vCPU). The worker's slack is a period
# plus the safety less the 1 ms miss fade: 20.2 ms here, against 13.2 ms then; 30 minutes
# of the window held it with 0 misses (README, "Speed and latency"). Here, not in
# engine.py, so that the CLI can show it without importing torch.
DEFAULT_SAFETY_MS = 18.5
# JACK's period in the live benchmark and the soak: the usual low-latency setting.
BENCH_PERIOD = 128


def add_arithmetic_argument(p, default: str | None = "int8") -> None:
    """``--arithmetic int8|float`` on a live command's parser (``default`` None: the
    window's stored setting)."""
    p.add_argument(
        "--arithmetic",
        choices=("int8", "float"),
        default=default,
        help="the model's step: int8 weights (~1.5x faster, the default) or float (exact)",
    )
