#!/usr/bin/env node
// A minimal Azure Service Bus look-alike for tests: an AMQP 1.0 broker (rhea) that the real
// azure-servicebus SDK talks to with `UseDevelopmentEmulator=true` (plain AMQP, no TLS).
//
// What it does, and only that (enough for snitch.queues.servicebus):
// - SASL ANONYMOUS or PLAIN; the `$cbs` put-token request is answered with status 200 (any
//   token is accepted: this is a test double, not a security boundary).
// - Queues, created on first use. A message is stored with a sequence number and enqueued
//   time, delivered to receivers that have link credit, with a fresh lock token (the delivery
//   tag) and `x-opt-locked-until`. Settlement: accepted = complete; modified = abandon
//   (delivered again, header delivery-count + 1); released = given back unseen (count kept);
//   rejected = dead-lettered into `<queue>/$deadletterqueue` with the DeadLetterReason and
//   DeadLetterErrorDescription application properties. Each settlement is confirmed with a
//   settled disposition echoing the outcome (rcv-settle-mode second, as the SDK awaits).
// - A lock expires after --lock-duration-ms: the message is delivered again with its count
//   + 1, and a late settlement is refused with com.microsoft:message-lock-lost. A receiver
//   link that detaches gives its unsettled messages back the same way, at once (Service Bus
//   waits for the lock to expire; tests should not).
// - Duplicate detection: a message whose message-id was seen on the queue within
//   --duplicate-window-ms is accepted and dropped, as Service Bus does.
// - `<queue>/$management`: com.microsoft:peek-message, com.microsoft:renew-lock and
//   com.microsoft:update-disposition (the SDK's fallback settlement path). Anything else is
//   answered 501, so a test that needs more fails loudly instead of hanging.
// - The SDK's header delivery-count is what AMQP says (0 on the first delivery), as Service
//   Bus sends it; the .NET "DeliveryCount" is that + 1.
//
// Prints `LISTENING <port>` on stdout once bound. Usage:
//   node servicebus_broker.js [--host 127.0.0.1] [--port 0] [--lock-duration-ms 30000]
//                             [--duplicate-window-ms 600000] [--max-message-size 262144]
//                             [--exit-with-stdin]
'use strict';

const crypto = require('crypto');
const rhea = require('rhea');

const types = rhea.types;
const DEADLETTER_SUFFIX = '/$deadletterqueue';
const MANAGEMENT_SUFFIX = '/$management';
const LOCK_LOST = 'com.microsoft:message-lock-lost';

function parseArgs(argv) {
  const options = {
    host: '127.0.0.1',
    port: 0,
    lockDurationMs: 30000,
    duplicateWindowMs: 600000,
    maxMessageSize: 262144,
    exitWithStdin: false,
  };
  const names = {
    '--host': ['host', String],
    '--port': ['port', Number],
    '--lock-duration-ms': ['lockDurationMs', Number],
    '--duplicate-window-ms': ['duplicateWindowMs', Number],
    '--max-message-size': ['maxMessageSize', Number],
  };
  for (let i = 2; i < argv.length; i += 2) {
    if (argv[i] === '--exit-with-stdin') {
      options.exitWithStdin = true;
      i -= 1;
      continue;
    }
    const known = names[argv[i]];
    if (!known || argv[i + 1] === undefined) {
      throw new Error(`unknown or incomplete option ${argv[i]}`);
    }
    options[known[0]] = known[1](argv[i + 1]);
  }
  return options;
}

const options = parseArgs(process.argv);
const debug = process.env.SERVICEBUS_BROKER_DEBUG ? (...a) => console.error('[broker]', ...a) : () => {};

// ---- queues ---------------------------------------------------------------------------

let nextSequence = 1;

class Queue {
  constructor(name) {
    this.name = name;
    this.ready = []; // entries waiting, in sequence order
    this.locked = new Map(); // lock token (hex) -> entry
    this.all = new Map(); // sequence number -> entry (ready or locked), for peek
    this.seen = new Map(); // message id -> time first seen (duplicate detection)
    this.consumers = [];
    this.turn = 0;
  }

