import type { RuntimeName } from '@floe/contracts';

/** The runtimes whose containers don't depend on the function (an image brings its own rootfs). */
export type SandboxRuntime = 'node' | 'python' | 'exec';
export const SANDBOX_RUNTIMES: SandboxRuntime[] = ['node', 'python', 'exec'];

export interface SandboxFactory<S> {
  /** Makes one sandbox of `runtime` up to its exec: everything but the runtime's own process. */
  prepare(id: string, runtime: SandboxRuntime): Promise<S>;
  /** Tears down a sandbox that was never started. */
  discard(sandbox: S): Promise<void>;
  error?(msg: string, err: unknown): void;
}

/**
 * The stock of prepared sandboxes: per runtime, containers made ahead up to the exec of the
 * runtime (rootfs snapshot mounted, cgroup created and attached, namespaces, mounts and
 * pivot_root done, floe-init waiting for its start byte). A cold start takes one and only
 * execs the runtime in it, so it pays none of that setup, and no v1 cgroup attach.
 *
 * Unlike a stemcell, no runtime runs in it: it costs a waiting floe-init and an empty writable
 * layer, not a Node or Python heap, and nothing of the function is in it until a start.
 */
export class Sandboxes<S> {
  private readonly stock = new Map<SandboxRuntime, S[]>();
  private readonly preparing = new Map<SandboxRuntime, number>();
  private seq = 0;
  private closed = false;
  private refilling?: Promise<void>;
  private again = false;

  constructor(
    private readonly factory: SandboxFactory<S>,
    private readonly targets: Partial<Record<SandboxRuntime, number>>,
    private readonly idPrefix: string,
  ) {}

  /** How many are ready now, per runtime. */
  count(runtime: SandboxRuntime): number {
    return this.stock.get(runtime)?.length ?? 0;
  }

  /** A ready sandbox of `runtime`, or none; the caller tops the stock up (`fill`) when it suits. */
  take(runtime: RuntimeName): S | undefined {
    if (this.closed || !isSandboxRuntime(runtime)) return undefined;
    return this.stock.get(runtime)?.shift();
  }

  /**
   * Tops every runtime up to its target, one sandbox at a time, so the agent's loop never does
   * several setups in a row while a call waits on it.
   */
  fill(): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (this.refilling) {
      this.again = true;
      return this.refilling;
    }
    this.refilling = this.refill().finally(() => {
      this.refilling = undefined;
      if (this.again && !this.closed) {
        this.again = false;
        void this.fill();
      }
    });
    return this.refilling;
  }

  private async refill(): Promise<void> {
    for (const runtime of SANDBOX_RUNTIMES) {
      const want = this.targets[runtime] ?? 0;
      while (!this.closed && this.count(runtime) + (this.preparing.get(runtime) ?? 0) < want) {
        this.preparing.set(runtime, (this.preparing.get(runtime) ?? 0) + 1);
        const id = `${this.idPrefix}-${runtime}-s${(++this.seq).toString(36)}-${Date.now().toString(36)}`;
        try {
          const s = await this.factory.prepare(id, runtime);
          if (this.closed) await this.factory.discard(s);
          else this.stock.set(runtime, [...(this.stock.get(runtime) ?? []), s]);
        } catch (err) {
          this.factory.error?.(`preparing a ${runtime} sandbox`, err);
          break;
        } finally {
          this.preparing.set(runtime, (this.preparing.get(runtime) ?? 1) - 1);
        }
      }
    }
  }

  /** Drops a sandbox found dead (its floe-init exited) from the stock. */
  remove(s: S): void {
    for (const list of this.stock.values()) {
      const i = list.indexOf(s);
      if (i >= 0) list.splice(i, 1);
    }
  }

  /** Stops refilling and tears every ready sandbox down. */
  async close(): Promise<void> {
    this.closed = true;
    await this.refilling?.catch(() => {});
    const all = [...this.stock.values()].flat();
    this.stock.clear();
    await Promise.all(
      all.map((s) => this.factory.discard(s).catch((e) => this.factory.error?.('discarding a sandbox', e))),
    );
  }
}

function isSandboxRuntime(r: RuntimeName): r is SandboxRuntime {
  return (SANDBOX_RUNTIMES as string[]).includes(r);
}
