/** A connected admin and producer on the test Kafka, for tests that create topics and send to them. */
import type { Admin, Producer } from 'kafkajs';
import { createKafka } from '../../pipeline/adapters/kafka';
import { testEnv } from './env';

export interface KafkaClients {
  admin: Admin;
  producer: Producer;
  disconnect(): Promise<void>;
}

export async function connectKafka(clientId: string): Promise<KafkaClients> {
  const kafka = createKafka(testEnv.KAFKA_BROKERS!, clientId);
  const admin = kafka.admin();
  await admin.connect();
  const producer = kafka.producer();
  await producer.connect();
  return {
    admin,
    producer,
    async disconnect() {
      await producer.disconnect();
      await admin.disconnect();
    },
  };
}
