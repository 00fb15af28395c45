// `node --import ./test/nats/hide-nats.mjs …`: the NATS client packages cannot be found, as where they
// were never installed (a resolve hook that fails for them the way Node does).
import { register } from 'node:module';

register(
  `data:text/javascript,${encodeURIComponent(`
export async function resolve(specifier, context, next) {
  if (specifier.startsWith('@nats-io/')) {
    const error = new Error("Cannot find package '" + specifier + "'");
    error.code = 'ERR_MODULE_NOT_FOUND';
    throw error;
  }
  return next(specifier, context);
}`)}`,
);
