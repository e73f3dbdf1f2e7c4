"""Audio commands: listen (predict from the microphone), devices."""
from __future__ import annotations

import json
import sys
import time

from core.errors import SpeechLabError


def cmd_devices(args):
    from core.recorder import list_input_devices

    devices = list_input_devices()
    if args.json:
        print(json.dumps([d.__dict__ for d in devices]))
    elif not devices:
        print("no audio input devices found")
    else:
        for d in devices:
            mark = "*" if d.is_default else " "
            print(f"{mark} {d.index:3d}  {d.name}  ({d.max_input_channels} ch, {d.default_samplerate:.0f} Hz, {d.hostapi})")
    return 0


def cmd_listen(args):
    from core.bundle import load_bundle
    from core.recorder import Recorder
    from core.utterances import UtteranceDetector

    bundle = load_bundle(args.model)
    rec = Recorder(args.device)
    detector = UtteranceDetector(rec.samplerate)
    sys.stderr.write(f"listening on '{rec.device.name}' at {rec.samplerate} Hz"
                     + (f" for {args.seconds:g} s" if args.seconds else " (Ctrl-C to stop)") + "\n")

    def emit(utterances):
        for u in utterances:
            try:
                pred = bundle.predict_signal(u.audio, rec.samplerate)
            except SpeechLabError as exc:
                sys.stderr.write(f"skipped an utterance at {u.start:.2f} s: {exc}\n")
                continue
            line = {"start": round(u.start, 3), "end": round(u.end, 3), **pred}
            if args.json:
                print(json.dumps(line), flush=True)
            else:
                print(f"{u.start:7.2f}–{u.end:7.2f} s: {pred['label']} "
                      + (f"({pred['probabilities'][pred['label']]:.0%})" if pred["label"] in pred["probabilities"]
                         else f"(score {pred.get('score', 0):.3g} < threshold {pred.get('threshold', 0):.3g})"),
                      flush=True)

    t_end = time.monotonic() + args.seconds if args.seconds else None
    try:
        with rec:
            while t_end is None or time.monotonic() < t_end:
                emit(detector.feed(rec.read(timeout=0.05)))
    except KeyboardInterrupt:
        pass
    emit(detector.flush())
    if rec.overflows:
        sys.stderr.write(f"note: {rec.overflows} input overflow(s): some audio was lost\n")
    return 0


def register(sub):
    p = sub.add_parser("listen", help="predict utterances from the microphone")
    p.add_argument("model")
    p.add_argument("--device", help="input device name (default: the system default)")
    p.add_argument("--seconds", type=float, default=None, help="stop after this many seconds")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_listen)

    p = sub.add_parser("devices", help="list audio input devices")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_devices)
