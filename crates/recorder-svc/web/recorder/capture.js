// The recorder page's capture worker. It reads every remote audio track (a transferred
// `MediaStreamTrackProcessor` stream), mixes the tracks on the wall clock and posts numbered PCM
// chunks to the page, which forwards them to the recorder.
//
// Why a worker and the wall clock, not WebAudio: under load Chromium's WebAudio clock loses 10 ms
// steps of rendering (its timer-driven sink skips a callback), and its WebRTC bridge keeps only
// ~10 ms of audio, so a late frame became a silent block. Here position p of the session's
// timeline is the wall-clock instant `start + p / 48 kHz`; each track's samples follow one another
// from the moment its first frame arrived; and position p is mixed only at `start + p + CUSHION_MS`,
// so frames that come late by less than the cushion are simply waited for. A track whose frames
// are later than that plays silence for what is missing and the rest of it that much later (never
// dropped); when the late frames arrive the page reports how much as `late-audio`.
//
// Chunk format (little-endian): u8 version=1, u8 kind (0 mix, 1 speaker), u16 0, u32 uid, u32 seq,
// u64 frame (timeline position, 48 kHz), u32 frames, then frames × f32 (src/audio/protocol.rs).
'use strict';

const RATE = 48000;
/** How long a position waits for late frames before it is mixed (see above); the page sets it. */
let CUSHION_MS = 80;
const TICK_MS = 40;
const HEADER = 24;
const LEVEL_EVERY_MS = 500;

/** Absolute wall-clock milliseconds (the page uses the same clock). */
const now = () => performance.timeOrigin + performance.now();

/**
 * @typedef {{uid: number | string, speaker: boolean, queue: Float32Array[], head: number,
 *   queued: number, next: number, ended: boolean, reader: ReadableStreamDefaultReader<AudioData>,
 *   resampler: Resampler | null, owed: number, stats: {frames: number, late: number, minQueued: number}}} Track
 */
/** @type {Map<number, Track>} */
const tracks = new Map();
/** Wall-clock ms of timeline position 0; -1 until recording starts. */
let start = -1;
/** Next position to mix. */
let mixed = 0;
/** Next chunk number per stream ("m" or "s<uid>"). @type {Map<string, number>} */
const seqs = new Map();
/** Sum of squares and count per uid since the last levels report. @type {Map<number | string, [number, number]>} */
const energy = new Map();
let lastLevels = 0;
/** @type {{until: number} | null} */
let stopping = null;
/** Set once the last audio went out: nothing is mixed after the stop. */
let stopped = false;

/** @param {string} level @param {string} message */
function log(level, message) {
  self.postMessage({ type: 'log', level, message });
}

/**
 * Linear-interpolation resampling to 48 kHz, only for a track that arrives at another rate (Chromium
 * renders WebRTC audio at 48 kHz here; the recorder's ffmpeg resampler does the real filtering).
 */
class Resampler {
  /** @param {number} from */
  constructor(from) {
    this.step = from / RATE;
    this.pos = 0; // position of the next output sample, in input samples, relative to `last`
    this.last = 0; // the previous chunk's last input sample
  }

  /** @param {Float32Array} input */
  run(input) {
    const out = [];
    while (this.pos < input.length) {
      const i = Math.floor(this.pos);
      const frac = this.pos - i;
      const a = i === 0 ? this.last : input[i - 1];
      const b = input[i];
      out.push(a + (b - a) * frac);
      this.pos += this.step;
    }
    this.pos -= input.length;
    if (input.length > 0) this.last = input[input.length - 1];
    return Float32Array.from(out);
  }
}

/**
 * One frame as mono f32 (channels averaged, as a "speakers" down-mix does).
 * @param {AudioData} frame
 */
