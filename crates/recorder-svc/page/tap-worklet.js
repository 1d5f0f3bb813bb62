// The recorder's audio tap (an AudioWorkletProcessor). It sends the PCM it hears, in numbered
// chunks that carry the AudioContext's frame counter, to the page, which forwards them to the
// recorder. Chunk format (little-endian): u8 version=1, u8 kind (0 mix, 1 speaker), u16 0,
// u32 uid, u32 seq, u64 frame, u32 frames, then frames × f32. See src/audio/protocol.rs.
const CHUNK_FRAMES = 2048;
const HEADER = 24;

class MemharborTap extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const o = (options && options.processorOptions) || {};
    this.kind = o.kind | 0;
    this.uid = o.uid >>> 0;
    this.buf = new Float32Array(CHUNK_FRAMES);
    this.fill = 0;
    this.chunkStart = 0;
    this.startFrame = -1; // not capturing until told where to start
    this.next = -1;
    this.seq = 0;
    this.done = false;
    this.port.onmessage = (e) => {
      const m = e.data;
      if (m.type === 'start') {
        this.startFrame = m.frame;
      } else if (m.type === 'flush') {
        this.emit();
        this.port.postMessage({ type: 'flushed' });
        if (m.final) this.done = true;
      }
    };
  }

  emit() {
    if (this.fill === 0) return;
    const ab = new ArrayBuffer(HEADER + this.fill * 4);
    const dv = new DataView(ab);
    dv.setUint8(0, 1);
    dv.setUint8(1, this.kind);
    dv.setUint32(4, this.uid, true);
    dv.setUint32(8, this.seq, true);
    dv.setUint32(12, this.chunkStart % 4294967296, true);
    dv.setUint32(16, Math.floor(this.chunkStart / 4294967296), true);
    dv.setUint32(20, this.fill, true);
    new Float32Array(ab, HEADER, this.fill).set(this.buf.subarray(0, this.fill));
    this.port.postMessage(ab, [ab]);
    this.seq += 1;
    this.fill = 0;
  }

  process(inputs) {
    if (this.done) return false;
    if (this.startFrame < 0) return true;
    const input = inputs[0];
    const ch = input && input.length > 0 ? input[0] : null;
    const n = ch ? ch.length : 128;
    const frame0 = currentFrame;
    // A skipped render quantum: close the chunk so every chunk is contiguous.
    if (this.fill > 0 && frame0 !== this.next) this.emit();
    for (let i = 0; i < n; i++) {
      const f = frame0 + i;
      if (f < this.startFrame) continue;
      if (this.fill === 0) this.chunkStart = f;
      this.buf[this.fill++] = ch ? ch[i] : 0;
      if (this.fill === CHUNK_FRAMES) this.emit();
    }
    this.next = frame0 + n;
    return true;
  }
}

registerProcessor('memharbor-tap', MemharborTap);
