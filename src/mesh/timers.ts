/**
 * The per-peer timer state machine (reference §8, the kernel's timers.c). Timers are lazy: arming
 * one on every packet only moves a deadline, and the underlying setTimeout is re-armed when it
 * fires early or the new deadline is sooner, so the hot path does not churn Node's timer lists.
 */
import { randomInt } from 'node:crypto';
import {
  KEEPALIVE_TIMEOUT_MS, MAX_TIMER_HANDSHAKES, REJECT_AFTER_TIME_MS, REKEY_TIMEOUT_JITTER_MS, REKEY_TIMEOUT_MS,
} from './messages.js';

export class Timer {
  private handle?: NodeJS.Timeout;
  private handleAt = 0;
  private deadline?: number;

  constructor(private readonly fire: () => void, private readonly clock: () => number = () => performance.now()) {}

  get pending(): boolean {
    return this.deadline !== undefined;
  }

  mod(delayMs: number): void {
    const deadline = this.clock() + delayMs;
    this.deadline = deadline;
    if (this.handle === undefined || this.handleAt > deadline) this.arm(deadline);
  }

  del(): void {
    this.deadline = undefined;
  }

  stop(): void {
    this.deadline = undefined;
    if (this.handle !== undefined) clearTimeout(this.handle);
    this.handle = undefined;
  }

  private arm(at: number): void {
    if (this.handle !== undefined) clearTimeout(this.handle);
    this.handleAt = at;
    this.handle = setTimeout(() => this.onHandle(), Math.max(0, at - this.clock()));
  }

  private onHandle(): void {
    this.handle = undefined;
    if (this.deadline === undefined) return;
    const now = this.clock();
    if (this.deadline > now + 1) {
      this.arm(this.deadline);
      return;
    }
    this.deadline = undefined;
    this.fire();
  }
}

export function jitter(): number {
  return randomInt(REKEY_TIMEOUT_JITTER_MS);
}

/** What the timers ask the device to do. */
export interface TimerActions {
  sendInitiation(isRetry: boolean): void;
  sendKeepalive(): void;
  dropStaged(): void;
  clearEndpointSource(): void;
  zeroKeyMaterial(): void;
  log(message: string): void;
}

export class PeerTimers {
  handshakeAttempts = 0;
  needAnotherKeepalive = false;
  /** Wall-clock ms of the last completed handshake; 0 = never. */
  lastHandshakeWallMs = 0;
  persistentKeepaliveSeconds = 0;
  running = true;

  readonly retransmitHandshake: Timer;
  readonly sendKeepalive: Timer;
  readonly newHandshake: Timer;
  readonly zeroKeys: Timer;
  readonly persistentKeepalive: Timer;

  constructor(private readonly actions: TimerActions) {
    this.retransmitHandshake = new Timer(() => this.onRetransmitHandshake());
    this.sendKeepalive = new Timer(() => this.onSendKeepalive());
    this.newHandshake = new Timer(() => this.onNewHandshake());
    this.zeroKeys = new Timer(() => this.running && this.actions.zeroKeyMaterial());
    this.persistentKeepalive = new Timer(() => {
      if (this.running && this.persistentKeepaliveSeconds > 0) this.actions.sendKeepalive();
    });
  }

  private onRetransmitHandshake(): void {
    if (!this.running) return;
    if (this.handshakeAttempts > MAX_TIMER_HANDSHAKES) {
      this.actions.log(`handshake did not complete after ${MAX_TIMER_HANDSHAKES + 2} attempts, giving up`);
      this.sendKeepalive.del();
      this.actions.dropStaged();
      if (!this.zeroKeys.pending) this.zeroKeys.mod(REJECT_AFTER_TIME_MS * 3);
      return;
    }
    this.handshakeAttempts += 1;
    this.actions.log(`handshake did not complete after ${REKEY_TIMEOUT_MS / 1000} seconds, retrying (try ${this.handshakeAttempts + 1})`);
    this.actions.clearEndpointSource();
    this.actions.sendInitiation(true);
  }

  private onSendKeepalive(): void {
    if (!this.running) return;
    this.actions.sendKeepalive();
    if (this.needAnotherKeepalive) {
      this.needAnotherKeepalive = false;
      this.sendKeepalive.mod(KEEPALIVE_TIMEOUT_MS);
    }
  }

  private onNewHandshake(): void {
    if (!this.running) return;
    this.actions.log(`no reply for ${(KEEPALIVE_TIMEOUT_MS + REKEY_TIMEOUT_MS) / 1000} seconds after sending data, new handshake`);
    this.actions.clearEndpointSource();
    this.actions.sendInitiation(false);
  }

  /** Data (not a keepalive) went out. */
  dataSent(): void {
    if (!this.newHandshake.pending) this.newHandshake.mod(KEEPALIVE_TIMEOUT_MS + REKEY_TIMEOUT_MS + jitter());
  }

  /** Data (not a keepalive) came in. */
  dataReceived(): void {
    if (!this.sendKeepalive.pending) this.sendKeepalive.mod(KEEPALIVE_TIMEOUT_MS);
    else this.needAnotherKeepalive = true;
  }

  anyAuthenticatedPacketSent(): void {
    this.sendKeepalive.del();
  }

  anyAuthenticatedPacketReceived(): void {
    this.newHandshake.del();
  }

  handshakeInitiated(): void {
    this.retransmitHandshake.mod(REKEY_TIMEOUT_MS + jitter());
  }

  handshakeComplete(): void {
    this.retransmitHandshake.del();
    this.handshakeAttempts = 0;
    this.lastHandshakeWallMs = Date.now();
  }

  sessionDerived(): void {
    this.zeroKeys.mod(REJECT_AFTER_TIME_MS * 3);
  }

  anyAuthenticatedPacketTraversal(): void {
    if (this.persistentKeepaliveSeconds > 0) this.persistentKeepalive.mod(this.persistentKeepaliveSeconds * 1000);
  }

  stopAll(): void {
    this.running = false;
    for (const timer of [this.retransmitHandshake, this.sendKeepalive, this.newHandshake, this.zeroKeys, this.persistentKeepalive]) timer.stop();
  }
}