  enqueue(message, deliveryCount = 0) {
    const entry = {
      sequence: nextSequence++,
      enqueuedAt: Date.now(),
      message,
      deliveryCount,
      lock: null,
    };
    this.all.set(entry.sequence, entry);
    this.insert(entry);
    return entry;
  }

  isDuplicate(messageId) {
    if (messageId === undefined || messageId === null) return false;
    const key = idKey(messageId);
    const now = Date.now();
    for (const [id, at] of this.seen) {
      if (now - at > options.duplicateWindowMs) this.seen.delete(id);
    }
    if (this.seen.has(key)) return true;
    this.seen.set(key, now);
    return false;
  }

  insert(entry) {
    // Keep sequence order so a message given back is delivered before later ones.
    let i = this.ready.length;
    while (i > 0 && this.ready[i - 1].sequence > entry.sequence) i--;
    this.ready.splice(i, 0, entry);
  }

  unlock(entry) {
    if (entry.lock) {
      clearTimeout(entry.lock.timer);
      this.locked.delete(entry.lock.token);
      entry.lock = null;
    }
  }

  remove(entry) {
    this.unlock(entry);
    this.all.delete(entry.sequence);
  }

  giveBack(entry, countIt) {
    this.unlock(entry);
    if (countIt) entry.deliveryCount += 1;
    this.insert(entry);
  }
}

const queues = new Map();

function queueNamed(address) {
  let queue = queues.get(address);
  if (!queue) {
    queue = new Queue(address);
    queues.set(address, queue);
    debug('queue created', address);
  }
  return queue;
}

function idKey(id) {
  if (Buffer.isBuffer(id)) return `b:${id.toString('hex')}`;
  return `v:${String(id)}`;
}

function addressOf(terminus) {
  return terminus && terminus.address !== undefined && terminus.address !== null
    ? String(terminus.address)
    : '';
}

function entityOf(address) {
  // Addresses arrive as "queue", "/queue", or "amqp://host:port/queue".
  let path = String(address || '');
  const scheme = path.indexOf('://');
  if (scheme !== -1) {
    path = path.slice(scheme + 3);
    const slash = path.indexOf('/');
    path = slash === -1 ? '' : path.slice(slash + 1);
  }
  // Service Bus entity names are case-insensitive ("q/$DeadLetterQueue" is "q/$deadletterqueue").
  return path.replace(/^\/+/, '').toLowerCase();
}

// ---- delivery -------------------------------------------------------------------------

function outgoing(entry, lockedUntil) {
  const source = entry.message;
  const annotations = Object.assign({}, source.message_annotations || {});
  annotations['x-opt-sequence-number'] = types.wrap_long(entry.sequence);
  annotations['x-opt-enqueued-time'] = types.wrap_timestamp(entry.enqueuedAt);
  if (lockedUntil !== undefined) {
    annotations['x-opt-locked-until'] = types.wrap_timestamp(lockedUntil);
  }
  const message = Object.assign({}, source, {
    message_annotations: annotations,
    delivery_count: entry.deliveryCount,
    durable: true,
  });
  return message;
}

function dispatch(queue) {
  while (queue.ready.length) {
    const live = queue.consumers.filter((s) => s.is_open() && s.sendable());
    if (!live.length) return;
    const sender = live[queue.turn++ % live.length];
    const entry = queue.ready.shift();
    const token = crypto.randomBytes(16);
    const lockedUntil = Date.now() + options.lockDurationMs;
    const lock = { token: token.toString('hex'), sender, delivery: null, timer: null };
    lock.timer = setTimeout(() => {
      if (entry.lock === lock) {
        debug('lock expired', queue.name, entry.sequence);
        queue.giveBack(entry, true);
        dispatch(queue);
      }
    }, options.lockDurationMs);
    entry.lock = lock;
    queue.locked.set(lock.token, entry);
    lock.delivery = sender.send(outgoing(entry, lockedUntil), token);
    lock.delivery.snitchEntry = entry;
    lock.delivery.snitchLock = lock;
    debug('delivered', queue.name, entry.sequence, 'count', entry.deliveryCount);
  }
}

