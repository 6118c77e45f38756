/**
 * How many instances each agent should keep so that `desired` remain in all: the surplus is
 * taken one at a time from the agent holding the most, so the instances left stay spread.
 * Only agents that should lose some are in the answer.
 */
export function scaleInTargets(
  agents: readonly { id: string; instances: number }[],
  desired: number,
): Map<string, number> {
  const keep = new Map(agents.map((a) => [a.id, a.instances]));
  let surplus = agents.reduce((n, a) => n + a.instances, 0) - Math.max(0, desired);
  while (surplus > 0) {
    let most: string | undefined;
    for (const [id, n] of keep) if (n > 0 && (most === undefined || n > (keep.get(most) ?? 0))) most = id;
    if (most === undefined) break;
    keep.set(most, (keep.get(most) ?? 0) - 1);
    surplus--;
  }
  return new Map([...keep].filter(([id, n]) => n < (agents.find((a) => a.id === id)?.instances ?? 0)));
}
