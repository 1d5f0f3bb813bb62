#!/usr/bin/env python3
"""Self-check for agora-standin.js in headless Chromium (Python 3.11 stdlib only).

Serves selfcheck.html on 127.0.0.1 with /agora-sdk.js built exactly like the test harness builds
it (agora-standin.js + "AgoraRTC.__standin.configure(<scenario>);"), launches Chromium on it,
waits for the page to POST its measurements to /report, kills Chromium, and asserts:
  * both tones are present in their speech windows (+-100 ms) and silent outside them,
  * the onset latency (scheduled `from` -> first block above threshold in the page's own
    WebAudio graph) is measured and printed,
  * the SDK event order, join failures, unsubscribe-after-leave, renewToken and leave semantics.
Exit status 0 = all checks passed.

usage: python3 selfcheck.py [--chromium /usr/lib/chromium/chromium] [--keep-profile] [--json out.json]
"""
from __future__ import annotations

import argparse
import base64
import io
import http.server
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import wave
from array import array
from pathlib import Path

HERE = Path(__file__).resolve().parent
APP_ID = "0123456789abcdef0123456789abcdef"

# Scenario: 1001 is already in the channel and publishing when the bot joins; 1002 joins later,
# publishes, and leaves. Times are ms after join() resolves.
SPEAKERS = {
    1001: {"frequency": 440, "from": 300, "to": 3000},
    1002: {"frequency": 660, "from": 1500, "to": 4000},
}
SCENARIO = {
    "channels": {
        "selfcheck": {
            "joinDelayMs": 30,
            "participants": [
                {"uid": 1001, "joinAt": 0, "publishAt": 0, "unpublishAt": None, "leaveAt": None,
                 "speech": [{"from": 300, "to": 3000}],
                 "audio": {"type": "tone", "frequency": 440, "gain": 0.25}},
                {"uid": 1002, "joinAt": 200, "publishAt": 250, "unpublishAt": None, "leaveAt": 4500,
                 "speech": [{"from": 1500, "to": 4000}],
                 "audio": {"type": "tone", "frequency": 660, "gain": 0.25}},
            ],
            "events": [
                {"at": 1000, "type": "token-privilege-will-expire"},
                {"at": 1200, "type": "exception", "code": 2002, "msg": "AUDIO_OUTPUT_LEVEL_TOO_LOW", "uid": 1001},
            ],
        },
        "failchan": {"joinDelayMs": 10, "joinError": {"code": "CAN_NOT_GET_GATEWAY_SERVER", "message": "scripted failure"}},
        "hangchan": {"joinHang": True},
        "expirechan": {"joinDelayMs": 10,
                       "participants": [{"uid": 7, "publishAt": 0}, {"uid": 9}],
                       "events": [{"at": 100, "type": "token-privilege-did-expire"}]},
        "*": {"joinDelayMs": 10},
    }
}

ON_RMS = 0.05    # a 0.25-amplitude sine has RMS 0.177
OFF_RMS = 0.01
TOLERANCE_MS = 100
BIN_MS = 100
RUN_MS = 5000

CHROMIUM_FLAGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu",
    "--autoplay-policy=no-user-gesture-required",
    "--allow-loopback-in-peer-connection",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
    "--disable-background-networking", "--disable-component-update", "--no-first-run",
]


STANDIN = HERE / "agora-standin.js"


def wav_data_url(freq: float, seconds: float, amplitude: float = 0.25, rate: int = 48000) -> str:
    """A mono 16-bit PCM sine as a data: URL (the "wav" audio type)."""
    samples = array("h", (round(32767 * amplitude * math.sin(2 * math.pi * freq * i / rate))
                          for i in range(int(seconds * rate))))
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.tobytes())
    return "data:audio/wav;base64," + base64.b64encode(buf.getvalue()).decode()


def use_wav_for_1002() -> None:
    p = SCENARIO["channels"]["selfcheck"]["participants"][1]
    p["audio"] = {"type": "wav", "dataUrl": wav_data_url(660, 3.0), "gain": 1.0}


def build_sdk() -> bytes:
    standin = STANDIN.read_text()
    return (standin + "\nAgoraRTC.__standin.configure(" + json.dumps(SCENARIO) + ");\n").encode()


class Server(http.server.ThreadingHTTPServer):
    report: dict | None = None
    got_report: threading.Event
    sdk: bytes


class Handler(http.server.BaseHTTPRequestHandler):
    server: Server
    FILES = {"/selfcheck.html": "text/html", "/selfcheck.js": "application/javascript"}

    def log_message(self, fmt, *args):  # quiet
        pass

    def _send(self, code: int, body: bytes, ctype: str = "text/plain") -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/agora-sdk.js":
            self._send(200, self.server.sdk, "application/javascript")
        elif self.path in self.FILES:
            self._send(200, (HERE / self.path.lstrip("/")).read_bytes(), self.FILES[self.path])
        else:
            self._send(404, b"not found")

    def do_POST(self):
        if self.path != "/report":
            self._send(404, b"not found")
            return
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        try:
            self.server.report = json.loads(body)
        except ValueError as e:
            self.server.report = {"ok": False, "error": f"bad JSON: {e}"}
        self._send(200, b"ok")
        self.server.got_report.set()


