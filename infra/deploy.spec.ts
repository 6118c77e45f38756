import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';

// The deployment files hand every service the cluster CA and the secrets it needs, and fence
// the internal ports: what a multi-host Floe needs for issue #16's lock-down to hold.
const here = import.meta.dirname;
const read = (p: string) => readFileSync(path.join(here, p), 'utf8');

type K8s = any;
function manifests(): K8s[] {
  const kustomization = parseAllDocuments(read('k8s/kustomization.yaml'))[0]?.toJS();
  return (kustomization.resources as string[]).flatMap((f) =>
    parseAllDocuments(read(`k8s/${f}`)).map((d) => d.toJS()),
  );
}
const all = manifests();
const find = (kind: string, name: string) => all.find((m) => m.kind === kind && m.metadata?.name === name);
const workloads = {
  scheduler: find('Deployment', 'floe-scheduler'),
  gateway: find('Deployment', 'floe-gateway'),
  agent: find('DaemonSet', 'floe-node-agent'),
};
const appOf = (w: K8s) => w.spec.template.metadata.labels.app as string;
const container = (w: K8s) => w.spec.template.spec.containers[0];
const envOf = (w: K8s) => Object.fromEntries(container(w).env.map((e: K8s) => [e.name, e]));
const configMap = find('ConfigMap', 'floe');

/** The ports of `target`'s pods that pods labelled `from` may reach, per its NetworkPolicy. */
function allowed(target: K8s, from: string): number[] {
  const policy = all.find(
    (m) => m.kind === 'NetworkPolicy' && m.spec.podSelector.matchLabels?.app === appOf(target),
  );
  if (!policy) return ['any'] as never;
  return policy.spec.ingress
    .filter((rule: K8s) => !rule.from || rule.from.some((f: K8s) => f.podSelector?.matchLabels?.app === from))
    .flatMap((rule: K8s) => rule.ports.map((p: K8s) => p.port))
    .sort();
}

describe('k8s manifests', () => {
  it('mount the cluster CA Secret in every Floe workload, at FLOE_CA_DIR', () => {
    expect(configMap.data.FLOE_CA_DIR).toBe('/etc/floe/ca');
    for (const w of Object.values(workloads)) {
      const volume = w.spec.template.spec.volumes.find(
        (v: K8s) => v.secret?.secretName === 'floe-cluster-ca',
      );
      expect(volume, appOf(w)).toBeDefined();
      expect(volume.secret.defaultMode).toBe(0o400); // 256 in the YAML: YAML 1.2 reads 0400 as four hundred;
      const mount = container(w).volumeMounts.find((m: K8s) => m.name === volume.name);
      expect(mount).toMatchObject({ mountPath: '/etc/floe/ca', readOnly: true });
    }
  });

  it('take REDIS_URL (with its password) and the secrets key from Secrets, not the ConfigMap', () => {
    expect(configMap.data.REDIS_URL).toBeUndefined();
    for (const w of [workloads.scheduler, workloads.agent])
      expect(envOf(w).REDIS_URL.valueFrom.secretKeyRef).toEqual({ name: 'floe-redis', key: 'url' });
    const keyFile = envOf(workloads.scheduler).FLOE_SECRETS_KEY_FILE.value as string;
    const mount = container(workloads.scheduler).volumeMounts.find((m: K8s) =>
      keyFile.startsWith(`${m.mountPath}/`),
    );
    const volume = workloads.scheduler.spec.template.spec.volumes.find((v: K8s) => v.name === mount?.name);
    expect(volume?.secret.secretName).toBe('floe-secrets-key');
  });

  it('let only gateways (and agents, for secret values) reach the scheduler; schedulers reach the agents, gateways only their invoke port', () => {
    const { scheduler, gateway, agent } = workloads;
    expect(allowed(scheduler, appOf(gateway))).toEqual([7001, 7002, 7003]);
    expect(allowed(scheduler, appOf(agent))).toEqual([7001, 7002]);
    expect(allowed(scheduler, 'some-other-pod')).toEqual([7002]); // /healthz, /metrics
    expect(allowed(agent, appOf(scheduler))).toEqual([7101, 7102, 7201]);
    expect(allowed(agent, appOf(gateway))).toEqual([7102, 7201]); // the direct route
    expect(allowed(agent, 'some-other-pod')).toEqual([7102]);
  });
});

describe('systemd units', () => {
  const unit = (name: string) => read(`systemd/${name}.service`);

  it('load the cluster CA as a credential private to each service, and point FLOE_CA_DIR at it', () => {
    for (const name of ['floe-scheduler', 'floe-gateway', 'floe-node-agent']) {
      const text = unit(name);
      expect(text, name).toContain('LoadCredential=cert.pem:/etc/floe/ca/cert.pem');
      expect(text, name).toContain('LoadCredential=key.pem:/etc/floe/ca/key.pem');
      expect(text, name).toContain('Environment=FLOE_CA_DIR=%d');
    }
    expect(unit('floe-scheduler')).toContain('Environment=FLOE_SECRETS_KEY_FILE=%d/secrets.key');
  });

  it('floe.env.example sets neither FLOE_CA_DIR nor FLOE_SECRETS_KEY_FILE (an EnvironmentFile would override the credential paths)', () => {
    const active = read('systemd/floe.env.example')
      .split('\n')
      .filter((l) => l.trim() && !l.startsWith('#'));
    expect(active.filter((l) => /^(FLOE_CA_DIR|FLOE_SECRETS_KEY_FILE)=/.test(l))).toEqual([]);
    expect(active.find((l) => l.startsWith('REDIS_URL='))).toMatch(/^REDIS_URL=rediss?:\/\/[^@]+:[^@]+@/);
  });
});
