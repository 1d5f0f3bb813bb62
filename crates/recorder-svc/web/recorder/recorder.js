// @ts-check
// The recorder page: one per session, in its own headless Chromium tab. It joins the Agora
// channel invisibly (live mode, audience), subscribes to every remote user's audio as it is
// published, and hands each track to the capture worker (capture.js: it reads, mixes and chunks
// the audio on the wall clock), whose PCM chunks it streams to the recorder over one ordered
// WebSocket. Control messages are JSON on the same socket (src/session/page_protocol.rs). Only SDK
// calls declared in the SDK's own typings are used (checked by tsc in `make test`).
(function () {
  'use strict';

  const sid = location.pathname.split('/').pop() || '';
  // Set by the recorder before this document's first script (never part of a URL); the first
  // message on the socket presents it.
  const key = window.__memharborKey || '';
  const ws = new WebSocket(`ws://${location.host}/ws/${sid}`);
  ws.binaryType = 'arraybuffer';
  ws.addEventListener('open', () => ws.send(JSON.stringify({ type: 'auth', key })));

  /** @type {Worker | null} */
  let capture = null;
  /** @type {import('agora-rtc-sdk-ng').IAgoraRTCClient | null} */
  let client = null;
  let speakers = false;
  let nextTrackId = 0;
  let cushionMs = 80;
  /** @type {Map<import('agora-rtc-sdk-ng').UID, {id: number, element: HTMLAudioElement}>} */
  const remotes = new Map();
  /** @type {(() => void) | null} */
  let flushed = null;

  /** @param {object} message */
  function send(message) {
    if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(message));
  }

  /** @param {string} level @param {unknown} message */
  function log(level, message) {
    send({ type: 'log', level, message: String(message) });
  }

  window.addEventListener('error', (e) => log('error', e.message));
  window.addEventListener('unhandledrejection', (e) => log('error', e.reason));

  /** The capture worker; the recording's timeline starts when it is told to (startTap). */
  async function setupAudio() {
    if (typeof (/** @type {any} */ (window).MediaStreamTrackProcessor) !== 'function') {
      throw new Error('this browser has no MediaStreamTrackProcessor (Chromium 94 or later is needed)');
    }
    const worker = new Worker('/assets/capture.js');
    worker.onmessage = (e) => {
      const m = e.data;
      if (m instanceof ArrayBuffer) {
        if (ws.readyState === WebSocket.OPEN) ws.send(m);
      } else if (m.type === 'flushed') {
        if (flushed) flushed();
      } else {
        send(m); // late-audio, levels, log
      }
    };
    worker.onerror = (e) => log('error', `capture worker: ${e.message}`);
    capture = worker;
    send({ type: 'hello', sampleRate: 48000 });
  }

  const audioReady = new Promise((resolve, reject) => {
    ws.addEventListener('open', () => setupAudio().then(resolve, reject));
  });

  /** Starts the recording's timeline now: position 0 (frame 0) is this wall-clock instant. */
  function startTap() {
    const wallMs = performance.timeOrigin + performance.now();
    /** @type {Worker} */ (capture).postMessage({ type: 'start', wallMs });
    send({ type: 'tap-started', frame: 0, wallMs });
  }

  /** @param {import('agora-rtc-sdk-ng').UID} uid @param {import('agora-rtc-sdk-ng').IRemoteAudioTrack} track */
  function attach(uid, track) {
    drop(uid);
    const mst = track.getMediaStreamTrack();
    // Chromium delivers a remote WebRTC track's audio only while a media element plays it.
    const element = new Audio();
    element.muted = true;
    element.srcObject = new MediaStream([mst]);
    element.play().catch((e) => log('warn', `audio element: ${e}`));
    const Processor = /** @type {any} */ (window).MediaStreamTrackProcessor;
    // Up to 5 s of frames may wait for the worker before the browser drops the oldest.
    const { readable } = new Processor({ track: mst, maxBufferSize: 500 });
    const id = ++nextTrackId;
    /** @type {Worker} */ (capture).postMessage(
      { type: 'track', id, uid, speaker: speakers && typeof uid === 'number', readable },
      [readable],
    );
    remotes.set(uid, { id, element });
  }

  /** @param {import('agora-rtc-sdk-ng').UID} uid */
  function drop(uid) {
    const r = remotes.get(uid);
    if (!r) return;
    remotes.delete(uid);
    // The worker still mixes what it has of the track, then lets it go.
    if (capture) capture.postMessage({ type: 'end', id: r.id });
    r.element.pause();
    r.element.srcObject = null;
  }

  /** @param {import('agora-rtc-sdk-ng').IAgoraRTCRemoteUser} user */
  async function subscribe(user) {
    if (!client) return;
    try {
      const track = await client.subscribe(user, 'audio');
      attach(user.uid, track);
      send({ type: 'subscribed', uid: user.uid });
    } catch (e) {
      send({ type: 'subscribe-failed', uid: user.uid, message: describe(e) });
    }
  }

  /** @param {unknown} e */
  function describe(e) {
    const err = /** @type {{message?: string}} */ (e);
    return (err && err.message) || String(e);
  }

  /** @param {{appId: string, channel: string, token: string, uid: number, mode: 'live' | 'rtc', role: 'audience' | 'host', speakers: boolean, cushionMs: number}} cfg */
  async function join(cfg) {
    try {
      await audioReady;
      if (typeof AgoraRTC === 'undefined') throw Object.assign(new Error('the Agora SDK script did not load'), { code: 'SDK_NOT_LOADED' });
      speakers = cfg.speakers;
      cushionMs = cfg.cushionMs;
      /** @type {Worker} */ (capture).postMessage({ type: 'cushion', ms: cfg.cushionMs });
      AgoraRTC.setLogLevel(2);
      AgoraRTC.disableLogUpload();
      const c = AgoraRTC.createClient({ mode: cfg.mode, codec: 'vp8' });
      client = c;
      c.on('user-joined', (user) => send({ type: 'user-joined', uid: user.uid }));
      c.on('user-left', (user, reason) => {
        drop(user.uid);
        send({ type: 'user-left', uid: user.uid, reason });
      });
      c.on('user-published', (user, media) => {
        send({ type: 'user-published', uid: user.uid, media });
        if (media === 'audio') subscribe(user);
      });
      c.on('user-unpublished', (user, media) => {
        if (media === 'audio') drop(user.uid);
        send({ type: 'user-unpublished', uid: user.uid, media });
      });
      c.on('connection-state-change', (state, prev, reason) => send({ type: 'connection-state', state, prev, reason }));
      c.on('token-privilege-will-expire', () => send({ type: 'token-will-expire' }));
      c.on('token-privilege-did-expire', () => send({ type: 'token-did-expire' }));
      c.on('exception', (event) => send({ type: 'exception', code: event.code, message: event.msg }));
      if (cfg.mode === 'live') {
        await c.setClientRole(cfg.role, cfg.role === 'audience' ? { level: 1 } : undefined);
      }
      await c.join(cfg.appId, cfg.channel, cfg.token, cfg.uid);
      send({ type: 'joined' });
      startTap();
    } catch (e) {
      const err = /** @type {{code?: unknown}} */ (e);
      send({ type: 'join-failed', code: err && err.code ? String(err.code) : undefined, message: describe(e) });
    }
  }

  /** @param {string} token */
  async function renew(token) {
    try {
      if (client) await client.renewToken(token);
      send({ type: 'token-renewed' });
    } catch (e) {
      send({ type: 'token-renew-failed', message: describe(e) });
    }
  }

  /** Sends the last audio (once the worker's cushion has passed), then `stopped`. */
  async function stop() {
    if (capture) {
      await new Promise((resolve) => {
        flushed = () => resolve(undefined);
        /** @type {Worker} */ (capture).postMessage({ type: 'stop' });
        // Within the recorder's own wait (3 s) even at the largest cushion (1 s).
        setTimeout(resolve, cushionMs + 1500);
      });
    }
    send({ type: 'stopped' });
  }

  async function leave() {
    try {
      if (client) await client.leave();
    } catch (e) {
      log('warn', `leave: ${describe(e)}`);
    }
    send({ type: 'left' });
  }

  ws.addEventListener('message', (e) => {
    if (typeof e.data !== 'string') return;
    const m = JSON.parse(e.data);
    if (m.type === 'join') join(m);
    else if (m.type === 'renew-token') renew(m.token);
    else if (m.type === 'stall-capture' && capture) capture.postMessage({ type: 'stall', ms: m.ms });
    else if (m.type === 'stop') stop();
    else if (m.type === 'leave') leave();
  });
  audioReady.catch((e) => send({ type: 'join-failed', code: 'AUDIO_SETUP', message: `audio setup failed: ${describe(e)}` }));
})();
