"""Input and output as two PortAudio streams, for a duplex callback clocked by the input.

Through ALSA's ``pulse`` device (desktop audio) one duplex PortAudio stream is
fragile: an output callback later than the output buffer underflows it, PortAudio
then restarts both sides, and the plugin takes ~2 s to start again, so the
capture loses two seconds too (measured: one callback made 100 ms late gave a
1.95 s gap on both sides). A late *input* callback costs nothing: the server keeps
what it recorded.

``SplitStream`` opens the sides separately. The input callback runs the engine's
``callback(indata, outdata, frames, time, status)`` as a duplex stream would, into
a ring; the output callback only copies from that ring. An output stall then
leaves the input (and what the engine captures) untouched. The ring holds
``prefill`` frames before the output starts reading, and each frame is played
exactly ``prefill`` frames after it was made: frames missing when the output
needs them are played as silence and skipped when they come; a surplus (the
output stalled) is dropped. Both count as an xrun. ``latency`` adds ``prefill``
to the output's.
"""

from __future__ import annotations

import numpy as np

from realtime.ring import RingBuffer

MAX_BLOCK = 8192


class SplitStream:
    """Two PortAudio streams; the input's callback drives the duplex ``callback``."""

    def __init__(
        self,
        sd,
        device: tuple[int, int],
        channels: tuple[int, int],
        samplerate: int,
        blocksize: int,
        callback,
        latency: str | float = "high",
        finished_callback=None,
        dtype: str = "float32",
    ) -> None:
        self._callback = callback
        self._finished = finished_callback
        self.rate = samplerate
        in_ch, out_ch = channels
        kwargs = dict(samplerate=samplerate, blocksize=blocksize, dtype=dtype)
        self._input = sd.InputStream(
            device=device[0],
            channels=in_ch,
            callback=self._on_input,
            finished_callback=self._on_side_finished,
            latency=latency,
            **kwargs,
        )
        try:
            self._output = sd.OutputStream(
                device=device[1],
                channels=out_ch,
                callback=self._on_output,
                finished_callback=self._on_side_finished,
                latency=latency,
                **kwargs,
            )
        except Exception:
            self._input.close()
            raise
        # The output reads in bursts of up to its buffer, the input writes in bursts of up to
        # its own: the ring covers both.
        self.prefill = int(round((self._input.latency + self._output.latency) * samplerate))
        self.prefill += blocksize
        self._ring = RingBuffer(out_ch, 4 * self.prefill + MAX_BLOCK)
        self._made = np.zeros((MAX_BLOCK, out_ch), np.float32)  # (frames, channels)
        self._played = np.zeros((out_ch, MAX_BLOCK), np.float32)
        self._primed = False
        self._owed = 0  # frames played as silence: skipped when they come
        self._output_status = False
        self.xruns = 0  # the ring's underflows and drops, besides the devices' own

    # -- the two callbacks (PortAudio's threads) ------------------------------------------
    def _on_input(self, indata, frames, time_info, status) -> None:
        made = self._made[:frames]
        flag = bool(status) or self._output_status
        self._output_status = False
        self._callback(indata, made, frames, time_info, flag)
        self._ring.write(made.T)

    def _on_output(self, outdata, frames, time_info, status) -> None:
        ring = self._ring
        if status:
            self._output_status = True
        if self._owed:
            self._owed -= ring.skip(self._owed)
        fill = ring.available()
        if not self._primed:
            self._primed = fill >= self.prefill
            if self._primed:
                ring.skip(fill - self.prefill)
            outdata.fill(0.0)
            return
        if fill > 2 * self.prefill + frames:  # the output stalled: drop what it missed
            ring.skip(fill - self.prefill)
            self._xrun()
        played = self._played[:, :frames]
        got = ring.read_into(played, min(frames, ring.available()))
        if got < frames:
            played[:, got:] = 0.0
            self._owed += frames - got
            self._xrun()
        outdata[:] = played.T

    def _xrun(self) -> None:
        self.xruns += 1
        self._output_status = True  # the engine counts it with the next input block

    def _on_side_finished(self) -> None:
        if self._finished is not None:
            self._finished()

    # -- what the engine uses of a PortAudio stream --------------------------------------
    @property
    def latency(self) -> tuple[float, float]:
        """(input, output) seconds; the output's includes the ring's ``prefill``."""
        return self._input.latency, self._output.latency + self.prefill / self.rate

    @property
    def active(self) -> bool:
        return self._input.active and self._output.active

    def start(self) -> None:
        self._output.start()
        self._input.start()

    def stop(self) -> None:
        self._input.stop()
        self._output.stop()

    def abort(self) -> None:
        self._input.abort()
        self._output.abort()

    def close(self) -> None:
        self._input.close()
        self._output.close()
