/**
 * The chart's tools without a cluster: helm built from the Go module proxy at a named version, and kubecheck (this
 * package's Go validator of rendered manifests against the Kubernetes API types and schemas bundled in k8s.io/api and
 * client-go). Both are built once per machine into the tool cache. Not for installing into a cluster.
 */
import { spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureGoBuild, ensureGoInstall } from '@pep/stack/install';

export const HELM_VERSION = 'v4.3.2';
/** The Kubernetes version the chart is rendered and checked for (the API types of k8s.io/api v0.37). */
export const KUBE_VERSION = '1.37.0';

export const DEPLOY_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const CHART_DIR = join(DEPLOY_DIR, 'helm');
export const PRODUCTION_VALUES = join(CHART_DIR, 'values-production.yaml');

export type Log = (message: string) => void;

export interface Tools {
  readonly helm: string;
  readonly kubecheck: string;
}

/** Builds what is missing (minutes on a cold machine, nothing on a warm one) and returns both binaries. */
export async function ensureTools(log: Log = () => {}): Promise<Tools> {
  const helm = await ensureGoInstall(
    { name: 'helm', pkg: `helm.sh/helm/v4/cmd/helm@${HELM_VERSION}`, binary: 'helm' },
    log,
  );
  const kubecheck = await ensureGoBuild(
    { name: 'kubecheck', moduleDir: join(DEPLOY_DIR, 'kubecheck'), files: ['go.mod', 'go.sum', 'main.go'] },
    log,
  );
  return { helm, kubecheck };
}

export interface Result {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function exec(command: string, args: readonly string[], input?: string): Result {
  const res = spawnSync(command, args, { encoding: 'utf8', input, maxBuffer: 64 << 20, timeout: 120_000 });
  if (res.error) throw res.error;
  return { code: res.status ?? 1, stdout: res.stdout, stderr: res.stderr };
}

const valuesArgs = (valuesFiles: readonly string[], set: readonly string[]) => [
  ...valuesFiles.flatMap((f) => ['-f', f]),
  ...set.flatMap((s) => ['--set', s]),
];

export interface RenderOptions {
  readonly valuesFiles?: readonly string[];
  /** `--set key=value` overrides. */
  readonly set?: readonly string[];
  readonly releaseName?: string;
}

export function helmLint(tools: Tools, { valuesFiles = [], set = [] }: RenderOptions = {}): Result {
  return exec(tools.helm, [
    'lint',
    CHART_DIR,
    '--strict',
    '--kube-version',
    KUBE_VERSION,
    ...valuesArgs(valuesFiles, set),
  ]);
}

export function helmTemplate(
  tools: Tools,
  { valuesFiles = [], set = [], releaseName = 'pep' }: RenderOptions = {},
): Result {
  return exec(tools.helm, [
    'template',
    releaseName,
    CHART_DIR,
    '--kube-version',
    KUBE_VERSION,
    '--namespace',
    'payments',
    ...valuesArgs(valuesFiles, set),
  ]);
}

/** Validates a multi-document manifest stream; exit code 0 only when every object is valid. */
export function kubecheck(tools: Tools, manifests: string): Result {
  return exec(tools.kubecheck, [], manifests);
}

/** lint + template + kubecheck for one set of values; throws with every tool's complaint when any fails. */
export function checkChart(tools: Tools, options: RenderOptions = {}): { manifests: string; report: string } {
  const lint = helmLint(tools, options);
  if (lint.code !== 0) throw new Error(`helm lint failed:\n${lint.stdout}${lint.stderr}`);
  const rendered = helmTemplate(tools, options);
  if (rendered.code !== 0) throw new Error(`helm template failed:\n${rendered.stderr}`);
  const checked = kubecheck(tools, rendered.stdout);
  if (checked.code !== 0) throw new Error(`kubecheck failed:\n${checked.stdout}${checked.stderr}`);
  return { manifests: rendered.stdout, report: checked.stdout.trim() };
}
