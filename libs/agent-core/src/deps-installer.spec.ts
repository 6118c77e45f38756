import { describe, expect, it } from 'vitest';
import { CA_FILE, installerCommand, NPM_DIR, PY_TARGET, Tail } from './deps-installer.js';

const bins = { node: '/usr/bin/node', python: '/usr/bin/python3.11' };
const dirs = { npmDir: '/opt/npm', pipDir: '/opt/pip', caFile: '/etc/my-ca.pem' };

describe(installerCommand.name, () => {
  it('runs npm ci without dev dependencies or install scripts, against the configured registry', () => {
    const c = installerCommand('node', { ...dirs, npmRegistry: 'https://npm.example/' }, bins);
    expect(c.args.slice(0, 4)).toEqual(['/usr/bin/node', `${NPM_DIR}/bin/npm-cli.js`, 'ci', '--omit=dev']);
    expect(c.args).toContain('--ignore-scripts');
    expect(c.env).toContain('npm_config_registry=https://npm.example/');
    expect(c.env).toContain(`NODE_EXTRA_CA_CERTS=${CA_FILE}`);
    expect(c.binds).toEqual([
      { source: '/opt/npm', destination: NPM_DIR },
      { source: '/etc/my-ca.pem', destination: CA_FILE },
    ]);
    expect(c).toMatchObject({ output: 'node_modules', outputName: 'node_modules', label: 'npm ci' });
  });

  it('leaves npm on its default registry when none is configured', () => {
    expect(installerCommand('node', dirs, bins).env.some((e) => e.startsWith('npm_config_registry='))).toBe(
      false,
    );
  });

  it('pip-installs requirements.txt into a target dir, trusting a plain-http index the operator named', () => {
    const c = installerCommand('python', { ...dirs, pipIndexUrl: 'http://10.89.0.1:8000/simple/' }, bins);
    expect(c.args).toEqual(
      expect.arrayContaining([
        '-m',
        'pip',
        'install',
        '--target',
        `/build/${PY_TARGET}`,
        '-r',
        '/build/requirements.txt',
      ]),
    );
    const i = c.args.indexOf('--index-url');
    expect(c.args.slice(i, i + 4)).toEqual([
      '--index-url',
      'http://10.89.0.1:8000/simple/',
      '--trusted-host',
      '10.89.0.1',
    ]);
    expect(c.output).toBe(PY_TARGET);
    expect(c.outputName).toBeUndefined();
  });

  it('does not add --trusted-host for an https index', () => {
    const c = installerCommand('python', { ...dirs, pipIndexUrl: 'https://pypi.example/simple/' }, bins);
    expect(c.args).not.toContain('--trusted-host');
  });
});

describe(Tail.name, () => {
  it('keeps the last n non-empty lines', () => {
    const t = new Tail(2);
    for (const l of ['a', '', 'b', '  ', 'c']) t.push(l);
    expect(t.text()).toBe('b\nc');
  });
});
