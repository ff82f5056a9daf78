"""pyopenjtalk is one engine per process: no two threads may be inside it at once, whichever
synthesizer (IVR, simulated caller) or helper (g2p) calls it."""

from __future__ import annotations

import threading
import time

import numpy as np

from ivr.speech import tts


class EngineSpy:
    """Stands in for pyopenjtalk's tts/g2p and records how many threads were inside at once."""

    def __init__(self) -> None:
        self.inside = 0
        self.most = 0
        self._count = threading.Lock()

    def _enter(self) -> None:
        with self._count:
            self.inside += 1
            self.most = max(self.most, self.inside)
        time.sleep(0.05)  # long enough for an unguarded second thread to come in
        with self._count:
            self.inside -= 1

    def tts(self, text, **_):
        self._enter()
        return np.zeros(480, dtype=np.float64), 48000

    def g2p(self, text, **_):
        self._enter()
        return "テスト"


def test_two_synthesizers_and_g2p_never_enter_open_jtalk_together(monkeypatch):
    spy = EngineSpy()
    monkeypatch.setattr(tts.pyopenjtalk, "tts", spy.tts)
    monkeypatch.setattr(tts.pyopenjtalk, "g2p", spy.g2p)
    ivr_side, caller_side = tts.OpenJTalkBackend(tts.Voice()), tts.OpenJTalkBackend(tts.Voice(speed=1.1))
    start = threading.Barrier(3)
    jobs = [lambda: ivr_side.synthesize("はい"), lambda: caller_side.synthesize("いいえ"), lambda: tts.g2p_kana("予約")]

    def run(job):
        start.wait()
        for _ in range(3):
            job()

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert spy.most == 1