function deadLetter(queue, entry, reason, description) {
  queue.remove(entry);
  const dlq = queueNamed(queue.name + DEADLETTER_SUFFIX);
  const props = Object.assign({}, entry.message.application_properties || {});
  if (reason !== undefined && reason !== null) props.DeadLetterReason = String(reason);
  if (description !== undefined && description !== null) {
    props.DeadLetterErrorDescription = String(description);
  }
  const copy = Object.assign({}, entry.message, { application_properties: props });
  const moved = dlq.enqueue(copy, entry.deliveryCount);
  debug('dead-lettered', queue.name, entry.sequence, '->', moved.sequence, reason);
  dispatch(dlq);
}

function infoValue(info, key) {
  if (!info) return undefined;
  if (info instanceof Map) return info.get(key);
  return info[key];
}

function settle(context, outcome) {
  const delivery = context.delivery;
  const entry = delivery.snitchEntry;
  const lock = delivery.snitchLock;
  const sender = context.sender;
  const queue = sender.snitchQueue || queueNamed(entityOf(addressOf(sender.remote.attach.source)));
  if (!entry || entry.lock !== lock) {
    // The lock expired (or the message was settled another way): say so, like the service.
    delivery.update(
      true,
      rhea.message
        .rejected({ error: { condition: LOCK_LOST, description: 'The lock supplied is invalid.' } })
        .described(),
    );
    return;
  }
  switch (outcome) {
    case 'accepted':
      queue.remove(entry);
      delivery.update(true, rhea.message.accepted().described());
      break;
    case 'modified': {
      const state = delivery.remote_state || {};
      if (state.undeliverable_here) {
        // A deferral: not supported here. Refuse rather than pretend.
        delivery.update(
          true,
          rhea.message
            .rejected({ error: { condition: 'amqp:not-implemented', description: 'defer' } })
            .described(),
        );
        return;
      }
      queue.giveBack(entry, state.delivery_failed !== false);
      delivery.update(
        true,
        rhea.message.modified({ delivery_failed: true, undeliverable_here: false }).described(),
      );
      break;
    }
    case 'released':
      queue.giveBack(entry, false);
      delivery.update(true, rhea.message.released().described());
      break;
    case 'rejected': {
      const error = (delivery.remote_state && delivery.remote_state.error) || {};
      const reason = infoValue(error.info, 'DeadLetterReason');
      const description =
        infoValue(error.info, 'DeadLetterErrorDescription') || error.description;
      deadLetter(queue, entry, reason, description);
      delivery.update(true, rhea.message.rejected().described());
      break;
    }
    default:
      return;
  }
  dispatch(queue);
}

// ---- management (CBS and $management) -------------------------------------------------

function respond(requestContext, status, statusKey, descriptionKey, description, body) {
  const request = requestContext.message;
  const replyAddress = request.reply_to || addressOf(requestContext.receiver.remote.attach.target);
  const connection = requestContext.connection;
  const reply = connection.find_sender(
    (s) => s.is_open() && addressOf(s.remote.attach && s.remote.attach.source) === replyAddress,
  );
  if (!reply) {
    debug('no reply link for', replyAddress);
    return;
  }
  let correlation = request.message_id;
  if (Buffer.isBuffer(correlation) && correlation.length === 16) {
    // pyamqp sends a uuid and matches the answer by value: keep the type.
    correlation = types.wrap_uuid(correlation);
  }
  const application_properties = {};
  application_properties[statusKey] = types.wrap_int(status);
  application_properties[descriptionKey] = description;
  const message = { correlation_id: correlation, application_properties };
  if (body !== undefined) message.body = body;
  reply.send(message);
}

function tokenKey(token) {
  // A delivery tag is the lock token in .NET Guid byte order (first three fields little
  // endian), as Service Bus sends it; the SDK sends the token back as an AMQP uuid (RFC 4122
  // order). Swap the fields back to find the lock.
  if (typeof token === 'string' && /^[0-9a-f-]{36}$/i.test(token)) {
    token = Buffer.from(token.replace(/-/g, ''), 'hex');
  }
  if (Buffer.isBuffer(token) && token.length === 16) {
    const tag = Buffer.from(token);
    tag.subarray(0, 4).reverse();
    tag.subarray(4, 6).reverse();
    tag.subarray(6, 8).reverse();
    return tag.toString('hex');
  }
  return Buffer.isBuffer(token) ? token.toString('hex') : String(token);
}