function mono(frame) {
  const n = frame.numberOfFrames;
  const out = new Float32Array(n);
  const channels = frame.numberOfChannels;
  if (channels === 1) {
    frame.copyTo(out, { planeIndex: 0, format: 'f32-planar' });
    return out;
  }
  const plane = new Float32Array(n);
  for (let c = 0; c < channels; c++) {
    frame.copyTo(plane, { planeIndex: c, format: 'f32-planar' });
    for (let i = 0; i < n; i++) out[i] += plane[i];
  }
  for (let i = 0; i < n; i++) out[i] /= channels;
  return out;
}

/** Timeline position of a wall-clock instant. @param {number} ms */
const position = (ms) => Math.round(((ms - start) * RATE) / 1000);

/** @param {Track} t @param {Float32Array} pcm */
function arrive(t, pcm) {
  if (start < 0 || stopped) return; // before recording starts or after it ended
  if (t.next < 0) t.next = Math.max(mixed, position(now()));
  if (t.owed > 0) {
    // Positions went by silent while these frames were on their way: the track now plays that much
    // later.
    t.stats.late += t.owed;
    self.postMessage({ type: 'late-audio', uid: t.uid, frames: t.owed });
    t.owed = 0;
  }
  t.queue.push(pcm);
  t.queued += pcm.length;
  t.stats.frames += pcm.length;
}

/** Reads one track until it ends or the page drops it. @param {number} id @param {Track} t */
async function read(id, t) {
  try {
    for (;;) {
      const { value, done } = await t.reader.read();
      if (done) break;
      try {
        if (value.sampleRate !== RATE && !t.resampler) {
          log('warn', `track of ${t.uid} is at ${value.sampleRate} Hz; resampling it to ${RATE}`);
          t.resampler = new Resampler(value.sampleRate);
        }
        const pcm = mono(value);
        arrive(t, t.resampler ? t.resampler.run(pcm) : pcm);
      } finally {
        value.close();
      }
    }
  } catch (e) {
    log('warn', `reading the track of ${t.uid}: ${e}`);
  } finally {
    t.ended = true;
  }
}

/**
 * Takes `n` samples of `t` for positions starting at `from` into `out` (added), as far as they
 * have arrived; returns the end of what it filled (positions after it stay silent; for a live
 * track the frames, when they come, play that much later: nothing is dropped).
 * @param {Track} t @param {number} from @param {Float32Array} out @param {Float32Array} own the
 * track's own samples (for its speaker stream and level)
 */
function take(t, from, out, own) {
  const n = out.length;
  let i = Math.min(n, Math.max(0, t.next - from)); // the track starts later in this span
  while (i < n && t.queue.length > 0) {
    const c = t.queue[0];
    const k = Math.min(n - i, c.length - t.head);
    for (let j = 0; j < k; j++) out[i + j] += c[t.head + j];
    own.set(c.subarray(t.head, t.head + k), i);
    i += k;
    t.head += k;
    t.queued -= k;
    if (t.head === c.length) {
      t.queue.shift();
      t.head = 0;
    }
  }
  t.next = from + n; // what is missing plays later: nothing is dropped
  return i;
}

/** @param {number} kind @param {number} uid @param {string} key @param {number} frame @param {Float32Array} pcm */
function emit(kind, uid, key, frame, pcm) {
  const seq = seqs.get(key) || 0;
  seqs.set(key, seq + 1);
  const ab = new ArrayBuffer(HEADER + pcm.length * 4);
  const dv = new DataView(ab);
  dv.setUint8(0, 1);
  dv.setUint8(1, kind);
  dv.setUint32(4, uid >>> 0, true);
  dv.setUint32(8, seq, true);
  dv.setUint32(12, frame % 4294967296, true);
  dv.setUint32(16, Math.floor(frame / 4294967296), true);
  dv.setUint32(20, pcm.length, true);
  new Float32Array(ab, HEADER, pcm.length).set(pcm);
  self.postMessage(ab, [ab]);
}

