/**
 * Benchmark baseline: a bare Bun.serve hello-world (no body read, no routing) on EDGE_PORT. The ceiling every edge
 * ratio is measured against (`edge_*_vs_bun_hello`). Not part of the product.
 */
// biome-ignore lint/suspicious/noExplicitAny: Bun's global is untyped here (no bun-types in this workspace)
const server = (globalThis as any).Bun.serve({
  port: Number(process.env.EDGE_PORT ?? 8080),
  hostname: '127.0.0.1',
  fetch: () => new Response('hello'),
  development: false, // as the edge runs it
});
process.stdout.write(`hello listening on ${server.port}\n`);
process.on('SIGTERM', () => {
  server.stop(true);
  process.exit(0);
});
