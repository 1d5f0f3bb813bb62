// @ts-check
/*
 * TEST-ONLY stand-in for the Agora Web SDK NG (agora-rtc-sdk-ng 4.24.8 UMD bundle).
 *
 * Production never loads this file. Tests load it instead of AgoraRTC_N-production.js: it defines the
 * same global `AgoraRTC`, implements the subset of the SDK the recorder page uses with the SDK's
 * semantics and event order, and plays scripted participants whose audio arrives as REMOTE WebRTC
 * tracks over a loopback RTCPeerConnection pair inside the page, as Agora delivers them.
 *
 * The harness appends `AgoraRTC.__standin.configure(<scenario JSON>);` to this file (see README.md).
 * Behaviour copied from the 4.24.8 bundle is marked "SDK:" below.
 */
(function () {
  "use strict";

  /** @typedef {import('agora-rtc-sdk-ng').IAgoraRTC} IAgoraRTC */
  /** @typedef {import('agora-rtc-sdk-ng').IAgoraRTCClient} IAgoraRTCClient */
  /** @typedef {import('agora-rtc-sdk-ng').IAgoraRTCRemoteUser} IAgoraRTCRemoteUser */
  /** @typedef {import('agora-rtc-sdk-ng').IRemoteAudioTrack} IRemoteAudioTrack */
  /** @typedef {import('agora-rtc-sdk-ng').ClientConfig} ClientConfig */
  /** @typedef {import('agora-rtc-sdk-ng').ClientRole} ClientRole */
  /** @typedef {import('agora-rtc-sdk-ng').ClientRoleOptions} ClientRoleOptions */
  /** @typedef {import('agora-rtc-sdk-ng').ConnectionState} ConnectionState */
  /** @typedef {import('agora-rtc-sdk-ng').SDK_MODE} SDK_MODE */
  /** @typedef {import('agora-rtc-sdk-ng').UID} UID */
  /** @typedef {`${import('agora-rtc-sdk-ng').ConnectionDisconnectedReason}`} DisconnectedReason */
  /** @typedef {`${import('agora-rtc-sdk-ng').AgoraRTCErrorCode}`} ErrorCode */

  /**
   * Client events the stand-in emits, with the SDK's listener argument lists
   * (event_connection_state_change, event_user_joined, ... in rtc-sdk_en.d.ts).
   * @typedef {{
   *   "connection-state-change": [ConnectionState, ConnectionState] | [ConnectionState, ConnectionState, DisconnectedReason],
   *   "user-joined": [IAgoraRTCRemoteUser],
   *   "user-left": [IAgoraRTCRemoteUser, string],
   *   "user-published": [IAgoraRTCRemoteUser, "audio"],
   *   "user-unpublished": [IAgoraRTCRemoteUser, "audio"],
   *   "token-privilege-will-expire": [],
   *   "token-privilege-did-expire": [],
   *   "exception": [{code: number, msg: string, uid: UID}],
   * }} ClientEvents
   */

  /**
   * @typedef {Pick<IAgoraRTCClient, 'join'|'leave'|'subscribe'|'unsubscribe'|'setClientRole'|'renewToken'|'on'|'off'|'once'|'removeAllListeners'|'connectionState'|'remoteUsers'|'uid'|'channelName'>} ClientSubset
   * @typedef {Pick<IRemoteAudioTrack, 'getMediaStreamTrack'|'getTrackId'|'getUserId'|'play'|'stop'|'setVolume'|'getVolume'|'getVolumeLevel'|'isPlaying'|'trackMediaType'|'getRTCRtpTransceiver'|'on'|'off'|'once'|'removeAllListeners'|'getListeners'>} TrackSubset
   * @typedef {Pick<IAgoraRTC, 'VERSION'|'createClient'|'setLogLevel'|'enableLogUpload'|'disableLogUpload'|'checkSystemRequirements'|'on'|'off'|'once'|'removeAllListeners'|'getListeners'>} AgoraRTCSubset
   */

  const VERSION = "4.24.8-standin";
  const TAG = "[agora-standin]";
  const DEFAULT_JOIN_DELAY_MS = 30;
  const DEFAULT_SUBSCRIBE_TIMEOUT_MS = 5000;
  /** LEAVE request round trip between DISCONNECTING and DISCONNECTED (SDK: awaited, at most 3 s). */
  const LEAVE_ROUND_TRIP_MS = 10;

  // ---------------------------------------------------------------------------------------------
  // Shared state, exposed to tests as AgoraRTC.__standin
  // ---------------------------------------------------------------------------------------------

  /** @type {StandinConfig} */
  let scenario = { channels: {} };
  /** @type {StandinLogEntry[]} */
  const callLog = [];
  /** @type {StandinEmitted[]} */
  const emittedLog = [];
  /** @type {string[]} */
  const renewedTokens = [];
  /** @type {number | null} */
  let lastJoinedAt = null;
  let logLevel = 1;

  /** @param {string} call @param {unknown[]} args */
  function record(call, args) {
    callLog.push({ t: performance.now(), call, args: args.map(jsonFriendly) });
  }

  /** @param {unknown} v @returns {unknown} */
  function jsonFriendly(v) {
    if (v instanceof RemoteUser) return v.uid;
    if (v === undefined || v === null || typeof v !== "object") return v;
    try {
      return JSON.parse(JSON.stringify(v));
    } catch (_e) {
      return String(v);
    }
  }

  /** @param {...unknown} args */
  function info(...args) {
    if (logLevel <= 1) console.info(TAG, ...args);
  }
  /** @param {...unknown} args */
  function warn(...args) {
    if (logLevel <= 2) console.warn(TAG, ...args);
  }

  /** @param {number} n */
  function randomHex(n) {
    let s = "";
    while (s.length < n) s += Math.random().toString(16).slice(2);
    return s.slice(0, n);
  }

  /** @param {number} ms @returns {Promise<void>} */
  function sleep(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
  }

  // ---------------------------------------------------------------------------------------------
  // Errors. SDK: class AN extends Error, name "AgoraRTCException",
  // message "AgoraRTCError <CODE>: <text>", toString() appends "\ndata: <json>".
  // ---------------------------------------------------------------------------------------------

  class AgoraRTCError extends Error {
    /** @param {ErrorCode | string} code @param {string} [message] @param {any} [data] */
    constructor(code, message = "", data) {
      super(message);
      /** @type {string} */
      this.name = "AgoraRTCException";
      this.code = code;
      this.message = `AgoraRTCError ${code}: ${message}`;
      /** @type {any} */
      this.data = data;
    }
    toString() {
      return this.data ? `${this.message}\ndata: ${JSON.stringify(this.data)}` : this.message;
    }
    /** @param {"error" | "warning"} [level] */
    print(level = "error") {
      if (level === "error") console.error(this.toString());
      else console.warn(this.toString());
      return this;
    }
    /** @returns {never} */
    throw() {
      throw this;
    }
  }

  /** SDK: PN(value, name, min, max) string validation. @param {unknown} v @param {string} name @param {number} min @param {number} max */
  function checkString(v, name, min, max) {
    if (v === null || v === undefined) throw new AgoraRTCError("INVALID_PARAMS", `${name} cannot be empty`);
    if (typeof v !== "string" || v.length < min || v.length > max || !/^[\x00-\x7f]*$/.test(v)) {
      throw new AgoraRTCError("INVALID_PARAMS", `Invalid ${name}: Length of the string: [${min},${max}]. ASCII characters only.`);
    }
  }

  /** SDK: ON(value, name, allowed). @param {unknown} v @param {string} name @param {unknown[]} allowed */
  function checkEnum(v, name, allowed) {
    if (!allowed.includes(v)) throw new AgoraRTCError("INVALID_PARAMS", `${name} can only be set as ${JSON.stringify(allowed)}`);
  }

  /** SDK: aF(channel). @param {unknown} channel */
  function checkChannelName(channel) {
    if (typeof channel !== "string" || !/^[a-zA-Z0-9 !#$%&()+\-:;<=.>?@[\]^_{}|~,]{1,64}$/.test(channel)) {
      throw new AgoraRTCError(
        "INVALID_PARAMS",
        "The length must be within 64 bytes. The supported characters: a-z,A-Z,0-9,space,!, #, $, %, &, (, ), +, -, :, ;, <, =, ., >, ?, @, [, ], ^, _,  {, }, |, ~, ,",
      );
    }
  }

  /** SDK: cF(uid). @param {unknown} uid */
  function checkUid(uid) {
    const okNumber = typeof uid === "number" && Math.floor(uid) === uid && uid >= 0 && uid <= 4294967295;
    const okString = typeof uid === "string" && uid.length >= 1 && uid.length <= 255 && /^[\x00-\x7f]*$/.test(uid);
    if (!okNumber && !okString) {
      throw new AgoraRTCError(
        "INVALID_PARAMS",
        "[String uid] Length of the string: [1,255]. ASCII characters only. [Number uid] The value range is [0,10000]",
      );
    }
  }

  /**
   * What Agora's access point answers for this app id / token (SDK: the multi-unilbs error
   * aggregated into CAN_NOT_GET_GATEWAY_SERVER, message "flag: F, message: <inner message>").
   * @param {string} appid @param {string | null} token @returns {AgoraRTCError | null}
   */
  function accessPointError(appid, token) {
    /** @param {string} desc */
    const gatewayError = (desc) => {
      const inner = new AgoraRTCError("CAN_NOT_GET_GATEWAY_SERVER", desc, { desc, retry: false });
      return new AgoraRTCError("CAN_NOT_GET_GATEWAY_SERVER", `flag: 4096, message: ${inner.message}`, {
        retry: false,
        desc: [desc],
      });
    };
    if (!/^[0-9a-fA-F]{32}$/.test(appid)) return gatewayError("invalid vendor key, can not find appid");
    if (token !== null) {
      const version = token.slice(0, 3);
      if (version !== "006" && version !== "007") return gatewayError("invalid token, authorized failed");
      if (version === "006" && token.slice(3, 35) !== appid) return gatewayError("invalid token, authorized failed");
    }
    return null;
  }

  // ---------------------------------------------------------------------------------------------
  // EventEmitter. SDK: class KN — on/once ignore a listener already registered, off removes it,
  // safeEmit calls a snapshot of the listeners with `this` = emitter and logs listener errors.
  // ---------------------------------------------------------------------------------------------

  class Emitter {
    constructor() {
      /** @type {Map<string, {listener: Function, once: boolean}[]>} */
      this._events = new Map();
    }
    /** @param {string} event @returns {Function[]} */
    getListeners(event) {
      return (this._events.get(event) || []).map((e) => e.listener);
    }
    /** @param {string} event @param {Function} listener */
    on(event, listener) {
      this._add(event, listener, false);
    }
    /** @param {string} event @param {Function} listener */
    addListener(event, listener) {
      this._add(event, listener, false);
    }
    /** @param {string} event @param {Function} listener */
    once(event, listener) {
      this._add(event, listener, true);
    }
    /** @param {string} event @param {Function} listener */
    off(event, listener) {
      const list = this._events.get(event);
      if (!list) return;
      const i = this._indexOf(list, listener);
      if (i !== -1) list.splice(i, 1);
      if (list.length === 0) this._events.delete(event);
    }
    /** @param {string} [event] */
    removeAllListeners(event) {
      if (event) this._events.delete(event);
      else this._events.clear();
    }
    /** @param {string} event @param {Function} listener @param {boolean} once */
    _add(event, listener, once) {
      let list = this._events.get(event);
      if (!list) this._events.set(event, (list = []));
      if (this._indexOf(list, listener) === -1) list.push({ listener, once });
    }
    /** @param {{listener: Function}[]} list @param {Function} listener */
    _indexOf(list, listener) {
      for (let i = list.length - 1; i >= 0; i--) if (list[i].listener === listener) return i;
      return -1;
    }
    /** @param {string} event @param {unknown[]} args */
    _safeEmit(event, args) {
      for (const entry of [...(this._events.get(event) || [])]) {
        if (entry.once) this.off(event, entry.listener);
        try {
          entry.listener.apply(this, args);
        } catch (e) {
          console.error(`safeEmit event:${event} error ${e}`);
        }
      }
    }
  }

  // ---------------------------------------------------------------------------------------------
  // The stand-in's own audio: one AudioContext (separate from the page's), participants' sources.
  // ---------------------------------------------------------------------------------------------

  /** @type {AudioContext | null} */
  let audioContext = null;

  function standinAudioContext() {
    if (!audioContext) {
      try {
        // No output device: this context only feeds MediaStreamAudioDestinationNodes.
        audioContext = new AudioContext(
          /** @type {AudioContextOptions} */ ({ sampleRate: 48000, latencyHint: "interactive", sinkId: { type: "none" } }),
        );
      } catch (_e) {
        audioContext = new AudioContext({ sampleRate: 48000, latencyHint: "interactive" });
      }
    }
    if (audioContext.state !== "running") audioContext.resume().catch(() => {});
    return audioContext;
  }

  /** Resolves when the context runs, or after timeoutMs (then participants are silent). @param {AudioContext} ctx @param {number} timeoutMs */
  async function contextRunning(ctx, timeoutMs) {
    const deadline = performance.now() + timeoutMs;
    while (ctx.state !== "running" && performance.now() < deadline) await sleep(10);
    if (ctx.state !== "running") warn(`stand-in AudioContext is ${ctx.state}: participants will be silent (autoplay policy?)`);
  }

  /** Context time that corresponds to performance.now() === perfMs. @param {AudioContext} ctx @param {number} perfMs */
  function contextTimeAt(ctx, perfMs) {
    return ctx.currentTime + (perfMs - performance.now()) / 1000;
  }

  /** @type {Map<string, Promise<AudioBuffer>>} */
  const decodedWavs = new Map();

  /** @param {AudioContext} ctx @param {string} dataUrl */
  function decodeWav(ctx, dataUrl) {
    let p = decodedWavs.get(dataUrl);
    if (!p) {
      p = fetch(dataUrl)
        .then((r) => r.arrayBuffer())
        .then((b) => ctx.decodeAudioData(b));
      decodedWavs.set(dataUrl, p);
    }
    return p;
  }

  /**
   * `wallBeats: {periodMs, onMs, forMs}`: speech during the first `onMs` of every `periodMs` of
   * the Unix clock (for `forMs` from time 0), as segments relative to time 0. Every recorder of a
   * channel then hears the same beeps at the same wall-clock instants, as with a real caller.
   * @param {StandinParticipant} cfg @param {number} t0
   * @returns {{from: number, to: number}[] | null}
   */
  function wallBeats(cfg, t0) {
    const beats = cfg.wallBeats;
    if (!beats) return null;
    const wall0 = performance.timeOrigin + t0;
    const out = [];
    for (let at = Math.ceil(wall0 / beats.periodMs) * beats.periodMs; at < wall0 + beats.forMs; at += beats.periodMs) {
      out.push({ from: at - wall0, to: at - wall0 + beats.onMs });
    }
    return out;
  }

  /**
   * A participant's microphone: signal exactly during its speech segments (scheduled on the
   * AudioContext clock relative to the session's time 0), silent otherwise.
   */
  class ParticipantSource {
    /** @param {StandinParticipant} cfg @param {number} t0 performance.now() of time 0 */
    constructor(cfg, t0) {
      const ctx = standinAudioContext();
      this.ctx = ctx;
      this.dest = ctx.createMediaStreamDestination();
      this.dest.channelCount = 1;
      this.dest.channelCountMode = "explicit";
      this.gate = ctx.createGain();
      this.gate.gain.value = 0;
      this.gate.connect(this.dest);
      // Keeps the graph feeding the track between WAV segments: with no live source node the
      // destination track stops delivering frames, the sender stops sending, and the receiver's
      // packet-loss concealment plays a ~300 ms decaying echo of the last audio.
      const keepAlive = ctx.createConstantSource();
      keepAlive.offset.value = 0;
      keepAlive.connect(this.gate);
      keepAlive.start();
      /** @type {AudioScheduledSourceNode[]} */
      this.nodes = [keepAlive];
      this.closed = false;
      const audio = cfg.audio || { type: "tone" };
      const gain = audio.gain ?? (audio.type === "tone" ? 0.25 : 1);
      const ctxT0 = contextTimeAt(ctx, t0);
      const segments = (wallBeats(cfg, t0) || cfg.speech || []).filter((s) => s.to > s.from);
      this.scheduleGate(segments, gain, t0);
      if (audio.type === "wav") {
        decodeWav(ctx, audio.dataUrl).then(
          (buffer) => {
            if (this.closed) return;
            for (const s of segments) {
              const start = ctxT0 + s.from / 1000;
              const end = ctxT0 + s.to / 1000;
              const now = ctx.currentTime;
              if (end <= now) continue;
              const offset = Math.max(0, now - start);
              if (offset >= buffer.duration) continue;
              const src = ctx.createBufferSource();
              src.buffer = buffer;
              src.connect(this.gate);
              src.start(Math.max(start, now), offset, Math.min(end - Math.max(start, now), buffer.duration - offset));
              this.nodes.push(src);
            }
          },
          (e) => warn(`participant ${cfg.uid}: cannot decode wav`, e),
        );
      } else {
        const osc = ctx.createOscillator();
        osc.type = "sine";
        osc.frequency.value = audio.frequency ?? 440;
        osc.connect(this.gate);
        osc.start();
        this.nodes.push(osc);
      }
    }
    /**
     * Opens and closes the gate at the speech segments' edges on the performance.now() clock.
     * Each edge is put on the AudioContext's clock shortly before it is due, from the two clocks'
     * offset at that moment: a context whose rendering skips callbacks under load (headless, many
     * participants on 2 cores) loses time against the wall clock, so a schedule made once at the
     * start drifts by hundreds of ms over a minute.
     * @param {{from: number, to: number}[]} segments @param {number} gain @param {number} t0
     */
    scheduleGate(segments, gain, t0) {
      const edges = segments.flatMap((s) => [
        { at: t0 + s.from, value: gain },
        { at: t0 + s.to, value: 0 },
      ]);
      edges.sort((a, b) => a.at - b.at); // stable: a segment's end stays before the next one's start
      let next = 0;
      const AHEAD_MS = 300;
      const tick = () => {
        if (this.closed) return;
        const horizon = performance.now() + AHEAD_MS;
        while (next < edges.length && edges[next].at <= horizon) {
          const e = edges[next++];
          this.gate.gain.setValueAtTime(e.value, Math.max(0, contextTimeAt(this.ctx, e.at)));
        }
        if (next < edges.length) this.gateTimer = window.setTimeout(tick, 100);
      };
      /** @type {number | undefined} */
      this.gateTimer = undefined;
      tick();
    }
    get track() {
      return this.dest.stream.getAudioTracks()[0];
    }
    close() {
      if (this.closed) return;
      this.closed = true;
      clearTimeout(this.gateTimer);
      for (const n of this.nodes) {
        try {
          n.stop();
        } catch (_e) {
          /* not started */
        }
        n.disconnect();
      }
      this.gate.disconnect();
      this.dest.stream.getTracks().forEach((t) => t.stop());
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Transport: participant track -> sender pc -> receiver pc -> REMOTE track. The receiver is
  // always in this page; the sender is in this page too (LoopbackLink, the default) or, in
  // callers mode, in another browser reached through the test kit's relay (RelayLink).
  // ---------------------------------------------------------------------------------------------

  /**
   * Chromium gathers 127.0.0.1 candidates only once media permission is granted
   * (--use-fake-ui-for-media-stream in tests). Ask once, release the device at once.
   */
  const mediaPermission = (async () => {
    try {
      const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
      stream.getTracks().forEach((t) => t.stop());
    } catch (e) {
      warn("getUserMedia failed; loopback ICE may find no 127.0.0.1 candidate", e);
    }
  })();

  /** No STUN/TURN: host candidates only, of which the 127.0.0.1 ones are used. @type {RTCConfiguration} */
  const PC_CONFIG = { iceServers: [], bundlePolicy: "max-bundle", rtcpMuxPolicy: "require" };

  /** @param {RTCIceCandidate} c */
  function isLoopbackCandidate(c) {
    if (c.address) return c.address === "127.0.0.1";
    const parts = c.candidate.split(" ");
    return parts[4] === "127.0.0.1";
  }

  /** Remote ICE candidates for `pc`, held until its remote description is set. */
  class CandidateQueue {
    /** @param {RTCPeerConnection} pc */
    constructor(pc) {
      this.pc = pc;
      /** @type {RTCIceCandidate[]} */
      this.pending = [];
    }
    /** @param {RTCIceCandidate} c */
    add(c) {
      if (this.pc.signalingState === "closed") return;
      if (this.pc.remoteDescription) this.pc.addIceCandidate(c).catch((e) => warn("addIceCandidate failed", e));
      else this.pending.push(c);
    }
    /** Call once the remote description is set. */
    flush() {
      const pending = this.pending;
      this.pending = [];
      for (const c of pending) this.add(c);
    }
  }

  /** @param {string} line an SDP line @returns {boolean} an `a=candidate:` line for 127.0.0.1 */
  const isLoopbackLine = (line) => line.startsWith("a=candidate:") && line.split(" ")[4] === "127.0.0.1";

  /**
   * `pc`'s local description with only its 127.0.0.1 candidates (test media never leaves
   * loopback), once it has a UDP one or gathering is over (at most `timeoutMs`). The relay
   * carries no trickled candidates: each side sends one description, its candidates inside.
   * @param {RTCPeerConnection} pc @param {number} [timeoutMs] @returns {Promise<RTCSessionDescriptionInit>}
   */
  async function loopbackDescription(pc, timeoutMs = 3000) {
    const lines = () => (pc.localDescription ? pc.localDescription.sdp.split("\r\n") : []);
    const ready = () =>
      pc.iceGatheringState === "complete" || lines().some((l) => isLoopbackLine(l) && l.split(" ")[2].toLowerCase() === "udp");
    if (!ready()) {
      await new Promise((resolve) => {
        const done = () => {
          clearTimeout(timer);
          pc.removeEventListener("icecandidate", check);
          pc.removeEventListener("icegatheringstatechange", check);
          resolve(undefined);
        };
        const check = () => {
          if (ready()) done();
        };
        const timer = setTimeout(done, timeoutMs);
        pc.addEventListener("icecandidate", check);
        pc.addEventListener("icegatheringstatechange", check);
      });
    }
    const local = pc.localDescription;
    if (!local) throw new Error("no local description");
    const sdp = lines()
      .filter((l) => !l.startsWith("a=candidate:") || isLoopbackLine(l))
      .join("\r\n");
    return { type: local.type, sdp };
  }

  /**
   * The receiving end of a subscription: a receiver pc fed by a sender that subclasses set up in
   * `_negotiate` (in this page, or in another browser). `open` resolves with the REMOTE track.
   */
  class ReceiverLink {
    constructor() {
      this.rx = new RTCPeerConnection(PC_CONFIG);
      this.closed = false;
      /** @type {RTCRtpTransceiver | undefined} */
      this.transceiver = undefined;
      /** @type {() => void} wakes up open() when the link is closed meanwhile */
      this._onClose = () => {};
    }

    /**
     * Sets up the sender and the offer/answer exchange with `this.rx` (which answers).
     * @returns {Promise<void>}
     */
    async _negotiate() {
      throw new Error("no sender");
    }

    /** Stops the sender (called once, by close()). */
    _closeSender() {}

    /**
     * Resolves with the receiver's remote track once `ontrack` fired and ICE/DTLS is connected.
     * @param {number} timeoutMs @returns {Promise<MediaStreamTrack>}
     */
    async open(timeoutMs) {
      const rx = this.rx;
      /** @type {Promise<RTCTrackEvent>} */
      const gotTrack = new Promise((resolve) => {
        rx.ontrack = (e) => resolve(e);
      });
      /** @type {Promise<void>} */
      const connected = new Promise((resolve, reject) => {
        rx.onconnectionstatechange = () => {
          if (rx.connectionState === "connected") resolve();
          else if (rx.connectionState === "failed" || rx.connectionState === "closed") reject(new Error(`receiver pc ${rx.connectionState}`));
        };
      });
      connected.catch(() => {});
      /** @type {number | undefined} */
      let timer;
      /** @type {Promise<never>} */
      const timeout = new Promise((_r, reject) => {
        timer = window.setTimeout(() => reject(new Error(`no connected remote track within ${timeoutMs} ms`)), timeoutMs);
      });
      const negotiate = async () => {
        await this._negotiate();
        const ev = await gotTrack;
        this.transceiver = ev.transceiver;
        // Lowest-latency playout the receiver allows (Opus itself stays at its defaults).
        try {
          ev.receiver.jitterBufferTarget = 0;
        } catch (_e) {
          /* older Chromium */
        }
        await connected;
        return ev.track;
      };
      /** @type {Promise<never>} */
      const closed = new Promise((_r, reject) => {
        this._onClose = () => reject(new Error("closed while connecting"));
      });
      closed.catch(() => {});
      const negotiation = negotiate();
      negotiation.catch(() => {});
      try {
        return await Promise.race([negotiation, timeout, closed]);
      } finally {
        clearTimeout(timer);
        this._onClose = () => {};
      }
    }

    close() {
      if (this.closed) return;
      this.closed = true;
      this.rx.close();
      this._closeSender();
      this._onClose();
    }
  }

  /** The sender in this page: the participant's track on a second pc, candidates passed by hand. */
  class LoopbackLink extends ReceiverLink {
    /** @param {MediaStreamTrack} source the participant's track */
    constructor(source) {
      super();
      this.source = source;
      this.tx = new RTCPeerConnection(PC_CONFIG);
    }

    async _negotiate() {
      const { tx, rx, source } = this;
      const toTx = new CandidateQueue(tx);
      const toRx = new CandidateQueue(rx);
      // Forward ONLY 127.0.0.1 candidates: test media never leaves loopback.
      tx.onicecandidate = (e) => {
        if (e.candidate && isLoopbackCandidate(e.candidate)) toRx.add(e.candidate);
      };
      rx.onicecandidate = (e) => {
        if (e.candidate && isLoopbackCandidate(e.candidate)) toTx.add(e.candidate);
      };
      tx.addTransceiver(source, { direction: "sendonly", streams: [new MediaStream([source])] });
      await tx.setLocalDescription(await tx.createOffer());
      await rx.setRemoteDescription(/** @type {RTCSessionDescription} */ (tx.localDescription));
      toRx.flush();
      await rx.setLocalDescription(await rx.createAnswer());
      await tx.setRemoteDescription(/** @type {RTCSessionDescription} */ (rx.localDescription));
      toTx.flush();
    }

    _closeSender() {
      this.tx.close();
    }
  }

  /**
   * The test kit's signalling relay (memharbor-testkit, src/callers.rs): JSON over HTTP, long
   * polls that answer 204 when nothing came within their 20 s (then they are asked again).
   */
  class Relay {
    /** @param {string} what @param {Response} r */
    static error(what, r) {
      return Object.assign(new Error(`relay: ${what} answered ${r.status}`), { status: r.status });
    }
    /** Whether `e` says the link was closed meanwhile (410 Gone). @param {unknown} e */
    static isGone(e) {
      return e instanceof Error && /** @type {{status?: number}} */ (e).status === 410;
    }
    /** @param {string} url */
    constructor(url) {
      this.url = url.replace(/\/+$/, "");
      this.aborter = new AbortController();
    }
    /**
     * @param {string} path @param {unknown} body @param {boolean} [abortable] false: abort() leaves it be
     * @returns {Promise<any>} the JSON answer, null if none
     */
    async post(path, body, abortable = true) {
      const r = await fetch(this.url + path, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
        signal: abortable ? this.aborter.signal : undefined,
      });
      if (!r.ok) throw Relay.error(`POST ${path}`, r);
      return r.status === 204 ? null : r.json();
    }
    /** A long poll, asked again until it has an answer. @param {string} path @returns {Promise<any>} */
    async wait(path) {
      for (;;) {
        const r = await fetch(this.url + path, { signal: this.aborter.signal });
        if (r.status === 204) continue;
        if (!r.ok) throw Relay.error(`GET ${path}`, r);
        return r.json();
      }
    }
    /** Tells the other side the link is over; outlives abort() and the page. @param {number} id */
    closeLink(id) {
      fetch(`${this.url}/links/${id}/close`, { method: "POST", keepalive: true }).catch(() => {});
    }
    /** Cancels every request in flight. */
    abort() {
      this.aborter.abort();
    }
  }

  /**
   * Callers mode: the sender is the callers page, in ANOTHER browser (serveCallers below), which
   * encodes and sends as Agora's servers would; this page only receives. The relay pairs them.
   */
  class RelayLink extends ReceiverLink {
    /** @param {string} url the relay @param {Omit<StandinLink, 'id'>} request */
    constructor(url, request) {
      super();
      this.relay = new Relay(url);
      this.request = request;
      /** @type {number | null} */
      this.id = null;
    }

    async _negotiate() {
      const { rx, relay } = this;
      // Not abortable: a link the relay opened is always closed again (below, or by close()).
      const { id } = /** @type {{id: number}} */ (await relay.post("/links", this.request, false));
      this.id = id;
      if (this.closed) {
        relay.closeLink(id);
        throw new Error("closed while connecting");
      }
      await rx.setRemoteDescription(await relay.wait(`/links/${id}/offer`));
      await rx.setLocalDescription(await rx.createAnswer());
      await relay.post(`/links/${id}/answer`, await loopbackDescription(rx));
    }

    _closeSender() {
      this.relay.abort();
      if (this.id !== null) this.relay.closeLink(this.id);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Remote audio track. SDK: RemoteAudioTrack — a detached <audio> element with srcObject set,
  // never played, never in the DOM (this is what lets a page's WebAudio graph hear the remote
  // track in Chromium); play()/stop() go through the audio-element play center.
  // ---------------------------------------------------------------------------------------------

  /** @implements {TrackSubset} */
  class RemoteAudioTrack extends Emitter {
    /** @param {MediaStreamTrack} mediaStreamTrack @param {UID} uid @param {RTCRtpTransceiver | undefined} transceiver */
    constructor(mediaStreamTrack, uid, transceiver) {
      super();
      /** @type {"audio"} */
      this.trackMediaType = "audio";
      this._ID = `track-${randomHex(8)}`;
      this._mediaStreamTrack = mediaStreamTrack;
      this._uid = uid;
      this._transceiver = transceiver;
      this._volume = 100;
      this._destroyed = false;
      this._audioElement = document.createElement("audio");
      this._audioElement.srcObject = new MediaStream([mediaStreamTrack]);
      /** @type {HTMLAudioElement | null} play-center element, only between play() and stop() */
      this._playElement = null;
      this._playState = "init";
      /** @type {{source: MediaStreamAudioSourceNode, analyser: AnalyserNode, buf: Float32Array<ArrayBuffer>} | null} */
      this._meter = null;
    }
    get isPlaying() {
      return !!this._playElement && this._playState === "playing";
    }
    getTrackId() {
      return this._ID;
    }
    getMediaStreamTrack() {
      return this._mediaStreamTrack;
    }
    getUserId() {
      return this._uid;
    }
    /** @param {Parameters<IRemoteAudioTrack['getRTCRtpTransceiver']>[0]} [_type] */
    getRTCRtpTransceiver(_type) {
      return this._transceiver;
    }
    play() {
      if (this._playElement || this._destroyed) return;
      const el = document.createElement("audio");
      el.autoplay = true;
      el.srcObject = new MediaStream([this._mediaStreamTrack]);
      el.volume = Math.max(0, Math.min(100, this._volume)) / 100;
      el.onplaying = () => (this._playState = "playing");
      el.onpause = () => (this._playState = "paused");
      this._playElement = el;
      this._playState = "init";
      el.play().catch((e) => warn("audio element play warning", String(e)));
    }
    stop() {
      const el = this._playElement;
      if (!el) return;
      this._playElement = null;
      this._playState = "init";
      el.onplaying = el.onpause = null;
      el.pause();
      el.srcObject = null;
      el.remove();
    }
    /** @param {number} volume 0..100 */
    setVolume(volume) {
      this._volume = volume;
      if (this._playElement) this._playElement.volume = Math.max(0, Math.min(100, volume)) / 100;
    }
    getVolume() {
      return this._volume;
    }
    /** RMS of the last ~43 ms, 0..1 (analyser on the stand-in's context, made on first call). */
    getVolumeLevel() {
      if (this._destroyed) return 0;
      if (!this._meter) {
        const ctx = standinAudioContext();
        const source = ctx.createMediaStreamSource(new MediaStream([this._mediaStreamTrack]));
        const analyser = ctx.createAnalyser();
        analyser.fftSize = 2048;
        source.connect(analyser);
        this._meter = { source, analyser, buf: new Float32Array(analyser.fftSize) };
      }
      const { analyser, buf } = this._meter;
      analyser.getFloatTimeDomainData(buf);
      let sum = 0;
      for (let i = 0; i < buf.length; i++) sum += buf[i] * buf[i];
      return Math.min(1, Math.sqrt(sum / buf.length));
    }
    _destroy() {
      if (this._destroyed) return;
      this._destroyed = true;
      this.stop();
      if (this._meter) {
        this._meter.source.disconnect();
        this._meter = null;
      }
      this._audioElement.srcObject = null;
      this._audioElement.remove();
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Remote user. SDK: class jte — hasAudio/audioTrack are getters; audioTrack is undefined
  // unless the user currently publishes audio.
  // ---------------------------------------------------------------------------------------------

  class RemoteUser {
    /** @param {UID} uid @param {Participant} participant */
    constructor(uid, participant) {
      /** @type {UID} */
      this.uid = uid;
      this._participant = participant;
      /** @type {RemoteAudioTrack | undefined} */
      this._audioTrack = undefined;
      /** @type {ReceiverLink | undefined} */
      this._link = undefined;
    }
    get hasAudio() {
      return this._participant.published;
    }
    get hasVideo() {
      return false;
    }
    /** @returns {IRemoteAudioTrack | undefined} */
    get audioTrack() {
      return this.hasAudio ? /** @type {IRemoteAudioTrack} */ (/** @type {unknown} */ (this._audioTrack)) : undefined;
    }
    get videoTrack() {
      return undefined;
    }
    get dataChannels() {
      return [];
    }
    /** Stop transport and destroy the subscribed track (unsubscribe, unpublish, leave). */
    _dropAudio() {
      if (this._link) this._link.close();
      this._link = undefined;
      if (this._audioTrack) this._audioTrack._destroy();
      this._audioTrack = undefined;
    }
  }

  /** A scripted participant inside one session (one successful join). */
  class Participant {
    /** @param {StandinParticipant} cfg */
    constructor(cfg) {
      this.cfg = cfg;
      this.published = false;
      this.inChannel = false;
      this.user = new RemoteUser(cfg.uid, this);
      /** @type {ParticipantSource | null} */
      this.source = null;
    }
    /** @param {number} t0 */
    sourceTrack(t0) {
      if (!this.source) this.source = new ParticipantSource(this.cfg, t0);
      return this.source.track;
    }
    close() {
      this.user._dropAudio();
      if (this.source) this.source.close();
      this.source = null;
    }
  }

  /** @param {string} channel @returns {StandinChannel} */
  function channelConfig(channel) {
    const channels = scenario.channels || {};
    return channels[channel] || channels["*"] || {};
  }

  // ---------------------------------------------------------------------------------------------
  // Client
  // ---------------------------------------------------------------------------------------------

  /** @implements {ClientSubset} */
  class Client extends Emitter {
    /** @param {ClientConfig} config */
    constructor(config) {
      super();
      this._config = config;
      this._clientId = `client-${randomHex(5)}`;
      /** @type {ConnectionState} */
      this._state = "DISCONNECTED";
      /** @type {RemoteUser[]} */
      this._users = [];
      /** @type {UID | undefined} */
      this._uid = undefined;
      /** @type {string | undefined} */
      this._channelName = undefined;
      /** @type {string | undefined} */
      this._key = undefined;
      this._role = config.role || "audience";
      this._joinCount = 0;
      /** @type {((e: AgoraRTCError) => void) | null} aborts a join still in flight (leave) */
      this._abortJoin = null;
      /** @type {Session | null} */
      this._session = null;
      /** @type {Promise<void>} */
      this._subscribeQueue = Promise.resolve();
    }

    get connectionState() {
      return this._state;
    }
    /** @returns {IAgoraRTCRemoteUser[]} */
    get remoteUsers() {
      return this._users;
    }
    get uid() {
      return this._uid;
    }
    get channelName() {
      return this._channelName;
    }
    /** @returns {SDK_MODE} */
    get mode() {
      return this._config.mode;
    }
    /** @returns {ClientRole} */
    get role() {
      return this._config.mode === "live" ? this._role : "host";
    }

    /**
     * @template {keyof ClientEvents} K
     * @param {K} event @param {ClientEvents[K]} args
     */
    _emit(event, args) {
      emittedLog.push({ t: performance.now(), event, args: args.map(jsonFriendly) });
      this._safeEmit(event, args);
    }

    /** @param {ConnectionState} state @param {DisconnectedReason} [reason] */
    _setState(state, reason) {
      if (state === this._state) return;
      const prev = this._state;
      this._state = state;
      if (state === "DISCONNECTED" && reason) this._emit("connection-state-change", [state, prev, reason]);
      else this._emit("connection-state-change", [state, prev]);
    }

    /** SDK: _reset() — drops users and their tracks without user-left events. */
    _reset() {
      if (this._session) this._session.close();
      this._session = null;
      for (const u of this._users) u._dropAudio();
      this._users = [];
      this._uid = undefined;
      this._channelName = undefined;
      this._key = undefined;
    }

    /**
     * @param {string} appid @param {string} channel @param {string | null} token @param {UID | null} [uid]
     * @param {{autoSubscribe?: boolean, autoReceiveAndPlayAudio?: boolean, networkQualityProbe?: boolean}} [_options]
     * @returns {Promise<UID>}
     */
    async join(appid, channel, token, uid, _options) {
      record("join", [appid, channel, token, uid]);
      // SDK: validation first (INVALID_PARAMS, no state change).
      if (!token && token !== null) {
        throw new AgoraRTCError("INVALID_PARAMS", `Invalid token: ${token}. If you don not use token, set it to null`);
      }
      if (token) checkString(token, "token", 1, 2047);
      checkString(appid, "appid", 1, 2047);
      checkChannelName(channel);
      if (uid) checkUid(uid);
      if (this._state !== "DISCONNECTED") {
        throw new AgoraRTCError("INVALID_OPERATION", `[${this._clientId}] Client already in connecting/connected state`);
      }
      const attempt = ++this._joinCount;
      const chan = channelConfig(channel);
      this._setState("CONNECTING");
      const ctx = standinAudioContext();
      /** @type {Promise<never>} */
      const aborted = new Promise((_resolve, reject) => {
        this._abortJoin = reject;
      });
      aborted.catch(() => {});
      try {
        const reply = chan.joinHang
          ? new Promise(() => {})
          : Promise.all([sleep(chan.joinDelayMs ?? DEFAULT_JOIN_DELAY_MS), contextRunning(ctx, 2000), mediaPermission]);
        await Promise.race([reply, aborted]);
        const error =
          accessPointError(appid, token) ||
          (chan.joinError ? new AgoraRTCError(chan.joinError.code, chan.joinError.message, chan.joinError.data) : null);
        if (error) throw error;
      } catch (e) {
        // SDK: rollback to DISCONNECTED unless the join was aborted by leave().
        const err = /** @type {AgoraRTCError} */ (e);
        if (err.code !== "OPERATION_ABORTED" && this._joinCount === attempt) {
          this._setState("DISCONNECTED");
          this._reset();
        }
        throw err;
      } finally {
        this._abortJoin = null;
      }
      const assigned = uid || Math.floor(Math.random() * 0xfffffffe) + 1;
      this._key = token || appid;
      this._setState("CONNECTED");
      // SDK: uid and channelName are set after the CONNECTED event, before join resolves.
      this._uid = assigned;
      this._channelName = channel;
      const t0 = performance.now();
      lastJoinedAt = t0;
      this._session = new Session(this, channel, chan, t0);
      info(`joined ${channel} as ${assigned}`);
      return assigned;
    }

    async leave() {
      record("leave", []);
      // SDK: reset first (users, tracks, uid, channelName), then DISCONNECTING, LEAVE request, DISCONNECTED.
      this._reset();
      if (this._abortJoin) this._abortJoin(new AgoraRTCError("OPERATION_ABORTED", "cancel token canceled"));
      await Promise.resolve();
      if (this._state === "DISCONNECTED") return;
      const wasConnected = this._state === "CONNECTED";
      this._setState("DISCONNECTING");
      if (wasConnected) await sleep(LEAVE_ROUND_TRIP_MS);
      this._setState("DISCONNECTED", "LEAVE");
    }

    /** @param {ClientRole} role @param {ClientRoleOptions} [options] */
    async setClientRole(role, options) {
      record("setClientRole", [role, options]);
      checkEnum(role, "role", ["audience", "host"]);
      if (this._config.mode === "rtc" || this._config.mode === "p2p") {
        throw new AgoraRTCError("INVALID_OPERATION", `${this._config.mode} mode can not use setClientRole`);
      }
      if (options && options.level && role === "host") {
        throw new AgoraRTCError("INVALID_OPERATION", "host mode can not set audience latency level");
      }
      if (this._state === "CONNECTED") await sleep(5);
      this._role = role;
    }

    /** @param {string} token */
    async renewToken(token) {
      record("renewToken", [token]);
      checkString(token, "token", 1, 2047);
      if (!this._key || !this._session) {
        throw new AgoraRTCError("INVALID_OPERATION", "renewToken should not be called before user join");
      }
      this._key = token;
      renewedTokens.push(token);
      await sleep(5);
    }

    /** @param {UID | IAgoraRTCRemoteUser} user @returns {RemoteUser} */
    _findUser(user) {
      if (user instanceof RemoteUser) return user;
      const found = this._users.find((u) => u.uid === user);
      if (!found) throw new AgoraRTCError("INVALID_REMOTE_USER", "user is not in the channel");
      return found;
    }

    /** @template T @param {() => Promise<T>} fn @returns {Promise<T>} */
    _withSubscribeLock(fn) {
      const run = this._subscribeQueue.then(fn);
      this._subscribeQueue = run.then(
        () => {},
        () => {},
      );
      return run;
    }

    /**
     * SDK overloads: "audio" -> IRemoteAudioTrack, "video" -> IRemoteVideoTrack, "datachannel" -> IRemoteDataChannel.
     * Only audio exists here; the remote track is a real WebRTC remote track from a loopback pc pair.
     * @param {IAgoraRTCRemoteUser | UID} userOrUid @param {"audio" | "video" | "datachannel"} mediaType @param {number} [_channelId]
     * @returns {Promise<any>}
     */
    async subscribe(userOrUid, mediaType, _channelId) {
      record("subscribe", [userOrUid instanceof RemoteUser ? userOrUid.uid : userOrUid, mediaType]);
      const user = this._findUser(userOrUid);
      if (mediaType === "datachannel") throw new AgoraRTCError("NOT_SUPPORTED", "stand-in: datachannel is not implemented");
      checkEnum(mediaType, "mediaType", ["audio", "video"]);
      const session = this._session;
      if (!session) throw new AgoraRTCError("INVALID_OPERATION", "Can't subscribe stream, not joined");
      if (this._state !== "CONNECTED" && this._state !== "RECONNECTING") {
        throw new AgoraRTCError("INVALID_OPERATION", `Can't subscribe stream in ${this._state} state`);
      }
      if (!this._users.includes(user)) throw new AgoraRTCError("INVALID_REMOTE_USER", "user is not in the channel");
      if (!user.hasAudio && !user.hasVideo) throw new AgoraRTCError("INVALID_REMOTE_USER", "user is not published");
      if (mediaType !== "audio" || !user.hasAudio) throw new AgoraRTCError("REMOTE_USER_IS_NOT_PUBLISHED");
      return this._withSubscribeLock(async () => {
        // SDK: subscribing again to a subscribed track returns the same track.
        if (user._audioTrack && user.hasAudio) return user._audioTrack;
        const participant = user._participant;
        const link = session.link(participant);
        user._link = link;
        let remote;
        try {
          remote = await link.open(scenario.subscribeTimeoutMs ?? DEFAULT_SUBSCRIBE_TIMEOUT_MS);
        } catch (e) {
          link.close();
          if (user._link === link) user._link = undefined;
          if (this._session !== session || !participant.published) throw new AgoraRTCError("REMOTE_USER_IS_NOT_PUBLISHED");
          const kind = link instanceof RelayLink ? "callers" : "loopback";
          throw new AgoraRTCError("SUBSCRIBE_FAILED", `stand-in ${kind}: ${e instanceof Error ? e.message : e}`);
        }
        if (link.closed || this._session !== session || !participant.published) {
          link.close();
          throw new AgoraRTCError("REMOTE_USER_IS_NOT_PUBLISHED");
        }
        user._audioTrack = new RemoteAudioTrack(remote, user.uid, link.transceiver);
        return user._audioTrack;
      });
    }

    /**
     * @param {IAgoraRTCRemoteUser | UID} userOrUid @param {"audio" | "video" | "datachannel"} [mediaType] @param {number} [_channelId]
     * @returns {Promise<void>}
     */
    async unsubscribe(userOrUid, mediaType, _channelId) {
      record("unsubscribe", [userOrUid instanceof RemoteUser ? userOrUid.uid : userOrUid, mediaType]);
      // SDK: all checks run synchronously at call time, so a user who already left is rejected
      // with INVALID_REMOTE_USER "user is not in the channel".
      const user = this._findUser(userOrUid);
      if (mediaType === "datachannel") return;
      if (mediaType) checkEnum(mediaType, "mediaType", ["audio", "video"]);
      if (!this._session) throw new AgoraRTCError("INVALID_OPERATION", "Can't unsubscribe stream, haven't joined yet!");
      if (!this._users.includes(user)) throw new AgoraRTCError("INVALID_REMOTE_USER", "user is not in the channel");
      await this._withSubscribeLock(async () => {
        if (!mediaType || mediaType === "audio") user._dropAudio();
      });
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Session: one successful join; plays the channel's scenario relative to t0 (join resolved).
  // ---------------------------------------------------------------------------------------------

  class Session {
    /** @param {Client} client @param {string} channel @param {StandinChannel} chan @param {number} t0 */
    constructor(client, channel, chan, t0) {
      this.client = client;
      this.channel = channel;
      this.t0 = t0;
      /** Callers mode: participants send from the callers page (the channel's setting wins). */
      this.callers = chan.callers || scenario.callers || null;
      this.closed = false;
      /** @type {Participant[]} */
      this.participants = (chan.participants || []).map((p) => new Participant(p));
      /** @type {{at: number, seq: number, run: () => void}[]} */
      this.actions = [];
      /** @type {number | undefined} */
      this.timer = undefined;
      let seq = 0;
      /** @param {number} at @param {() => void} run */
      const add = (at, run) => this.actions.push({ at, seq: seq++, run });

      /** @type {Participant[]} */
      const present = [];
      for (const p of this.participants) {
        const c = p.cfg;
        const joinAt = c.joinAt ?? 0;
        const leaveAt = c.leaveAt ?? null;
        if (leaveAt !== null && leaveAt <= 0) continue;
        if (joinAt <= 0) present.push(p);
        else add(joinAt, () => this.userJoined(p));
        if (c.publishAt !== null && c.publishAt !== undefined) {
          const publishAt = Math.max(c.publishAt, joinAt);
          if (publishAt > 0) add(publishAt, () => this.publish(p));
          else p.published = true; // already publishing when the bot joins
        }
        if (c.unpublishAt !== null && c.unpublishAt !== undefined) add(Math.max(c.unpublishAt, 0), () => this.unpublish(p));
        if (leaveAt !== null) add(leaveAt, () => this.userLeft(p, c.leaveReason || "Quit"));
      }
      for (const ev of chan.events || []) add(ev.at, () => this.scriptedEvent(ev));
      this.actions.sort((a, b) => a.at - b.at || a.seq - b.seq);

      // SDK: users already in the channel arrive right after join resolves (their own task):
      // every user-joined first, then every user-published.
      const initial = () => {
        if (this.closed) return;
        for (const p of present) {
          p.inChannel = true;
          client._users.push(p.user);
        }
        for (const p of present) client._emit("user-joined", [p.user]);
        for (const p of present) if (p.published && p.inChannel && !this.closed) client._emit("user-published", [p.user, "audio"]);
        this.schedule();
      };
      this.timer = window.setTimeout(initial, 0);
    }

    schedule() {
      if (this.closed || this.actions.length === 0) return;
      const delay = Math.max(0, this.t0 + this.actions[0].at - performance.now());
      this.timer = window.setTimeout(() => {
        this.timer = undefined;
        const now = performance.now() - this.t0;
        while (!this.closed && this.actions.length && this.actions[0].at <= now + 1) {
          const a = /** @type {{run: () => void}} */ (this.actions.shift());
          a.run();
        }
        this.schedule();
      }, delay);
    }

    /**
     * The transport for one subscription to `p`: its sender in this page, or in callers mode on
     * the callers page, which plays the same script on the same Unix-clock time 0.
     * @param {Participant} p @returns {ReceiverLink}
     */
    link(p) {
      if (!this.callers) return new LoopbackLink(p.sourceTrack(this.t0));
      return new RelayLink(this.callers.url, {
        channel: this.channel,
        uid: p.cfg.uid,
        participant: p.cfg,
        wall0: performance.timeOrigin + this.t0,
      });
    }

    /** @param {Participant} p */
    userJoined(p) {
      if (p.inChannel) return;
      p.inChannel = true;
      this.client._users.push(p.user);
      this.client._emit("user-joined", [p.user]);
    }

    /** @param {Participant} p */
    publish(p) {
      if (!p.inChannel || p.published) return;
      p.published = true;
      this.client._emit("user-published", [p.user, "audio"]);
    }

    /** @param {Participant} p */
    unpublish(p) {
      if (!p.inChannel || !p.published) return;
      p.published = false;
      p.user._dropAudio(); // the sender stops: no more audio reaches the page
      this.client._emit("user-unpublished", [p.user, "audio"]);
    }

    /** SDK: user offline -> user-unpublished (if publishing), removed from remoteUsers, user-left. @param {Participant} p @param {string} reason */
    userLeft(p, reason) {
      if (!p.inChannel) return;
      this.unpublish(p);
      p.inChannel = false;
      p.close();
      const users = this.client._users;
      const i = users.indexOf(p.user);
      if (i !== -1) users.splice(i, 1);
      this.client._emit("user-left", [p.user, reason]);
    }

    /** @param {StandinEvent} ev */
    scriptedEvent(ev) {
      const client = this.client;
      switch (ev.type) {
        case "token-privilege-will-expire":
          client._emit("token-privilege-will-expire", []);
          break;
        case "token-privilege-did-expire":
          // SDK: gateway.leave(TOKEN_EXPIRE) -> DISCONNECTING, reset, DISCONNECTED(TOKEN_EXPIRE); then the event.
          client._setState("DISCONNECTING");
          client._reset();
          client._setState("DISCONNECTED", "TOKEN_EXPIRE");
          client._emit("token-privilege-did-expire", []);
          break;
        case "connection-state-change": {
          const state = ev.state || "CONNECTED";
          if (state === "DISCONNECTED") {
            client._reset();
            client._setState("DISCONNECTED", /** @type {DisconnectedReason} */ (ev.reason || "NETWORK_ERROR"));
          } else {
            client._setState(state);
          }
          break;
        }
        case "exception":
          client._emit("exception", [{ code: ev.code ?? 2002, msg: ev.msg ?? "AUDIO_OUTPUT_LEVEL_TOO_LOW", uid: ev.uid ?? 0 }]);
          break;
        default:
          warn("unknown scripted event", ev);
      }
    }

    close() {
      if (this.closed) return;
      this.closed = true;
      clearTimeout(this.timer);
      for (const p of this.participants) p.close();
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Callers mode, the callers page's side: a page of its own, in a browser of its own, loads this
  // file and calls AgoraRTC.__standin.serveCallers(relayUrl). It plays the sending side of every
  // link recorder pages open: the participant's source and the Opus encoder run HERE, so the
  // recorder's browser only receives, as from Agora's servers.
  // ---------------------------------------------------------------------------------------------

  /** One link's sending side: the participant's source -> sender pc -> (relay) -> the recorder's receiver. */
  class CallerLink {
    /** @param {Relay} relay @param {StandinLink} link */
    constructor(relay, link) {
      this.relay = relay;
      this.link = link;
      this.tx = new RTCPeerConnection(PC_CONFIG);
      /** @type {ParticipantSource | null} */
      this.source = null;
      this.closed = false;
    }

    async open() {
      const { tx, link, relay } = this;
      await contextRunning(standinAudioContext(), 2000);
      if (this.closed) return;
      // The recorder's time 0 on this page's clock: both pages read the same Unix clock.
      this.source = new ParticipantSource(link.participant, link.wall0 - performance.timeOrigin);
      const track = this.source.track;
      tx.addTransceiver(track, { direction: "sendonly", streams: [new MediaStream([track])] });
      // A recorder gone without closing its link (a crashed tab) shows as a failed connection.
      tx.onconnectionstatechange = () => {
        if (tx.connectionState !== "failed") return;
        this.close();
        relay.closeLink(link.id);
      };
      await tx.setLocalDescription(await tx.createOffer());
      await relay.post(`/links/${link.id}/offer`, await loopbackDescription(tx));
      const answer = await relay.wait(`/links/${link.id}/answer`);
      if (!this.closed) await tx.setRemoteDescription(answer);
    }

    close() {
      if (this.closed) return;
      this.closed = true;
      this.tx.close();
      if (this.source) this.source.close();
      this.source = null;
    }
  }

  /**
   * Serves every link the relay hands out, until the page closes. Only the relay's change feed
   * is polled for the page's whole life: Chromium opens at most 6 connections per host.
   * @param {string} url the relay
   */
  async function serveCallers(url) {
    const relay = new Relay(url);
    /** @type {Map<number, CallerLink>} */
    const links = new Map();
    await mediaPermission;
    info(`callers: serving links from ${url}`);
    let after = 0;
    for (;;) {
      /** @type {StandinLinkChanges} */
      let changes;
      try {
        changes = await relay.wait(`/links/changes?after=${after}`);
      } catch (e) {
        warn("callers: relay unreachable", e);
        await sleep(1000);
        continue;
      }
      after = changes.seq;
      for (const id of changes.closed) {
        const caller = links.get(id);
        if (caller) caller.close();
        links.delete(id);
      }
      for (const link of changes.opened) {
        const caller = new CallerLink(relay, link);
        links.set(link.id, caller);
        caller.open().catch((e) => {
          if (!caller.closed && !Relay.isGone(e)) warn(`callers: link ${link.id} (${link.channel}, uid ${link.uid}) failed`, e);
          caller.close();
          relay.closeLink(link.id);
        });
      }
    }
  }

  // ---------------------------------------------------------------------------------------------
  // The global AgoraRTC
  // ---------------------------------------------------------------------------------------------

  /** @type {AgoraStandinControl} */
  const control = {
    configure(config) {
      scenario = JSON.parse(JSON.stringify(config || {}));
      if (!scenario.channels) scenario.channels = {};
    },
    get config() {
      return scenario;
    },
    log: callLog,
    emitted: emittedLog,
    renewedTokens,
    get joinedAt() {
      return lastJoinedAt;
    },
    serveCallers,
  };

  /** @implements {AgoraRTCSubset} */
  class AgoraRTCStandin extends Emitter {
    constructor() {
      super();
      this.VERSION = VERSION;
      this.__standin = control;
    }
    /** @param {ClientConfig} config @returns {IAgoraRTCClient} */
    createClient(config = { codec: "vp8", audioCodec: "opus", mode: "rtc" }) {
      record("createClient", [config]);
      checkEnum(config.codec, "config.codec", ["vp8", "vp9", "av1", "h264", "h265"]);
      checkEnum(config.mode, "config.mode", ["rtc", "live", "p2p"]);
      const cfg = { ...config, audioCodec: config.audioCodec || "opus" };
      // SDK: role is "host" in rtc/p2p, else config.role or "audience".
      cfg.role = config.mode === "rtc" || config.mode === "p2p" ? "host" : config.role || "audience";
      return /** @type {IAgoraRTCClient} */ (/** @type {unknown} */ (new Client(cfg)));
    }
    /** @param {number} level */
    setLogLevel(level) {
      logLevel = level;
    }
    enableLogUpload() {}
    disableLogUpload() {}
    checkSystemRequirements() {
      return true;
    }
    /** Exists at runtime in the SDK (not in its d.ts); accepted and ignored. @param {string} _key @param {unknown} _value */
    setParameter(_key, _value) {}
  }

  /** @type {any} */ (window).AgoraRTC = new AgoraRTCStandin();
})();
