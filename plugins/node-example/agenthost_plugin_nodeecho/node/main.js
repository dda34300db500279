'use strict';
// agenthost example plugin "nodeecho", in Node.js: a provider (NODE_INFO), a streaming action
// that calls back into the host (NODE_ECHO) and an evaluator (NODE_WORDS). protocol.js does
// what PROTOCOL.md asks of every plugin process; this file is the PluginService (§8).

const { grpc, v1, log, serve } = require('./protocol');
const { version } = require('./package.json');

const NAME = 'nodeecho';

// The components. Each validate/provider function gets the request's Memory and State.
// NODE_INFO is dynamic and the others validate only messages that say "echo", so the
// pipeline leaves this plugin out of ordinary conversations (it is an example, not a skill).
const mentionsEcho = (message) => /\becho\b/i.test(message.content?.text || '');

const providers = {
  NODE_INFO: async () => ({
    text: `nodeecho runs on Node.js ${process.version}, pid ${process.pid}.`,
    values: toStruct({ node_version: process.version, pid: process.pid }),
  }),
};

const actions = {
  NODE_ECHO: {
    validate: mentionsEcho,
    // Streams two callbacks, reads a setting and stores a memory through RuntimeService.
    run: async (message, options, send) => {
      const text = message.content?.text || '';
      const prefix = typeof options.prefix === 'string' ? options.prefix : 'echo';
      send({ text: `${prefix}: ${text}` });
      const setting = await runtime.call('GetSetting', { key: 'GREETING' });
      send({ text: setting.found ? `the host's GREETING is: ${setting.value}` : 'the host has no GREETING' });
      const created = await runtime.call('CreateMemory', {
        memory: {
          room_id: message.room_id,
          entity_id: message.entity_id,
          table_name: 'nodeecho',
          content: { text: `${prefix}: ${text}`, source: NAME },
        },
      });
      return {
        success: true,
        text: `${prefix}: ${text}`,
        values: toStruct({ memory_id: created.memory.id, greeting: setting.found ? setting.value : null }),
      };
    },
  },
};

const evaluators = {
  NODE_WORDS: {
    validate: mentionsEcho,
    run: async (message) => {
      const words = (message.content?.text || '').split(/\s+/).filter(Boolean).length;
      return { success: true, text: `${words} words`, values: toStruct({ words }) };
    },
  },
};

const manifest = {
  name: NAME,
  version,
  description: 'Example plugin in Node.js: a provider, a streaming action calling back into the host, an evaluator.',
  providers: [{ name: 'NODE_INFO', description: 'Which Node.js runs this plugin.', position: 0, dynamic: true }],
  actions: [
    {
      name: 'NODE_ECHO',
      description: 'Echo the message back, in two steps, and store it as a memory.',
      similes: ['ECHO'],
      examples: [
        {
          turns: [
            { speaker: 'user', text: 'echo hello', actions: [] },
            { speaker: 'agent', text: 'Echoing.', actions: ['NODE_ECHO'] },
          ],
        },
      ],
    },
  ],
  evaluators: [{ name: 'NODE_WORDS', description: 'Count the words of a message that asks for an echo.' }],
};

// RuntimeService: dialled lazily on the socket file of Init's runtime_address (unix:///...),
// with this instance's token on every call (§9).
const runtime = {
  client: null,
  metadata: null,
  init(address, token) {
    this.close();
    this.client = new v1.RuntimeService(address, grpc.credentials.createInsecure());
    this.metadata = new grpc.Metadata();
    this.metadata.set('authorization', `Bearer ${token}`);
    this.metadata.set('x-agenthost-plugin', NAME);
  },
  call(method, request) {
    return new Promise((resolve, reject) => {
      const deadline = new Date(Date.now() + 30000);
      this.client[method](request, this.metadata, { deadline }, (err, reply) => (err ? reject(err) : resolve(reply)));
    });
  },
  close() {
    if (this.client) this.client.close();
    this.client = null;
  },
};

let initialised = false;

// gRPC errors with a status code, as §8 names them.
const status = (code, details) => Object.assign(new Error(details), { code, details });
const notInitialised = () => status(grpc.status.FAILED_PRECONDITION, 'plugin is not initialised: call Init first');
const unknown = (kind, names, table) => {
  const missing = names.filter((n) => !(n in table));
  return missing.length ? status(grpc.status.NOT_FOUND, `unknown ${kind}: ${missing.join(', ')}`) : null;
};
const errorText = (err) => `${err?.constructor?.name || 'Error'}: ${err?.message ?? err}`;

