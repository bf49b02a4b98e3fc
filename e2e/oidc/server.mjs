// A real OpenID provider for the end-to-end suite: oidc-provider (an OpenID-certified
// implementation) issuing JWT access tokens through the client credentials grant, so the gateway
// is tested against discovery, a JWKS and tokens it did not make itself.
//
// usage: node server.mjs [--port N] [--short-lifetime SECONDS]
//
// Listens on 127.0.0.1 only (port 0 picks a free one) with issuer http://127.0.0.1:PORT, and
// prints one JSON line on stdout once it accepts requests:
//   {"issuer": "...", "audience": "wspush-e2e", "jwksCountUrl": "...",
//    "clients": {"alice": {"secret": "...", "claims": {...}, "alg": "RS256", "lifetime": 3600}, ...}}
// Each client stands for one user: its tokens carry `sub` = the client id plus the claims shown.
// Secrets and signing keys are made at start and live in memory only; nothing is fetched.
//
// GET /_test/jwks-count answers {"count": N}, the number of JWKS requests served, so a test can
// prove how often the gateway refetches keys.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import Provider from 'oidc-provider';

const RESOURCE = 'urn:wspush:e2e';
const AUDIENCE = 'wspush-e2e';
const LIFETIME = 3600;

function parseArgs(argv) {
  const options = { port: 0, shortLifetime: 5 };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], Number(argv[i + 1])];
    if (!Number.isInteger(value) || value < 0) usage(`${flag} needs a whole number, not ${argv[i + 1]}`);
    if (flag === '--port') options.port = value;
    else if (flag === '--short-lifetime' && value > 0) options.shortLifetime = value;
    else usage(`unknown or invalid option ${flag}`);
  }
  return options;
}

function usage(problem) {
  console.error(`server.mjs: ${problem}\nusage: node server.mjs [--port N] [--short-lifetime SECONDS]`);
  process.exit(2);
}

// The users: which claims their tokens carry, which algorithm signs them, how long they live.
function users(shortLifetime) {
  return {
    alice: { claims: { org: 'acme', projects: ['apollo', 'gemini'] }, alg: 'RS256', lifetime: LIFETIME },
    bob: { claims: { org: 'globex', projects: ['zeus'] }, alg: 'RS256', lifetime: LIFETIME },
    erin: { claims: { org: 'acme' }, alg: 'ES256', lifetime: LIFETIME },
    brief: { claims: { org: 'acme' }, alg: 'RS256', lifetime: shortLifetime },
  };
}

function signingKeys() {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
  return [
    { ...rsa, kid: `rsa-${randomBytes(6).toString('hex')}`, alg: 'RS256', use: 'sig' },
    { ...ec, kid: `ec-${randomBytes(6).toString('hex')}`, alg: 'ES256', use: 'sig' },
  ];
}

function configuration(table) {
  const clients = Object.entries(table).map(([id, user]) => ({
    client_id: id,
    client_secret: user.secret,
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
  }));
  return {
    clients,
    jwks: { keys: signingKeys() },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => RESOURCE,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx, indicator, client) => {
          if (indicator !== RESOURCE) throw new Provider.errors.InvalidTarget();
          const user = table[client.clientId];
          return {
            scope: 'push',
            audience: AUDIENCE,
            accessTokenTTL: user.lifetime,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: user.alg } },
          };
        },
      },
    },
    extraTokenClaims: (_ctx, token) => table[token.clientId]?.claims,
    ttl: { ClientCredentials: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? LIFETIME },
  };
}

// Counts JWKS requests and answers the count; everything else goes to the provider.
function jwksCounter() {
  let count = 0;
  return async (ctx, next) => {
    if (ctx.method === 'GET' && ctx.path === '/_test/jwks-count') {
      ctx.body = { count };
      return;
    }
    if (ctx.path === '/jwks') count += 1;
    await next();
  };
}

function listen(server, port) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server.address().port));
  });
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  const table = users(options.shortLifetime);
  for (const user of Object.values(table)) user.secret = randomBytes(24).toString('base64url');

  const server = createServer();
  const port = await listen(server, options.port);
  const issuer = `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, configuration(table));
  provider.use(jwksCounter());
  provider.on('server_error', (_ctx, error) => console.error('server_error', error));
  server.on('request', provider.callback());

  const stop = () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  console.log(JSON.stringify({ issuer, audience: AUDIENCE, jwksCountUrl: `${issuer}/_test/jwks-count`, clients: table }));
}

await main();