/** Mixes every position up to `until` (exclusive) and sends the chunks. @param {number} until */
function mixTo(until) {
  while (mixed < until) {
    const n = Math.min(until - mixed, RATE); // a chunk holds at most one second
    const mix = new Float32Array(n);
    for (const [id, t] of tracks) {
      if (t.next < 0 || t.next >= mixed + n) {
        if (t.ended && t.queued === 0) finish(id, t);
        continue;
      }
      const own = new Float32Array(n);
      const from = t.next;
      const filled = take(t, mixed, mix, own);
      if (!t.ended) t.owed += n - filled;
      if (t.stats.minQueued < 0 || t.queued < t.stats.minQueued) t.stats.minQueued = t.queued;
      const skip = Math.max(0, from - mixed); // the track starts with its first frame
      // A track that ended stops where its audio does: a new track of the same uid may follow.
      const upto = t.ended ? Math.max(skip, filled) : n;
      if (t.speaker && upto > skip) emit(1, Number(t.uid), `s${t.uid}`, mixed + skip, own.subarray(skip, upto));
      measure(t.uid, own.subarray(skip, upto));
      if (t.ended && t.queued === 0) finish(id, t);
    }
    emit(0, 0, 'm', mixed, mix);
    mixed += n;
  }
}

/** @param {number | string} uid @param {Float32Array} pcm */
function measure(uid, pcm) {
  const e = energy.get(uid) || [0, 0];
  for (let i = 0; i < pcm.length; i++) e[0] += pcm[i] * pcm[i];
  e[1] += pcm.length;
  energy.set(uid, e);
}

/** @param {number} id @param {Track} t */
function finish(id, t) {
  tracks.delete(id);
  log('debug', `track ${id} of ${t.uid} done: ${JSON.stringify(t.stats)}`);
}

function tick() {
  if (start < 0 || stopped) return;
  const at = now();
  mixTo(position(Math.min(at - CUSHION_MS, stopping ? stopping.until : Infinity)));
  if (at - lastLevels >= LEVEL_EVERY_MS) {
    lastLevels = at;
    /** @type {Record<string, number>} */
    const levels = {};
    for (const t of tracks.values()) {
      const e = energy.get(t.uid);
      levels[String(t.uid)] = e && e[1] > 0 ? Math.sqrt(e[0] / e[1]) : 0;
    }
    energy.clear();
    if (Object.keys(levels).length > 0) self.postMessage({ type: 'levels', levels });
  }
  if (stopping && at - CUSHION_MS >= stopping.until) {
    mixTo(position(stopping.until));
    for (const [id, t] of tracks) log('debug', `track ${id} of ${t.uid} at stop: ${JSON.stringify(t.stats)}`);
    stopping = null;
    stopped = true;
    self.postMessage({ type: 'flushed' });
  }
}

setInterval(tick, TICK_MS);

self.onmessage = (e) => {
  const m = e.data;
  if (m.type === 'stall') {
    // A drill (tests): this thread stops for `ms`, as it would on an overloaded box.
    const until = performance.now() + m.ms;
    while (performance.now() < until);
  } else if (m.type === 'cushion') {
    if (typeof m.ms === 'number' && m.ms >= 0) CUSHION_MS = m.ms;
  } else if (m.type === 'start') {
    start = m.wallMs;
    mixed = 0;
  } else if (m.type === 'track') {
    /** @type {Track} */
    const t = {
      uid: m.uid,
      speaker: m.speaker,
      queue: [],
      head: 0,
      queued: 0,
      next: -1,
      ended: false,
      reader: m.readable.getReader(),
      resampler: null,
      owed: 0,
      stats: { frames: 0, late: 0, minQueued: -1 },
    };
    tracks.set(m.id, t);
    read(m.id, t);
  } else if (m.type === 'end') {
    const t = tracks.get(m.id);
    if (t) t.reader.cancel().catch(() => {});
  } else if (m.type === 'stop') {
    // Everything that arrived until now is mixed once the cushion has passed.
    if (start < 0 || stopped) {
      self.postMessage({ type: 'flushed' }); // nothing recorded, or already flushed
      return;
    }
    stopping = { until: now() };
    setTimeout(tick, CUSHION_MS + 1); // not the next tick: stop answers sooner
  }
};
