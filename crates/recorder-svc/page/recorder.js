// @ts-check
// The recorder page: one per session, in its own headless Chromium tab. It joins the Agora
// channel invisibly (live mode, audience), subscribes to every remote user's audio as it is
// published, and feeds it through WebAudio to an AudioWorklet tap that streams PCM to the
// recorder over one ordered WebSocket. Control messages are JSON on the same socket
// (src/session/page_protocol.rs). Only SDK calls declared in the SDK's own typings are used
// (checked by tsc in `make test`).
(function () {
  'use strict';

  const sid = location.pathname.split('/').pop() || '';
  const key = new URLSearchParams(location.search).get('k') || '';
  const ws = new WebSocket(`ws://${location.host}/ws/${sid}?k=${encodeURIComponent(key)}`);
  ws.binaryType = 'arraybuffer';

  /** @type {AudioContext | null} */
  let ctx = null;
  /** @type {AudioWorkletNode | null} */
  let mixTap = null;
  /** @type {import('agora-rtc-sdk-ng').IAgoraRTCClient | null} */
  let client = null;
  let speakers = false;
  /** @type {Map<import('agora-rtc-sdk-ng').UID, {source: MediaStreamAudioSourceNode, element: HTMLAudioElement, tap: AudioWorkletNode | null, meter: AnalyserNode}>} */
  const remotes = new Map();
  /** @type {WeakMap<AudioWorkletNode, () => void>} */
  const flushWaiters = new WeakMap();

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

  /** @param {number} kind @param {number} uid @returns {AudioWorkletNode} */
  function makeTap(kind, uid) {
    const audio = /** @type {AudioContext} */ (ctx);
    const node = new AudioWorkletNode(audio, 'memharbor-tap', {
      numberOfInputs: 1,
      numberOfOutputs: 1,
      outputChannelCount: [1],
      channelCount: 1,
      channelCountMode: 'explicit',
      channelInterpretation: 'speakers',
      processorOptions: { kind, uid },
    });
    node.port.onmessage = (e) => {
      if (e.data instanceof ArrayBuffer) {
        if (ws.readyState === WebSocket.OPEN) ws.send(e.data);
      } else if (e.data && e.data.type === 'flushed') {
        const done = flushWaiters.get(node);
        if (done) done();
      }
    };
    // A silent path to the destination keeps the node rendered every quantum.
    node.connect(new GainNode(audio, { gain: 0 })).connect(audio.destination);
    return node;
  }

  /** The AudioContext at 48 kHz with no audio device, and the mix tap. */
  async function setupAudio() {
    /** @type {any} */
    const options = { sampleRate: 48000, latencyHint: 'interactive', sinkId: { type: 'none' } };
    try {
      ctx = new AudioContext(options);
    } catch (_) {
      delete options.sinkId;
      ctx = new AudioContext(options);
    }
    await ctx.audioWorklet.addModule('/assets/tap-worklet.js');
    if (ctx.state !== 'running') await ctx.resume();
    // Let the clock start so the output timestamp maps frames to wall time.
    while (ctx.currentTime < 0.05) await new Promise((r) => setTimeout(r, 10));
    mixTap = makeTap(0, 0);
    send({ type: 'hello', sampleRate: ctx.sampleRate });
  }

  const audioReady = new Promise((resolve, reject) => {
    ws.addEventListener('open', () => setupAudio().then(resolve, reject));
  });

  /**
   * Starts capture at the frame being processed now, and tells the recorder which wall time that
   * is. Processing time (currentTime), not output time: what a tap hears at frame F is what came
   * in from the network when F was rendered, so the file's timeline matches the wall clock.
   */
  function startTap() {
    const audio = /** @type {AudioContext} */ (ctx);
    const frame = Math.round(audio.currentTime * audio.sampleRate);
    const wallMs = performance.timeOrigin + performance.now();
    /** @type {AudioWorkletNode} */ (mixTap).port.postMessage({ type: 'start', frame });
    send({ type: 'tap-started', frame, wallMs });
  }

  /** @param {import('agora-rtc-sdk-ng').UID} uid @param {import('agora-rtc-sdk-ng').IRemoteAudioTrack} track */
  function attach(uid, track) {
    drop(uid);
    const audio = /** @type {AudioContext} */ (ctx);
    const stream = new MediaStream([track.getMediaStreamTrack()]);
    // Chromium renders a remote WebRTC track into WebAudio only while a media element plays it.
    const element = new Audio();
    element.muted = true;
    element.srcObject = stream;
    element.play().catch((e) => log('warn', `audio element: ${e}`));
    const source = audio.createMediaStreamSource(stream);
    source.connect(/** @type {AudioWorkletNode} */ (mixTap));
    let tap = null;
    if (speakers && typeof uid === 'number') {
      tap = makeTap(1, uid);
      tap.port.postMessage({ type: 'start', frame: 0 });
      source.connect(tap);
    }
    // A level meter per speaker, for the ops page.
    const meter = new AnalyserNode(audio, { fftSize: 2048 });
    source.connect(meter);
    remotes.set(uid, { source, element, tap, meter });
  }

  /** Each remote speaker's RMS level, twice a second. */
  const samples = new Float32Array(2048);
  setInterval(() => {
    if (remotes.size === 0) return;
    /** @type {Record<string, number>} */
    const levels = {};
    for (const [uid, r] of remotes) {
      r.meter.getFloatTimeDomainData(samples);
      let sum = 0;
      for (const v of samples) sum += v * v;
      levels[String(uid)] = Math.sqrt(sum / samples.length);
    }
    send({ type: 'levels', levels });
  }, 500);

  /** @param {import('agora-rtc-sdk-ng').UID} uid */
  function drop(uid) {
    const r = remotes.get(uid);
    if (!r) return;
    remotes.delete(uid);
    r.source.disconnect();
    if (r.tap) r.tap.port.postMessage({ type: 'flush', final: true });
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

  /** @param {{appId: string, channel: string, token: string, uid: number, mode: 'live' | 'rtc', role: 'audience' | 'host', speakers: boolean}} cfg */
  async function join(cfg) {
    try {
      await audioReady;
      if (typeof AgoraRTC === 'undefined') throw Object.assign(new Error('the Agora SDK script did not load'), { code: 'SDK_NOT_LOADED' });
      speakers = cfg.speakers;
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

  /** @param {AudioWorkletNode} node @returns {Promise<void>} */
  function flush(node) {
    return new Promise((resolve) => {
      flushWaiters.set(node, () => resolve());
      node.port.postMessage({ type: 'flush', final: true });
      setTimeout(resolve, 1000);
    });
  }

  /** Sends the last audio of every tap, then `stopped`. */
  async function stop() {
    const taps = [];
    if (mixTap) taps.push(mixTap);
    for (const r of remotes.values()) if (r.tap) taps.push(r.tap);
    await Promise.all(taps.map(flush));
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
    else if (m.type === 'stop') stop();
    else if (m.type === 'leave') leave();
  });
  audioReady.catch((e) => send({ type: 'join-failed', code: 'AUDIO_SETUP', message: `audio setup failed: ${describe(e)}` }));
})();
