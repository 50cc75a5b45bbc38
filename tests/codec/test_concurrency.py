"""compress/decompress from several threads at once on one model give what serial calls give."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

import licodec
from licodec.codec.api import resolve_model
from tests.codec.helpers import make_model
from tests.conftest import smooth_image


def test_four_threads_twenty_mixed_calls_each_match_serial():
    codec = resolve_model(make_model())
    images = [(smooth_image(32 + 16 * (k % 3), 48, seed=k)[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8) for k in range(5)]
    serial_files = [licodec.compress(img, quality=1 + k % 3, model=codec) for k, img in enumerate(images)]
    serial_pixels = [licodec.decompress(d, model=codec, as_array=True) for d in serial_files]

    def work(t: int) -> list[bool]:
        ok = []
        for i in range(20):
            k = (t + i) % len(images)
            if i % 2:
                ok.append(licodec.compress(images[k], quality=1 + k % 3, model=codec) == serial_files[k])
            else:
                ok.append(np.array_equal(licodec.decompress(serial_files[k], model=codec, as_array=True), serial_pixels[k]))
        return ok

    with ThreadPoolExecutor(4) as pool:
        results = [r for rs in pool.map(work, range(4)) for r in rs]
    assert len(results) == 80 and all(results)


def test_a_model_is_loaded_once_when_threads_ask_at_once(monkeypatch):
    import threading

    from licodec.codec import zoo

    calls = []
    real = zoo._load

    def counting(spec):
        calls.append(spec)
        return real(spec)

    monkeypatch.setattr(zoo, "_CACHE", {})
    monkeypatch.setattr(zoo, "_load", counting)
    got = []
    threads = [threading.Thread(target=lambda: got.append(zoo.load(None))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len(got) == 4 and all(c is got[0] for c in got)
