// A real local HTTP server for the unit tests: each request is recorded and
// answered by the next scripted reply (the last one repeats).
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import { BillingOS, type BillingOSOptions } from '@billingos/sdk';

export interface Recorded {
  method: string;
  url: URL;
  headers: IncomingMessage['headers'];
  body: unknown;
}

export type Reply =
  | { status?: number; json?: unknown; text?: string; headers?: Record<string, string> }
  | 'drop' // close the connection without an answer
  | 'hang' // never answer
  | ((request: Recorded) => Reply);

export interface TestServer {
  url: string;
  requests: Recorded[];
  close(): Promise<void>;
}

export async function startServer(...replies: Reply[]): Promise<TestServer> {
  const requests: Recorded[] = [];
  const hanging: ServerResponse[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const recorded: Recorded = {
        method: req.method ?? '',
        url: new URL(req.url ?? '/', 'http://test'),
        headers: req.headers,
        body: raw ? (JSON.parse(raw) as unknown) : undefined,
      };
      requests.push(recorded);
      let reply = replies[Math.min(requests.length - 1, replies.length - 1)] ?? { json: {} };
      while (typeof reply === 'function') reply = reply(recorded);
      if (reply === 'drop') {
        req.socket.destroy();
        return;
      }
      if (reply === 'hang') {
        hanging.push(res);
        return;
      }
      const headers: Record<string, string> = { 'x-request-id': `req-${requests.length}`, ...reply.headers };
      if (reply.text !== undefined) {
        res.writeHead(reply.status ?? 200, { 'content-type': 'text/plain', ...headers });
        res.end(reply.text);
      } else {
        res.writeHead(reply.status ?? 200, { 'content-type': 'application/json', ...headers });
        res.end(JSON.stringify(reply.json ?? {}));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of hanging) res.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A client of the test server whose sleeps are recorded, not waited. */
export function clientOf(server: TestServer, options: BillingOSOptions = {}) {
  const sleeps: number[] = [];
  const billingos = new BillingOS({
    accessToken: 'bos_test_key',
    serverURL: server.url,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    ...options,
  });
  return { billingos, sleeps };
}

/** A `google.rpc.Status` body as the gateway sends it. */
export function statusBody(
  code: number,
  reason: string,
  message: string,
  fields: string[] = [],
): Record<string, unknown> {
  const details: Record<string, unknown>[] = [
    {
      '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
      reason,
      domain: 'billingos.dev',
      metadata: { some_key: 'v' },
    },
  ];
  if (fields.length) {
    details.push({
      '@type': 'type.googleapis.com/google.rpc.BadRequest',
      field_violations: fields.map((field) => ({ field, description: 'is wrong' })),
    });
  }
  return { code, message, details };
}

export const CUSTOMER = {
  id: '019b0000-0000-7000-8000-000000000001',
  organization_id: '019b0000-0000-7000-8000-0000000000aa',
  email: 'ada@example.com',
  external_id: 'user_1',
  name: 'Ada',
  metadata: {},
  stripe_customer_id: '',
  create_time: '2026-11-24T10:42:12.482361Z',
  update_time: '2026-11-24T10:42:12.482361Z',
};
