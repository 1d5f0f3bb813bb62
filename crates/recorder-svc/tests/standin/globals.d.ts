// Global declarations shared by the stand-in, its self-check page and (later) the production page.
// The real UMD bundle sets `globalThis.AgoraRTC`; the package's d.ts has no `export as namespace`,
// so the global is declared here. `__standin` exists only on the stand-in (tests only).
import type { IAgoraRTC, UID } from "agora-rtc-sdk-ng";

declare global {
  interface Window {
    /** The recorder page's key, set by the recorder before the page's first script runs. */
    __memharborKey?: string;
  }

  /** One participant scripted by the stand-in. Times are ms after `join()` resolves. */
  interface StandinParticipant {
    uid: UID;
    /** <= 0: already in the channel when the bot joins. Default 0. */
    joinAt?: number;
    /** null/absent: never publishes audio. <= 0 (with joinAt <= 0): already publishing at join. */
    publishAt?: number | null;
    unpublishAt?: number | null;
    leaveAt?: number | null;
    /** user-left reason; default "Quit". */
    leaveReason?: string;
    /** Audio is on exactly during these segments (ms after join resolves), silent otherwise. */
    speech?: { from: number; to: number }[];
    /** Speech during the first `onMs` of every `periodMs` of the Unix clock, for `forMs`. */
    wallBeats?: { periodMs: number; onMs: number; forMs: number };
    audio?:
      | { type: "tone"; frequency?: number; gain?: number }
      | { type: "wav"; dataUrl: string; gain?: number };
  }

  interface StandinEvent {
    at: number;
    type: "token-privilege-will-expire" | "token-privilege-did-expire" | "connection-state-change" | "exception";
    /** connection-state-change only. */
    state?: "DISCONNECTED" | "CONNECTING" | "RECONNECTING" | "CONNECTED" | "DISCONNECTING";
    /** connection-state-change to DISCONNECTED only, e.g. "NETWORK_ERROR", "UID_BANNED". */
    reason?: string;
    /** exception only. */
    code?: number;
    msg?: string;
    uid?: UID;
  }

  /**
   * Callers mode: participants' audio is sent from the callers page, in another browser, through
   * the test kit's signalling relay at `url` (memharbor-testkit src/callers.rs).
   */
  interface StandinCallers {
    url: string;
  }

  /** One subscription as the relay pairs it: a recorder page receives, the callers page sends. */
  interface StandinLink {
    id: number;
    channel: string;
    uid: UID;
    participant: StandinParticipant;
    /** Unix ms of the recorder's time 0 (its join resolved): the script's times count from it. */
    wall0: number;
  }

  /** The relay's change feed (`GET /links/changes?after=seq`): links opened and closed since. */
  interface StandinLinkChanges {
    seq: number;
    opened: StandinLink[];
    closed: number[];
  }

  interface StandinChannel {
    /** Callers mode for this channel only (else the scenario's `callers`). */
    callers?: StandinCallers;
    joinDelayMs?: number;
    joinError?: { code: string; message: string; data?: unknown } | null;
    joinHang?: boolean;
    participants?: StandinParticipant[];
    events?: StandinEvent[];
  }

  interface StandinConfig {
    channels?: { [channelOrStar: string]: StandinChannel };
    /** Timeout for the connection behind subscribe(). Default 5000 ms. */
    subscribeTimeoutMs?: number;
    /** Callers mode for every channel; absent: each sender runs in the recorder's own page. */
    callers?: StandinCallers;
  }

  interface StandinLogEntry {
    /** performance.now() in the page */
    t: number;
    call: string;
    args: unknown[];
  }

  interface StandinEmitted {
    t: number;
    event: string;
    /** JSON-friendly copy: remote users appear as their uid. */
    args: unknown[];
  }

  interface AgoraStandinControl {
    configure(config: StandinConfig): void;
    readonly config: StandinConfig;
    /** join/leave/subscribe/unsubscribe/renewToken/setClientRole/createClient calls. */
    readonly log: StandinLogEntry[];
    /** Every event the stand-in emitted on any client, in order. */
    readonly emitted: StandinEmitted[];
    readonly renewedTokens: string[];
    /** performance.now() when the last successful join resolved (the scenario's time 0). */
    readonly joinedAt: number | null;
    /** The callers page's role (callers mode): sends every link the relay at `relayUrl` hands out. */
    serveCallers(relayUrl: string): Promise<void>;
  }

  // eslint-disable-next-line no-var
  var AgoraRTC: IAgoraRTC & { __standin: AgoraStandinControl };
}
export {};
