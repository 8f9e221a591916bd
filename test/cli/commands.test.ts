import { strict as assert } from 'node:assert';
import { parseClientCommand, parseNodeCommand } from '../../src/cli/commands';
import { configFromIni, ConfigError } from '../../src/config';
import { parseArgs, UsageError } from '../../src/cli/args';

describe('cli: console commands', () => {
  it('parses the spec\'s node commands, case-insensitively, with parentheses or spaces', () => {
    assert.deepEqual(parseNodeCommand('failLink(P1,P2)'), { ok: true, value: { cmd: 'failLink', a: 'P1', b: 'P2' } });
    assert.deepEqual(parseNodeCommand('  FIXLINK p1 p3 '), { ok: true, value: { cmd: 'fixLink', a: 'P1', b: 'P3' } });
    assert.deepEqual(parseNodeCommand('failLink( P1 , P2 )'), { ok: true, value: { cmd: 'failLink', a: 'P1', b: 'P2' } });
    for (const [line, cmd] of [['failProcess', 'failProcess'], ['printblockchain', 'printBlockchain'], ['printKVStore()', 'printKVStore'], ['PrintQueue', 'printQueue'], ['status', 'status']]) {
      assert.deepEqual(parseNodeCommand(line), { ok: true, value: { cmd } }, line);
    }
  });

  it('explains bad node commands', () => {
    const cases: [string, RegExp][] = [
      ['fly', /unknown command "fly"/], ['failLink(P1)', /needs two nodes/], ['failLink(P1,banana)', /not a process name/],
      ['failLink(P1,P1)', /two different/], ['printQueue now', /takes no arguments/], ['Operation(get, k)', /client console/],
    ];
    for (const [line, re] of cases) {
      const p = parseNodeCommand(line);
      assert.equal(p.ok, false, line);
      if (!p.ok) assert.match(p.error, re, line);
    }
  });

  it('parses Operation(...) with JSON values containing commas and parentheses, and the short forms', () => {
    assert.deepEqual(parseClientCommand('Operation(put, alice_netid, {"phone_number":"111-222-3333","x":[1,2]})'), { ok: true, value: { cmd: 'put', key: 'alice_netid', value: '{"phone_number":"111-222-3333","x":[1,2]}' } });
    assert.deepEqual(parseClientCommand('operation(GET, alice_netid)'), { ok: true, value: { cmd: 'get', key: 'alice_netid' } });
    assert.deepEqual(parseClientCommand('put k {"a":"(b)"}'), { ok: true, value: { cmd: 'put', key: 'k', value: '{"a":"(b)"}' } });
    assert.deepEqual(parseClientCommand('get k'), { ok: true, value: { cmd: 'get', key: 'k' } });
  });

  it('explains bad client commands', () => {
    const cases: [string, RegExp][] = [
      ['Operation(put, k, {bad json})', /not valid JSON/], ['Operation(delete, k)', /unknown operation/], ['Operation(put k)', /at least an op and a key/],
      ['Operation put', /malformed Operation/], ['put k', /needs a JSON value/], ['get k extra', /only a key/], ['hello', /unknown command/],
      ['get a,b', /invalid key|only a key/],
    ];
    for (const [line, re] of cases) {
      const p = parseClientCommand(line);
      assert.equal(p.ok, false, line);
      if (!p.ok) assert.match(p.error, re, line);
    }
  });
});

describe('cli: console mistakes from issue #16', () => {
  it('put/get without a key, JSON where the key belongs, quoted and empty keys', () => {
    const bad: [string, RegExp][] = [
      ['put', /^put needs a key and a JSON value: put KEY JSON$/], ['GET', /^get needs a key: get KEY$/],
      ['put  {"a":1}', /^put needs a key before the value: put KEY JSON/], ['get {"a":1}', /needs a key before the value/],
      ['get ""', /^the key is empty/], ['Operation(get, "")', /^the key is empty/], ['Operation(put, , {"a":1})', /^put needs a key/],
      ['get "a b"', /invalid key/], ['get a"b', /invalid key/],
    ];
    for (const [line, re] of bad) {
      const p = parseClientCommand(line);
      assert.equal(p.ok, false, line);
      if (!p.ok) assert.match(p.error, re, line);
    }
    assert.deepEqual(parseClientCommand('get "alice"'), { ok: true, value: { cmd: 'get', key: 'alice' } });
    assert.deepEqual(parseClientCommand('Operation(put, "k", {"a":1})'), { ok: true, value: { cmd: 'put', key: 'k', value: '{"a":1}' } });
  });
});

describe('cli: config and arguments', () => {
  it('reads nodes.ini sections, and rejects malformed files with the line number', () => {
    const c = configFromIni('[network]\ndelay_ms = 50\n[P1]\nhost = 127.0.0.1\nport = 7001\n[P2]\nport=7002\n[C1]\nport = 7101\n', 'x.ini');
    assert.equal(c.delayMs, 50);
    assert.deepEqual(c.nodes.map((n) => `${n.name}@${n.port}`), ['P1@7001', 'P2@7002']);
    assert.deepEqual(c.clients.map((n) => n.name), ['C1']);
    assert.throws(() => configFromIni('[P1]\nport = 7001\nnonsense\n', 'x.ini'), (e: Error) => e instanceof ConfigError && /x.ini:3/.test(e.message));
    assert.throws(() => configFromIni('[P1]\nport = 99999\n', 'x.ini'), /port/);
    assert.throws(() => configFromIni('[P2]\nport = 7002\n', 'x.ini'), /P1\.\.P1/);
  });

  it('parses options strictly', () => {
    const specs = [{ name: 'delay-ms', type: 'int' as const, help: '' }, { name: 'quiet', type: 'flag' as const, help: '' }];
    const p = parseArgs(['2', '--delay-ms', '0', '--quiet'], specs);
    assert.deepEqual(p.positional, ['2']);
    assert.equal(p.values.get('delay-ms'), 0);
    assert.throws(() => parseArgs(['--delay-ms', 'soon'], specs), UsageError);
    assert.throws(() => parseArgs(['--nope'], specs), /unknown option --nope/);
    assert.throws(() => parseArgs(['--delay-ms'], specs), /needs a value/);
  });
});

describe('cli: entry points', () => {
  it('npm run node passes the same V8 flags the tools use to start nodes', async () => {
    const { NODE_V8_FLAGS, nodeCommand } = await import('../../src/cli/entry-points');
    const pkg = JSON.parse(require('node:fs').readFileSync(require('node:path').join(__dirname, '..', '..', '..', 'package.json'), 'utf8'));
    for (const f of NODE_V8_FLAGS) assert.ok(pkg.scripts.node.includes(f), `package.json "node" script lacks ${f}`);
    assert.deepEqual(nodeCommand(2, ['--quiet']).slice(-2), ['2', '--quiet']);
  });
});