function lockTokens(body) {
  const tokens = body && body['lock-tokens'];
  if (!tokens) return [];
  return Array.isArray(tokens) ? tokens : [tokens];
}

function handleManagement(context, entityPath) {
  const request = context.message;
  const props = request.application_properties || {};
  const operation = props.operation;
  const body = request.body || {};
  const queue = queueNamed(entityPath);
  const ok = (status, body_) => respond(context, status, 'statusCode', 'statusDescription', 'OK', body_);
  const fail = (status, text) => respond(context, status, 'statusCode', 'statusDescription', text);
  debug('management', entityPath, operation);
  switch (operation) {
    case 'com.microsoft:peek-message': {
      const from = Number(body['from-sequence-number'] || 1);
      const count = Number(body['message-count'] || 1);
      const entries = [...queue.all.values()]
        .filter((e) => e.sequence >= from)
        .sort((a, b) => a.sequence - b.sequence)
        .slice(0, count);
      if (!entries.length) {
        fail(204, 'No messages to peek');
        return;
      }
      const messages = entries.map((e) => ({
        message: types.wrap_binary(rhea.message.encode(outgoing(e))),
      }));
      ok(200, { messages });
      return;
    }
    case 'com.microsoft:renew-lock': {
      const until = [];
      for (const token of lockTokens(body)) {
        const entry = queue.locked.get(tokenKey(token));
        if (!entry) {
          respond(context, 410, 'statusCode', 'statusDescription', 'The lock supplied is invalid.');
          return;
        }
        const lock = entry.lock;
        clearTimeout(lock.timer);
        const lockedUntil = Date.now() + options.lockDurationMs;
        lock.timer = setTimeout(() => {
          if (entry.lock === lock) {
            queue.giveBack(entry, true);
            dispatch(queue);
          }
        }, options.lockDurationMs);
        until.push(lockedUntil);
      }
      ok(200, { expirations: types.wrap_array(until, 0x83) }); // an array of timestamps
      return;
    }
    case 'com.microsoft:update-disposition': {
      const status = body['disposition-status'];
      for (const token of lockTokens(body)) {
        const entry = queue.locked.get(tokenKey(token));
        if (!entry) {
          fail(410, 'The lock supplied is invalid.');
          return;
        }
        if (status === 'completed') queue.remove(entry);
        else if (status === 'abandoned') queue.giveBack(entry, true);
        else if (status === 'suspended') {
          deadLetter(queue, entry, body['deadletter-reason'], body['deadletter-description']);
        } else {
          fail(501, `disposition ${status} is not implemented here`);
          return;
        }
      }
      ok(200);
      dispatch(queue);
      return;
    }
    default:
      fail(501, `operation ${operation} is not implemented by the test broker`);
  }
}

function handleCbs(context) {
  const props = context.message.application_properties || {};
  debug('cbs', props.operation, props.name);
  if (props.operation === 'put-token') {
    respond(context, 200, 'status-code', 'status-description', 'OK');
  } else {
    respond(context, 501, 'status-code', 'status-description', 'not implemented');
  }
}

// ---- links ----------------------------------------------------------------------------

const container = rhea.create_container({ id: 'snitch-servicebus-broker' });
container.sasl_server_mechanisms.enable_anonymous();
container.sasl_server_mechanisms.enable_plain(() => true);

function mirrorAttach(link) {
  const remote = link.remote.attach;
  if (remote.source) link.set_source({ address: remote.source.address });
  if (remote.target) link.set_target({ address: remote.target.address });
  link.local.attach.snd_settle_mode = remote.snd_settle_mode;
  link.local.attach.rcv_settle_mode = remote.rcv_settle_mode;
  link.local.attach.max_message_size = options.maxMessageSize;
}

