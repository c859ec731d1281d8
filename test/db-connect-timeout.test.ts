/**
 * A database host that accepts connections but never answers: queries fail after the connect
 * timeout with an error recognised as the database being unavailable (the API's 503, the
 * activities' retry), instead of hanging.
 */
import net from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createPrisma } from '../shared/db.ts';
import { isDatabaseUnavailable } from '../shared/db-errors.ts';

let silent: net.Server;
const sockets = new Set<net.Socket>();

beforeAll(async () => {
  silent = net.createServer((socket) => sockets.add(socket)); // accepts, never answers
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
});

afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await new Promise((resolve) => silent.close(resolve));
});

it('gives up on a database that accepts but never answers, as unavailable', async () => {
  const { port } = silent.address() as net.AddressInfo;
  const prisma = createPrisma(`postgresql://postgres@127.0.0.1:${port}/postgres`);
  const started = Date.now();
  const error = await prisma.$queryRaw`SELECT 1`.then(
    () => null,
    (err: unknown) => err,
  );
  const waitedMs = Date.now() - started;
  await prisma.$disconnect().catch(() => {});
  expect(error).not.toBeNull();
  expect(isDatabaseUnavailable(error)).toBe(true);
  expect(waitedMs).toBeLessThan(30_000);
}, 60_000);
