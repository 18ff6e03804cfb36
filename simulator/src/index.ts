/**
 * @pep/simulator as a library: the delivery generator (realistic, signed webhooks of all four providers with their
 * ground truth) and the signing secrets it uses, for tests that drive the pipeline with simulated traffic. The CLI
 * (`npm run simulate`) is src/cli.ts.
 */
export { DeliveryGenerator, type GeneratorOptions, type TruthRecord } from './generate.ts';
export { type Delivery, type Secrets, signingSecrets } from './render.ts';
