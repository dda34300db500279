'use strict';
// The start-up and shutdown contract of proto/PROTOCOL.md (§3 to §6 and §11), for any
// Node.js plugin: cookie check, version negotiation, the socket, health, reflection,
// ControllerService, the handshake line, and dying with the host. It knows nothing of
// the plugin's components: main.js hands it the PluginService implementation.

const fs = require('node:fs');
const path = require('node:path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const { HealthImplementation } = require('grpc-health-check');
const { ReflectionService } = require('@grpc/reflection');

const MAGIC_COOKIE_KEY = 'AGENTHOST_PLUGIN_MAGIC_COOKIE';
const MAGIC_COOKIE_VALUE = '5b0d6c3e9a1f4e7d8c2b';
const CORE_VERSION = 1;
const APP_VERSIONS = [1]; // the agenthost.v1 contracts this plugin speaks
const STOP_GRACE_MS = 2000; // in-flight calls get this long once a stop begins
const HOST_GONE_EXIT_MS = 2500; // after stdin EOF: exit even if a graceful stop is stuck

// The protos ship inside the package (proto/agenthost/v1/*.proto next to this folder).
const PROTO_ROOT = path.join(__dirname, '..', 'proto');
const packageDefinition = protoLoader.loadSync(
  ['agenthost/v1/plugin.proto', 'agenthost/v1/runtime.proto', 'agenthost/v1/controller.proto'],
  // keepCase: field names as in the .proto (room_id, not roomId); defaults: absent scalars
  // read as proto3 defaults; oneofs: the set member of a oneof is named in a virtual field.
  { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true, includeDirs: [PROTO_ROOT] },
);
const v1 = grpc.loadPackageDefinition(packageDefinition).agenthost.v1;

// Every log line is one JSON object on stderr (§10). A write to a pipe whose reader is gone
// (the host died) fails with EPIPE: swallow it, so a clean exit stays a clean exit.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err) => {
    if (err.code !== 'EPIPE') throw err;
  });
}

function log(level, msg, extra = {}) {
  try {
    process.stderr.write(JSON.stringify({ level, msg, ...extra }) + '\n');
  } catch {
    // stderr is gone with the host: nothing left to tell
  }
}

function refuse(message) {
  process.stderr.write(message + '\n', () => process.exit(1));
}

// §3 step 1 and 2: returns the app version, or exits 1 with one line on stderr.
function startChecks(name) {
  if (process.env[MAGIC_COOKIE_KEY] !== MAGIC_COOKIE_VALUE) {
    refuse(
      'This is an agenthost plugin, not a program: the agenthost host starts it. ' +
        'Install its package and run `agenthost plugins load NAME`.',
    );
    return null;
  }
  const raw = process.env.AGENTHOST_PLUGIN_PROTOCOL_VERSIONS || '';
  const items = raw.split(',').map((s) => s.trim()).filter((s) => s !== '');
  const offered = items.every((s) => /^\d+$/.test(s)) ? items.map(Number) : [];
  const common = APP_VERSIONS.filter((v) => offered.includes(v));
  if (common.length === 0) {
    refuse(
      `agenthost plugin ${name}: no common protocol version: ` +
        `host speaks [${items.join(', ')}], plugin speaks [${APP_VERSIONS.join(', ')}]`,
    );
    return null;
  }
  return Math.max(...common);
}

// Serve `pluginService` (the PluginService implementation) until Shutdown, SIGTERM/SIGINT or
// stdin EOF; `onStop` runs first on the way out (stop services, close the runtime client).
function serve(name, pluginService, onStop = async () => {}) {
  const appVersion = startChecks(name);
  if (appVersion === null) return;
  if (process.env.AGENTHOST_PLUGIN_LISTEN) {
    // The remote mode of §14 (TCP with mutual TLS) is left out of this example.
    refuse(`agenthost plugin ${name}: AGENTHOST_PLUGIN_LISTEN is set, but this plugin serves only on a unix socket`);
    return;
  }
  const socketDir = process.env.AGENTHOST_PLUGIN_SOCKET_DIR || '';
  if (!socketDir || !fs.existsSync(socketDir) || !fs.statSync(socketDir).isDirectory()) {
    refuse(`agenthost plugin ${name}: AGENTHOST_PLUGIN_SOCKET_DIR must name an existing directory (got '${socketDir}')`);
    return;
  }
  const socketPath = path.join(socketDir, `${name}-${process.pid}.sock`);

  const server = new grpc.Server();
  const health = new HealthImplementation({ '': 'SERVING', 'agenthost.v1.PluginService': 'SERVING' });
  let stopping = null;
  let hostGone = false;

  function stop(reason) {
    if (stopping) return stopping;
    log('info', `stopping: ${reason}`);
    health.setStatus('', 'NOT_SERVING');
    health.setStatus('agenthost.v1.PluginService', 'NOT_SERVING');
    stopping = (async () => {
      await Promise.race([onStop().catch((err) => log('warn', `stop failed: ${err}`)), sleep(STOP_GRACE_MS)]);
      await new Promise((resolve) => {
        const force = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, STOP_GRACE_MS);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
      removeSocket(socketPath, hostGone);
      process.exit(0);
    })();
    return stopping;
  }

  server.addService(v1.PluginService.service, pluginService);
  server.addService(v1.ControllerService.service, {
    // Reply first, then stop (§6).
    Shutdown(call, callback) {
      callback(null, {});
      setImmediate(() => stop('Shutdown'));
    },
  });
  health.addToServer(server);
  new ReflectionService(packageDefinition).addToServer(server);

  server.bindAsync(`unix://${socketPath}`, grpc.ServerCredentials.createInsecure(), (err) => {
    if (err) {
      refuse(`agenthost plugin ${name}: cannot serve on ${socketPath}: ${err.message}`);
      return;
    }
    // Serving and healthy before the handshake (§3 step 3); nothing was written on stdout yet.
    process.stdout.write(`${CORE_VERSION}|${appVersion}|unix|${socketPath}|grpc|\n`);
    for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => stop(signal));
    // Node cannot call prctl(PR_SET_PDEATHSIG) without a native addon; stdin EOF is the
    // signal that the host is gone, however it died (§11).
    process.stdin.on('data', () => {});
    process.stdin.on('error', () => {});
    process.stdin.on('end', () => {
      hostGone = true;
      setTimeout(() => {
        removeSocket(socketPath, true);
        process.exit(0);
      }, HOST_GONE_EXIT_MS).unref();
      stop('the host closed stdin');
    });
    process.stdin.resume();
  });
}

// Remove our socket; a dead host cannot clean up, so the last plugin out removes the host's
// host.sock and the socket directory too (§11).
function removeSocket(socketPath, hostGone) {
  try {
    fs.unlinkSync(socketPath);
  } catch {
    // already gone
  }
  if (!hostGone) return;
  const dir = path.dirname(socketPath);
  try {
    fs.unlinkSync(path.join(dir, 'host.sock'));
  } catch {
    // not there
  }
  try {
    fs.rmdirSync(dir);
  } catch {
    // another plugin's socket is still there
  }
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

module.exports = { grpc, v1, log, serve };
