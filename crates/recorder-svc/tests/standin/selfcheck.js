// @ts-check
/*
 * Self-check page script for agora-standin.js (run by selfcheck.py in headless Chromium).
 * Uses the stand-in the way the recorder page uses the SDK: join as audience, subscribe on
 * user-published, feed every remote track into ONE WebAudio graph, measure per-block RMS and
 * zero crossings per participant, and POST everything to /report for selfcheck.py to judge.
 */
(function () {
  "use strict";
  /** @typedef {import('agora-rtc-sdk-ng').IAgoraRTCRemoteUser} IAgoraRTCRemoteUser */
  /** @typedef {import('agora-rtc-sdk-ng').UID} UID */

  const APP_ID = "0123456789abcdef0123456789abcdef";
  const RUN_MS = 5000; // how long to stay in the channel after join
  const INPUTS = 2;

  /** @type {string[]} */
  const problems = [];
  /** @type {{t: number, event: string, args: unknown[]}[]} */
  const events = [];
  /** @type {unknown[]} */
  const negative = [];
  /** @type {{uid: UID, what: string, t: number, detail?: unknown}[]} */
  const subscriptions = [];

  /** @param {unknown} e */
  function errInfo(e) {
    const x = /** @type {{name?: string, code?: string, message?: string, data?: unknown}} */ (e);
    return { name: x && x.name, code: x && x.code, message: x && x.message, data: x && x.data };
  }

  /** @param {string} event @param {unknown[]} args */
  function note(event, args) {
    const joinedAt = AgoraRTC.__standin.joinedAt;
    events.push({
      t: joinedAt === null ? -1 : performance.now() - joinedAt,
      event,
      // remote users (SDK user objects) appear as their uid
      args: args.map((a) => (a && typeof a === "object" && "hasAudio" in a && "uid" in a ? /** @type {IAgoraRTCRemoteUser} */ (a).uid : a)),
    });
  }

  const WORKLET = `
class Meter extends AudioWorkletProcessor {
  constructor() { super(); this.batch = []; this.prev = new Float32Array(${INPUTS}); }
  process(inputs) {
    const rec = [currentFrame];
    for (let i = 0; i < inputs.length; i++) {
      const ch = inputs[i][0];
      if (!ch) { rec.push(0, 0, 128); continue; }
      let ss = 0, zc = 0, prev = this.prev[i];
      for (let k = 0; k < ch.length; k++) {
        const x = ch[k];
        ss += x * x;
        if ((x >= 0) !== (prev >= 0)) zc++;
        prev = x;
      }
      this.prev[i] = prev;
      rec.push(ss, zc, ch.length);
    }
    this.batch.push(rec);
    if (this.batch.length >= 8) { this.port.postMessage({ batch: this.batch, end: currentFrame + 128 }); this.batch = []; }
    return true;
  }
}
registerProcessor("meter", Meter);`;

  /** @param {AudioContext} ctx */
  async function makeGraph(ctx) {
    const url = URL.createObjectURL(new Blob([WORKLET], { type: "application/javascript" }));
    await ctx.audioWorklet.addModule(url);
    const node = new AudioWorkletNode(ctx, "meter", { numberOfInputs: INPUTS, numberOfOutputs: 1, outputChannelCount: [1] });
    node.connect(ctx.destination);
    /** @type {number[][]} */
    const blocks = [];
    let offsetMs = Infinity; // performance.now() - contextTime*1000, lower envelope over messages
    node.port.onmessage = (ev) => {
      const { batch, end } = /** @type {{batch: number[][], end: number}} */ (ev.data);
      offsetMs = Math.min(offsetMs, performance.now() - (end / ctx.sampleRate) * 1000);
      for (const b of batch) blocks.push(b);
    };
    return { node, blocks, offset: () => offsetMs };
  }

  async function negativeChecks() {
    const c = AgoraRTC.createClient({ mode: "live", codec: "vp8" });
    /** @type {string[]} */
    const states = [];
    c.on("connection-state-change", (cur, prev, reason) => states.push(`${prev}->${cur}${reason ? `(${reason})` : ""}`));
    /** @type {[string, string, string | null, string][]} */
    const cases = [
      ["bad-appid", "not-an-app-id", null, "negchan"],
      ["bad-token", APP_ID, "abc", "negchan"],
      ["006-token-other-appid", APP_ID, "006ffffffffffffffffffffffffffffffffIAAAAAA", "negchan"],
      ["empty-token", APP_ID, "", "negchan"],
      ["scripted-error", APP_ID, null, "failchan"],
    ];
    for (const [name, appid, token, channel] of cases) {
      states.length = 0;
      try {
        const uid = await c.join(appid, channel, token, 42);
        negative.push({ name, resolved: uid });
        await c.leave();
      } catch (e) {
        negative.push({ name, error: errInfo(e), states: [...states], connectionState: c.connectionState });
      }
    }
    // hang: never settles; leave() aborts it.
    states.length = 0;
    const hang = c.join(APP_ID, "hangchan", null, 42).then(
      (uid) => ({ resolved: uid }),
      (e) => ({ error: errInfo(e) }),
    );
    const settledEarly = await Promise.race([hang.then(() => true), new Promise((r) => setTimeout(() => r(false), 300))]);
    await c.leave();
    negative.push({ name: "hang", settledWithin300ms: settledEarly, afterLeave: await hang, states: [...states] });
    // token expiry while joined; subscribe errors
    states.length = 0;
    /** @type {string[]} */
    const seen = [];
    /** @param {string} name */
    const rec = (name) => (/** @type {IAgoraRTCRemoteUser} */ user) => seen.push(`${name}:${user.uid}`);
    c.on("user-joined", rec("user-joined"));
    c.on("user-published", rec("user-published"));
    c.on("token-privilege-did-expire", () => seen.push("token-privilege-did-expire"));
    await c.join(APP_ID, "expirechan", null, 42);
    await new Promise((r) => setTimeout(r, 20));
    /** @type {unknown[]} */
    const subscribeErrors = [];
    for (const target of [9, 12345]) {
      try {
        await c.subscribe(target, "audio");
        subscribeErrors.push({ target, resolved: true });
      } catch (e) {
        subscribeErrors.push({ target, error: errInfo(e) });
      }
    }
    await new Promise((r) => setTimeout(r, 150));
    negative.push({ name: "token-expired", states: [...states], seen, remoteUsers: c.remoteUsers.length, uid: c.uid ?? null, subscribeErrors });
    c.removeAllListeners();

    // renewToken before join
    try {
      await c.renewToken("007abc");
      negative.push({ name: "renew-before-join", resolved: true });
    } catch (e) {
      negative.push({ name: "renew-before-join", error: errInfo(e) });
    }
  }

  async function main() {
    await negativeChecks();

    const ctx = new AudioContext(/** @type {AudioContextOptions} */ ({ sampleRate: 48000, sinkId: { type: "none" } }));
    await ctx.resume();
    const graph = await makeGraph(ctx);
    /** @type {Map<UID, number>} */
    const inputOf = new Map();
    /** @type {Map<UID, MediaStreamAudioSourceNode>} */
    const sources = new Map();

    const client = AgoraRTC.createClient({ mode: "live", codec: "vp8", role: "audience", clientRoleOptions: { level: 1 } });
    client.on("connection-state-change", (cur, prev, reason) => note("connection-state-change", reason ? [cur, prev, reason] : [cur, prev]));
    client.on("user-joined", (user) => note("user-joined", [user]));
    client.on("user-left", async (user, reason) => {
      note("user-left", [user, reason]);
      const src = sources.get(user.uid);
      if (src) src.disconnect();
      sources.delete(user.uid);
      try {
        await client.unsubscribe(user, "audio");
        subscriptions.push({ uid: user.uid, what: "unsubscribe-after-left-resolved", t: performance.now() });
      } catch (e) {
        subscriptions.push({ uid: user.uid, what: "unsubscribe-after-left-rejected", t: performance.now(), detail: errInfo(e) });
      }
    });
    client.on("user-unpublished", (user, mediaType) => {
      note("user-unpublished", [user, mediaType, { hasAudio: user.hasAudio, audioTrack: user.audioTrack === undefined ? "undefined" : "set" }]);
    });
    client.on("user-published", async (user, mediaType) => {
      note("user-published", [user, mediaType, { hasAudio: user.hasAudio }]);
      if (mediaType !== "audio") return;
      const t = performance.now();
      try {
        const track = await client.subscribe(user, "audio");
        const mst = track.getMediaStreamTrack();
        subscriptions.push({
          uid: user.uid,
          what: "subscribed",
          t: performance.now(),
          detail: {
            ms: performance.now() - t,
            sameAsUserTrack: user.audioTrack === track,
            trackId: track.getTrackId(),
            userId: track.getUserId(),
            kind: mst.kind,
            readyState: mst.readyState,
            isPlaying: track.isPlaying,
            hasTransceiver: !!track.getRTCRtpTransceiver(),
          },
        });
        if (!inputOf.has(user.uid)) inputOf.set(user.uid, inputOf.size);
        const src = ctx.createMediaStreamSource(new MediaStream([mst]));
        src.connect(graph.node, 0, /** @type {number} */ (inputOf.get(user.uid)));
        sources.set(user.uid, src);
      } catch (e) {
        subscriptions.push({ uid: user.uid, what: "subscribe-failed", t: performance.now(), detail: errInfo(e) });
      }
    });
    client.on("token-privilege-will-expire", async () => {
      note("token-privilege-will-expire", []);
      await client.renewToken("007renewed-token");
    });
    client.on("token-privilege-did-expire", () => note("token-privilege-did-expire", []));
    client.on("exception", (ev) => note("exception", [ev]));

    await client.setClientRole("audience", { level: 1 });
    const uid = await client.join(APP_ID, "selfcheck", null, null);
    const joinedAt = /** @type {number} */ (AgoraRTC.__standin.joinedAt);
    const afterJoin = { uid, clientUid: client.uid, channelName: client.channelName, state: client.connectionState, remoteUsers: client.remoteUsers.length };
    await new Promise((r) => setTimeout(r, RUN_MS));
    const beforeLeave = { remoteUsers: client.remoteUsers.map((u) => ({ uid: u.uid, hasAudio: u.hasAudio, hasTrack: !!u.audioTrack })) };
    await client.leave();
    const afterLeave = { state: client.connectionState, uid: client.uid ?? null, channelName: client.channelName ?? null, remoteUsers: client.remoteUsers.length };
    await new Promise((r) => setTimeout(r, 100));

    // Blocks -> join-relative timeline.
    const offset = graph.offset();
    const sr = ctx.sampleRate;
    /** @type {{[uid: string]: {input: number, blocks: number[][]}}} */
    const perUser = {};
    for (const [u, input] of inputOf) perUser[String(u)] = { input, blocks: [] };
    for (const b of graph.blocks) {
      const tRel = (b[0] / sr) * 1000 + offset - joinedAt;
      for (const [u, input] of inputOf) {
        const ss = b[1 + input * 3], zc = b[2 + input * 3], n = b[3 + input * 3];
        perUser[String(u)].blocks.push([Math.round(tRel * 100) / 100, Math.sqrt(ss / n), zc, n]);
      }
    }
    return {
      ok: true,
      userAgent: navigator.userAgent,
      sdkVersion: AgoraRTC.VERSION,
      sampleRate: sr,
      clockOffsetMs: offset,
      afterJoin,
      beforeLeave,
      afterLeave,
      events,
      subscriptions,
      negative,
      perUser,
      standinLog: AgoraRTC.__standin.log,
      renewedTokens: AgoraRTC.__standin.renewedTokens,
      problems,
    };
  }

  /** @param {unknown} body */
  function send(body) {
    return fetch("/report", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  }

  main().then(send, (e) => send({ ok: false, error: errInfo(e), stack: e && e.stack, events, negative }));
})();
