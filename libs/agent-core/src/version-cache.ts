import { type AgentInvokeWire, FloeError, type FunctionVersion } from '@floe/contracts';

/**
 * The versions this agent was sent whole on its invoke fast path, by ref, so later calls
 * can name them instead of carrying ~0.7 KB of JSON each (AgentInvokeClient is the other
 * end). Bounded; the oldest goes first, and a caller whose ref was dropped resends it whole.
 */
export class VersionCache {
  private readonly byRef = new Map<string, FunctionVersion>();

  constructor(private readonly max = 1024) {}

  resolve(wire: AgentInvokeWire): FunctionVersion {
    if (wire.version) {
      if (wire.ref && !this.byRef.has(wire.ref)) {
        if (this.byRef.size >= this.max) this.byRef.delete(this.byRef.keys().next().value as string);
        this.byRef.set(wire.ref, wire.version);
      }
      return wire.version;
    }
    const v = wire.ref === undefined ? undefined : this.byRef.get(wire.ref);
    if (v) return v;
    throw new FloeError(
      'FAILED_PRECONDITION',
      wire.ref === undefined
        ? 'agent.invoke: the request carries neither version nor ref'
        : `agent.invoke: version ${wire.ref} is not cached on this agent; send it whole`,
      { details: { versionUnknown: wire.ref ?? '' } },
    );
  }

  get size(): number {
    return this.byRef.size;
  }
}