// A unary handler: checks Init first, turns a thrown status into the call's error.
function unary(handler, needsInit = true) {
  return (call, callback) => {
    if (needsInit && !initialised) return callback(notInitialised());
    Promise.resolve()
      .then(() => handler(call.request))
      .then(
        (reply) => callback(null, reply),
        (err) => callback(err.code !== undefined ? err : status(grpc.status.INTERNAL, errorText(err))),
      );
  };
}

function validate(table) {
  return async (request) => {
    const missing = unknown('component', request.names, table);
    if (missing) throw missing;
    const results = await Promise.all(
      request.names.map(async (name) => {
        try {
          return { name, valid: table[name].validate ? Boolean(await table[name].validate(request.message)) : true };
        } catch (err) {
          return { name, valid: false, error: errorText(err) };
        }
      }),
    );
    return { results };
  };
}

const pluginService = {
  Describe: unary(() => ({ manifest }), false),
  Init: unary((request) => {
    runtime.init(request.runtime_address, request.runtime_token);
    initialised = true;
    log('info', `plugin ${NAME} ${version} ready (Node.js ${process.version})`);
    return {};
  }, false),
  GetProviders: unary(async (request) => {
    const missing = unknown('provider', request.names, providers);
    if (missing) throw missing;
    const results = await Promise.all(
      request.names.map(async (name) => {
        try {
          return { name, ...(await providers[name](request.message, request.state)) };
        } catch (err) {
          return { name, error: errorText(err) };
        }
      }),
    );
    return { results };
  }),
  ValidateActions: unary(validate(actions)),
  ValidateEvaluators: unary(validate(evaluators)),
  // Callbacks as they come, then exactly one result; a failure is a result, not a status.
  InvokeAction(call) {
    if (!initialised) return call.destroy(notInitialised());
    const action = actions[call.request.name];
    if (!action) return call.destroy(status(grpc.status.NOT_FOUND, `unknown action: ${call.request.name}`));
    const send = (content) => call.write({ callback: content });
    action
      .run(call.request.message, fromStruct(call.request.options), send)
      .catch((err) => ({ success: false, error: errorText(err) }))
      .then((result) => {
        call.write({ result });
        call.end();
      });
  },
  RunEvaluator: unary(async (request) => {
    const evaluator = evaluators[request.name];
    if (!evaluator) throw status(grpc.status.NOT_FOUND, `unknown evaluator: ${request.name}`);
    try {
      return { result: await evaluator.run(request.message, request.responses) };
    } catch (err) {
      return { result: { success: false, error: errorText(err) } };
    }
  }),
  StartService: unary((request) => {
    throw status(grpc.status.NOT_FOUND, `unknown service: ${request.name}`);
  }),
  StopService: unary((request) => {
    throw status(grpc.status.NOT_FOUND, `unknown service: ${request.name}`);
  }),
  HandleEvent: unary((request) => {
    throw status(grpc.status.NOT_FOUND, `no handler for event ${request.event_type}`);
  }),
  UseModel: unary((request) => {
    throw status(grpc.status.NOT_FOUND, `no model handler for ${request.model_type}`);
  }),
};

// google.protobuf.Struct as proto-loader represents it ({fields: {k: {stringValue: ...}}}),
// to and from plain JSON values.
function toValue(v) {
  if (v === null || v === undefined) return { nullValue: 'NULL_VALUE' };
  if (typeof v === 'number') return { numberValue: v };
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  if (Array.isArray(v)) return { listValue: { values: v.map(toValue) } };
  return { structValue: toStruct(v) };
}

function toStruct(obj) {
  return { fields: Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, toValue(v)])) };
}

function fromValue(v) {
  // A decoded Value names its set member in `kind`; one made by toValue has only that member.
  const kind = v.kind || Object.keys(v).find((k) => k.endsWith('Value'));
  switch (kind) {
    case 'numberValue':
    case 'stringValue':
    case 'boolValue':
      return v[kind];
    case 'listValue':
      return (v.listValue.values || []).map(fromValue);
    case 'structValue':
      return fromStruct(v.structValue);
    default:
      return null;
  }
}

function fromStruct(struct) {
  return Object.fromEntries(Object.entries(struct?.fields || {}).map(([k, v]) => [k, fromValue(v)]));
}

serve(NAME, pluginService, async () => runtime.close());