container.on('receiver_open', (context) => {
  // The client sends: to a queue, to $cbs, or to <queue>/$management.
  const receiver = context.receiver;
  mirrorAttach(receiver);
  debug('client sender attached to', receiver.remote.attach.target && receiver.remote.attach.target.address);
});

container.on('sender_open', (context) => {
  const sender = context.sender;
  mirrorAttach(sender);
  const address = entityOf(addressOf(sender.remote.attach.source));
  debug('client receiver attached to', address);
  if (address === '$cbs' || address.endsWith(MANAGEMENT_SUFFIX) || address === '$management') return;
  const queue = queueNamed(address);
  sender.snitchQueue = queue;
  queue.consumers.push(sender);
  dispatch(queue);
});

container.on('message', (context) => {
  const receiver = context.receiver;
  // Service Bus settles every incoming transfer itself, whatever rcv-settle-mode the
  // client asked for, and the SDK's sender waits for exactly that settled disposition.
  context.delivery.update(true, rhea.message.accepted().described());
  const target = entityOf(addressOf(receiver.remote.attach.target));
  if (target === '$cbs') {
    handleCbs(context);
    return;
  }
  if (target.endsWith(MANAGEMENT_SUFFIX)) {
    handleManagement(context, target.slice(0, -MANAGEMENT_SUFFIX.length));
    return;
  }
  const queue = queueNamed(target);
  const message = context.message;
  if (queue.isDuplicate(message.message_id)) {
    debug('duplicate dropped', target, message.message_id);
    return; // accepted and dropped, as Service Bus does
  }
  const entry = queue.enqueue(message);
  debug('enqueued', target, entry.sequence, message.message_id);
  dispatch(queue);
});

container.on('sendable', (context) => {
  if (context.sender.snitchQueue) dispatch(context.sender.snitchQueue);
});

container.on('sender_draining', (context) => {
  // The receiver asked for a drain: send what is ready, then spend the rest of the credit
  // and tell it so (rhea only answers once told the link is drained).
  const sender = context.sender;
  if (sender.snitchQueue) dispatch(sender.snitchQueue);
  sender.set_drained(true);
});

container.on('accepted', (context) => settle(context, 'accepted'));
container.on('modified', (context) => settle(context, 'modified'));
container.on('released', (context) => settle(context, 'released'));
container.on('rejected', (context) => settle(context, 'rejected'));

function forgetConsumer(sender) {
  const queue = sender.snitchQueue;
  if (!queue) return;
  queue.consumers = queue.consumers.filter((s) => s !== sender);
  sender.snitchQueue = null;
  // Unsettled messages of a receiver that went away: their locks are lost.
  for (const entry of [...queue.locked.values()]) {
    if (entry.lock && entry.lock.sender === sender) queue.giveBack(entry, true);
  }
  dispatch(queue);
}

container.on('sender_close', (context) => forgetConsumer(context.sender));
container.on('disconnected', (context) => {
  const connection = context.connection;
  for (const queue of queues.values()) {
    for (const sender of [...queue.consumers]) {
      if (sender.connection === connection) forgetConsumer(sender);
    }
  }
});
container.on('connection_close', (context) => {
  const connection = context.connection;
  for (const queue of queues.values()) {
    for (const sender of [...queue.consumers]) {
      if (sender.connection === connection) forgetConsumer(sender);
    }
  }
});
// A handler that throws closes the client's connection: say why, always.
container.on('error', (error) => console.error('[broker] error:', error && error.message));

const server = container.listen({
  host: options.host,
  port: options.port,
  treat_modified_as_released: false,
  autosettle: false,
  autoaccept: false,
});
server.on('listening', () => {
  process.stdout.write(`LISTENING ${server.address().port}\n`);
});
server.on('error', (error) => {
  console.error(`servicebus_broker: ${error.message}`);
  process.exit(1);
});
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.close();
    process.exit(0);
  });
}
if (options.exitWithStdin) {
  // The test process holds our stdin open: when it dies, however it dies, so do we.
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('error', () => process.exit(0));
  process.stdin.resume();
}
