/**
 * A connected, idle Kafka producer over the real broker leaves no timer spinning: kafkajs 2.2.4 checked
 * its pending requests every millisecond forever (pipeline/adapters/kafkajs-idle-timer.ts), and requests
 * still flow with the fix in place.
 */
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kafkajsIdleTimerFixed } from '../../../pipeline/adapters/kafkajs-idle-timer';
import { uniqueName } from '../../helpers/env';
import { connectKafka, type KafkaClients } from '../../helpers/kafka';

const require = createRequire(import.meta.url);
const RequestQueue = require('kafkajs/src/network/requestQueue/index.js') as {
  prototype: { checkPendingRequests(): void };
};

let kafka: KafkaClients;

beforeAll(async () => {
  kafka = await connectKafka('llmopt-test-idle');
});
afterAll(async () => {
  await kafka?.disconnect();
});

describe('kafkajs request queue', () => {
  it('is fixed for the installed kafkajs', () => {
    // An upgrade of kafkajs turns this red: check whether the release fixed tulios/kafkajs#1556, then
    // retire pipeline/adapters/kafkajs-idle-timer.ts or move its version.
    expect(kafkajsIdleTimerFixed()).toBe(true);
  });

  it('checks nothing while nothing is pending, and still delivers', async () => {
    const topic = uniqueName('llmopt.test.idle');
    await kafka.admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 1 }] });
    await kafka.producer.send({ topic, messages: [{ key: 'k', value: 'before' }] });

    const original = RequestQueue.prototype.checkPendingRequests;
    let checks = 0;
    RequestQueue.prototype.checkPendingRequests = function (this: unknown) {
      checks++;
      original.call(this);
    };
    try {
      await new Promise((r) => setTimeout(r, 50)); // a timer already armed fires once
      checks = 0;
      await new Promise((r) => setTimeout(r, 500));
      // Unfixed, every connection checks about once a millisecond: hundreds in half a second.
      expect(checks).toBe(0);
    } finally {
      RequestQueue.prototype.checkPendingRequests = original;
    }

    await kafka.producer.send({ topic, messages: [{ key: 'k', value: 'after' }] });
    const offsets = await kafka.admin.fetchTopicOffsets(topic);
    expect(offsets[0]!.high).toBe('2');
  });
});
