/**
 * Inference service process: validates its configuration once (INFERENCE_HOST, INFERENCE_PORT default 8090), serves
 * the Hono app of app.ts on Node via @hono/node-server, and stops cleanly on SIGINT/SIGTERM.
 */
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { serve } from '@hono/node-server';
import { SERVICE_DEFAULTS } from '@pep/contracts';
import { createLogger } from '@pep/contracts/log';
import { createApp } from './app.ts';

export interface InferenceConfig {
  readonly host: string;
  readonly port: number;
}

export const DEFAULT_INFERENCE_PORT = SERVICE_DEFAULTS.inference.port;

export function loadConfig(env: NodeJS.ProcessEnv = process.env): InferenceConfig {
  const port = Number(env.INFERENCE_PORT ?? DEFAULT_INFERENCE_PORT);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`INFERENCE_PORT must be a TCP port, got ${JSON.stringify(env.INFERENCE_PORT)}`);
  }
  return Object.freeze({ host: env.INFERENCE_HOST ?? SERVICE_DEFAULTS.inference.host, port });
}

/** Starts the service; resolves with the bound port and a close function (port 0 picks a free port, for tests). */
export function startInferenceServer(config: InferenceConfig): Promise<{ port: number; close: () => Promise<void> }> {
  return new Promise((resolve, reject) => {
    const server = serve(
      { fetch: createApp().fetch, hostname: config.host, port: config.port },
      (info: AddressInfo) => {
        resolve({
          port: info.port,
          close: () => new Promise<void>((r, j) => server.close((err) => (err ? j(err) : r()))),
        });
      },
    );
    server.once('error', reject);
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  let config: InferenceConfig;
  try {
    config = loadConfig();
  } catch (err) {
    console.error(`inference: ${(err as Error).message}`);
    process.exit(2);
  }
  const { port, close } = await startInferenceServer(config);
  createLogger('info', { service: 'inference' }).info('inference service listening', { host: config.host, port });
  const stop = () => {
    void close().finally(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