def become_subreaper() -> None:
    """Orphaned Chromium helpers (crashpad, zygote) re-parent to us, so we can reap them ourselves."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass


def our_children() -> list[int]:
    me = str(os.getpid())
    kids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if (d / "stat").read_text().rsplit(")", 1)[1].split()[1] == me:
                    kids.append(int(d.name))
            except (OSError, IndexError):
                pass
    return kids


def reap_children(deadline_s: float = 10.0) -> list[int]:
    """SIGKILL and reap every remaining child (all are Chromium's); returns what could not be reaped."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        kids = our_children()
        if not kids:
            return []
        for pid in kids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for pid in kids:
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
        time.sleep(0.05)
    return our_children()


def pgrep(pattern: str) -> list[int]:
    out = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def run_browser(chromium: str, keep_profile: bool) -> tuple[dict | None, str]:
    server = Server(("127.0.0.1", 0), Handler)
    server.got_report = threading.Event()
    server.sdk = build_sdk()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/selfcheck.html"
    profile = tempfile.mkdtemp(prefix="standin-selfcheck-")
    marker = f"--user-data-dir={profile}"
    log_path = Path(profile + ".log")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([chromium, *CHROMIUM_FLAGS, marker, url], stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        server.got_report.wait(timeout=RUN_MS / 1000 + 40)
    finally:
        # Our own process group only (start_new_session), then anything still using our profile.
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        for _ in range(50):
            left = pgrep(marker)
            if not left:
                break
            time.sleep(0.1)
        for pid in pgrep(marker):
            os.kill(pid, signal.SIGKILL)
        unreaped = reap_children()
        server.shutdown()
        server.server_close()
    leftovers = pgrep(marker) + unreaped
    chrome_log = log_path.read_text(errors="replace")
    if not keep_profile:
        shutil.rmtree(profile, ignore_errors=True)
        log_path.unlink(missing_ok=True)
    if leftovers:
        raise SystemExit(f"FAIL: Chromium processes left over: {leftovers}")
    print(f"chromium stopped: no process left with {marker}, no child (zombie) left")
    return server.report, chrome_log


def bins_for(blocks: list[list[float]], sample_rate: float) -> list[dict]:
    acc: dict[int, list[float]] = {}
    for t, rms, zc, n in blocks:
        b = math.floor(t / BIN_MS)
        a = acc.setdefault(b, [0.0, 0.0, 0.0])
        a[0] += rms * rms * n
        a[1] += zc
        a[2] += n
    out = []
    for b in sorted(acc):
        ss, zc, n = acc[b]
        out.append({"t": b * BIN_MS, "rms": math.sqrt(ss / n) if n else 0.0,
                    "freq": zc / 2 / (n / sample_rate) if n else 0.0})
    return out


class Checker:
    def __init__(self) -> None:
        self.failures: list[str] = []
        self.passed = 0

    def check(self, cond: bool, what: str) -> None:
        if cond:
            self.passed += 1
        else:
            self.failures.append(what)
            print(f"  FAIL: {what}")


def analyse(rep: dict, c: Checker) -> None:
    sr = rep["sampleRate"]
    print(f"page: {rep['userAgent']}\nSDK: {rep['sdkVersion']}  sampleRate {sr}  clock offset {rep['clockOffsetMs']:.1f} ms")

    # --- audio -------------------------------------------------------------------------------
    latencies = {}
    dropouts = {}
    for uid, spec in SPEAKERS.items():
        data = rep["perUser"].get(str(uid))
        c.check(data is not None, f"{uid}: no audio input in the page's graph")
        if data is None:
            continue
        blocks = data["blocks"]
        bins = [b for b in bins_for(blocks, sr) if 0 <= b["t"] < RUN_MS]
        f, start, end = spec["frequency"], spec["from"], spec["to"]
        print(f"\n{uid} ({f} Hz, speech {start}-{end} ms): t  rms  freq")
        print("  " + "  ".join(f"{b['t']}:{b['rms']:.3f}/{b['freq']:.0f}" for b in bins))
        for b in bins:
            lo, hi = b["t"], b["t"] + BIN_MS
            if lo >= start + TOLERANCE_MS and hi <= end - TOLERANCE_MS:
                c.check(b["rms"] >= ON_RMS, f"{uid}: bin {lo} ms should carry the tone, rms {b['rms']:.4f}")
                c.check(abs(b["freq"] - f) <= 0.03 * f, f"{uid}: bin {lo} ms frequency {b['freq']:.1f} Hz, want {f}")
            elif hi <= start - TOLERANCE_MS or lo >= end + TOLERANCE_MS:
                c.check(b["rms"] <= OFF_RMS, f"{uid}: bin {lo} ms should be silent, rms {b['rms']:.4f}")
        onset = next((t for t, rms, _zc, _n in blocks if t >= start - TOLERANCE_MS and rms >= ON_RMS), None)
        c.check(onset is not None, f"{uid}: no onset found")
        offset = None
        if onset is not None:  # start of the first silent run of >= 20 ms (8 blocks) after `to - 100`
            for i, (t, _rms, _zc, _n) in enumerate(blocks):
                run = blocks[i:i + 8]
                if t >= max(onset, end - TOLERANCE_MS) and len(run) == 8 and all(b[1] <= OFF_RMS for b in run):
                    offset = t
                    break
        inside = [b for b in blocks if start + TOLERANCE_MS <= b[0] <= end - TOLERANCE_MS]
        drops = [b[0] for b in inside if b[1] < ON_RMS / 2]
        dropouts[uid] = (len(drops) * 128 / sr * 1000, drops[:10])
        latencies[uid] = (None if onset is None else onset - start, None if offset is None else offset - end)
        if onset is not None:
            c.check(abs(onset - start) <= TOLERANCE_MS, f"{uid}: onset at {onset:.1f} ms, scheduled {start} ms")
        if offset is not None:
            c.check(abs(offset - end) <= TOLERANCE_MS, f"{uid}: offset at {offset:.1f} ms, scheduled {end} ms")

    print("\nmeasured latency (scheduled time -> page's WebAudio graph, 128-frame blocks = 2.7 ms resolution):")
    for uid, (on, off) in latencies.items():
        fmt = lambda v: "n/a" if v is None else f"{v:.1f} ms"  # noqa: E731
        print(f"  {uid}: onset {fmt(on)}, offset {fmt(off)}; dropouts inside the speech window:"
              f" {dropouts[uid][0]:.1f} ms (at {[round(t) for t in dropouts[uid][1]]})")

    # --- events --------------------------------------------------------------------------------
    ev = rep["events"]
    print("\nevents (t = ms after join resolved):")
    for e in ev:
        print(f"  {e['t']:8.1f}  {e['event']} {json.dumps(e['args'])}")
    want = [
        ("connection-state-change", ["CONNECTING", "DISCONNECTED"], None),
        ("connection-state-change", ["CONNECTED", "CONNECTING"], None),
        ("user-joined", [1001], 0),
        ("user-published", [1001, "audio", {"hasAudio": True}], 0),
        ("user-joined", [1002], 200),
        ("user-published", [1002, "audio", {"hasAudio": True}], 250),
        ("token-privilege-will-expire", [], 1000),
        ("exception", [{"code": 2002, "msg": "AUDIO_OUTPUT_LEVEL_TOO_LOW", "uid": 1001}], 1200),
        ("user-unpublished", [1002, "audio", {"hasAudio": False, "audioTrack": "undefined"}], 4500),
        ("user-left", [1002, "Quit"], 4500),
        ("connection-state-change", ["DISCONNECTING", "CONNECTED"], None),
        ("connection-state-change", ["DISCONNECTED", "DISCONNECTING", "LEAVE"], None),
    ]
    got = [(e["event"], e["args"]) for e in ev]
    c.check(got == [(n, a) for n, a, _ in want], "event sequence differs from the SDK's order (see list above)")
    for (name, args, at), e in zip(want, ev):
        if at is not None:
            c.check(at - 2 <= e["t"] <= at + 50, f"{name} {args[:1]} at {e['t']:.1f} ms, scheduled {at} ms")

    aj = rep["afterJoin"]
    c.check(isinstance(aj["uid"], int) and aj["uid"] == aj["clientUid"], f"join resolves with the assigned uid: {aj}")
    c.check(aj["channelName"] == "selfcheck" and aj["state"] == "CONNECTED", f"after join: {aj}")
    al = rep["afterLeave"]
    c.check(al == {"state": "DISCONNECTED", "uid": None, "channelName": None, "remoteUsers": 0}, f"after leave: {al}")
    c.check(rep["beforeLeave"]["remoteUsers"] == [{"uid": 1001, "hasAudio": True, "hasTrack": True}],
            f"remoteUsers before leave: {rep['beforeLeave']}")

    subs = {(s["uid"], s["what"]): s for s in rep["subscriptions"]}
    for uid in SPEAKERS:
        s = subs.get((uid, "subscribed"))
        c.check(s is not None, f"{uid}: subscribe did not succeed: {rep['subscriptions']}")
        if s:
            d = s["detail"]
            print(f"subscribe {uid}: {d['ms']:.1f} ms, track {d['trackId']}")
            c.check(d["sameAsUserTrack"] and d["userId"] == uid and d["kind"] == "audio" and d["readyState"] == "live"
                    and d["isPlaying"] is False and d["hasTransceiver"], f"{uid}: subscribed track: {d}")
    rej = subs.get((1002, "unsubscribe-after-left-rejected"))
    c.check(rej is not None and rej["detail"]["code"] == "INVALID_REMOTE_USER"
            and "user is not in the channel" in rej["detail"]["message"],
            f"unsubscribe after user-left must reject INVALID_REMOTE_USER: {rep['subscriptions']}")
    c.check(rep["renewedTokens"] == ["007renewed-token"], f"renewedTokens: {rep['renewedTokens']}")
    calls = [l["call"] for l in rep["standinLog"]]
    for call in ("createClient", "setClientRole", "join", "subscribe", "renewToken", "unsubscribe", "leave"):
        c.check(call in calls, f"__standin.log lacks {call}: {calls}")

    # --- join failures -------------------------------------------------------------------------
    neg = {n["name"]: n for n in rep["negative"]}
    print("\njoin failures:")
    for n in rep["negative"]:
        print("  " + json.dumps(n))
    failed_states = ["DISCONNECTED->CONNECTING", "CONNECTING->DISCONNECTED"]
    for name, text in (("bad-appid", "invalid vendor key, can not find appid"),
                       ("bad-token", "invalid token, authorized failed"),
                       ("006-token-other-appid", "invalid token, authorized failed"),
                       ("scripted-error", "scripted failure")):
        n = neg.get(name, {})
        err = n.get("error") or {}
        c.check(err.get("code") == "CAN_NOT_GET_GATEWAY_SERVER" and text in (err.get("message") or "")
                and err.get("name") == "AgoraRTCException" and n.get("states") == failed_states
                and n.get("connectionState") == "DISCONNECTED", f"{name}: {n}")
    n = neg.get("empty-token", {})
    c.check((n.get("error") or {}).get("code") == "INVALID_PARAMS" and n.get("states") == [], f"empty-token: {n}")
    n = neg.get("hang", {})
    c.check(n.get("settledWithin300ms") is False
            and (n.get("afterLeave") or {}).get("error", {}).get("code") == "OPERATION_ABORTED"
            and n.get("states") == ["DISCONNECTED->CONNECTING", "CONNECTING->DISCONNECTING",
                                    "DISCONNECTING->DISCONNECTED(LEAVE)"], f"hang: {n}")
    n = neg.get("token-expired", {})
    c.check(n.get("states") == ["DISCONNECTED->CONNECTING", "CONNECTING->CONNECTED", "CONNECTED->DISCONNECTING",
                                "DISCONNECTING->DISCONNECTED(TOKEN_EXPIRE)"]
            and n.get("seen") == ["user-joined:7", "user-joined:9", "user-published:7", "token-privilege-did-expire"]
            and n.get("remoteUsers") == 0 and n.get("uid") is None, f"token-expired: {n}")
    errs = {e["target"]: e.get("error") or {} for e in n.get("subscribeErrors", [])}
    c.check(errs.get(9, {}).get("code") == "INVALID_REMOTE_USER" and "user is not published" in errs[9].get("message", "")
            and errs.get(12345, {}).get("code") == "INVALID_REMOTE_USER"
            and "user is not in the channel" in errs[12345].get("message", ""), f"subscribe errors: {errs}")
    n = neg.get("renew-before-join", {})
    c.check((n.get("error") or {}).get("code") == "INVALID_OPERATION", f"renew-before-join: {n}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--chromium", default="/usr/lib/chromium/chromium")
    ap.add_argument("--keep-profile", action="store_true")
    ap.add_argument("--json", help="write the page's report here")
    ap.add_argument("--standin", help="check another copy of the stand-in (experiments)")
    ap.add_argument("--wav", action="store_true", help="participant 1002 plays a 660 Hz WAV data URL instead of a tone")
    args = ap.parse_args()
    if args.wav:
        use_wav_for_1002()
    if args.standin:
        global STANDIN
        STANDIN = Path(args.standin)

    become_subreaper()
    report, chrome_log = run_browser(args.chromium, args.keep_profile)
    if args.json and report is not None:
        Path(args.json).write_text(json.dumps(report, indent=1))
    if report is None:
        print("FAIL: the page sent no report\n--- chromium output (tail) ---\n" + chrome_log[-4000:])
        return 1
    if not report.get("ok"):
        print("FAIL: the page failed: " + json.dumps(report, indent=1)[:4000])
        return 1
    c = Checker()
    analyse(report, c)
    print(f"\n{c.passed} passed, {len(c.failures)} failed")
    return 0 if not c.failures else 1


if __name__ == "__main__":
    sys.exit(main())
