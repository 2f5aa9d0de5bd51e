// A real OpenID Connect provider for the sign-in tests and `make oidc-demo`: the certified
// `oidc-provider` package, configured from one JSON file (argument 1):
//   { "issuer": "http://127.0.0.1:PORT", "port": PORT, "jwks": {"keys": [private JWKs]},
//     "clients": [oidc-provider client metadata], "users": {"id": {"password", "email",
//     "name", "groups": [...], "active": true}}, "id_token_ttl": seconds }
// Sign-in at the provider is a plain form (login and password); a user whose `active` is
// false is refused by the provider, which answers the relying party with `access_denied`.
// Consent is implied for the configured clients (they are the institution's own).
import fs from 'node:fs';
import http from 'node:http';
import { Provider } from 'oidc-provider';

const config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const users = config.users;
const SCOPE = 'openid email profile groups';

const provider = new Provider(config.issuer, {
  clients: config.clients,
  jwks: config.jwks,
  cookies: { keys: ['governance-test-provider-cookie-key'] },
  pkce: { required: () => true },
  scopes: ['openid', 'email', 'profile', 'groups', 'offline_access'],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
    groups: ['groups'],
  },
  // The relying party reads the e-mail and groups from the ID token itself.
  conformIdTokenClaims: false,
  features: { devInteractions: { enabled: false } },
  ttl: {
    IdToken: config.id_token_ttl || 3600,
    AccessToken: 3600,
    AuthorizationCode: 60,
    Interaction: 600,
    Session: 3600,
    Grant: 3600,
  },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, id) {
    const user = users[id];
    if (!user) return undefined;
    return {
      accountId: id,
      async claims() {
        return {
          sub: id,
          email: user.email,
          email_verified: true,
          name: user.name,
          groups: user.groups || [],
        };
      },
    };
  },
  async loadExistingGrant(ctx) {
    const grantId =
      ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope(SCOPE);
    grant.addOIDCClaims(['email', 'email_verified', 'name', 'groups']);
    await grant.save();
    return grant;
  },
});

function escape(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function loginPage(res, uid, clientId, error) {
  res.statusCode = error ? 401 : 200;
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.end(`<!doctype html><html lang="en"><head><title>Test provider: sign in</title></head>
<body><h1>Test identity provider</h1><p>Signing in to ${escape(clientId)}</p>
${error ? `<p role="alert">${escape(error)}</p>` : ''}
<form method="post" action="/interaction/${escape(uid)}/login">
<label>Login <input name="login" autocomplete="username"></label>
<label>Password <input name="password" type="password" autocomplete="current-password"></label>
<button type="submit">Sign in at the provider</button></form></body></html>`);
}

async function readForm(req) {
  let body = '';
  for await (const chunk of req) body += chunk;
  return new URLSearchParams(body);
}

async function interaction(req, res, uid) {
  const details = await provider.interactionDetails(req, res);
  if (req.method === 'GET') return loginPage(res, uid, details.params.client_id);
  const form = await readForm(req);
  const login = form.get('login') || '';
  const user = users[login];
  if (!user || user.password !== form.get('password')) {
    return loginPage(res, uid, details.params.client_id, 'Unknown login or wrong password.');
  }
  const result = user.active === false
    ? { error: 'access_denied', error_description: 'This account is deactivated.' }
    : { login: { accountId: login } };
  return provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false });
}

const handle = provider.callback();
const server = http.createServer((req, res) => {
  const path = new URL(req.url, config.issuer).pathname;
  if (path === '/favicon.ico') {
    res.statusCode = 204;
    return res.end();
  }
  const match = path.match(/^\/interaction\/([^/]+)(\/login)?$/);
  if (!match) return handle(req, res);
  interaction(req, res, match[1]).catch((err) => {
    res.statusCode = 400;
    res.end(`interaction failed: ${err.message}`);
  });
});
server.listen(config.port, '127.0.0.1', () => {
  console.log(`oidc-provider ready at ${config.issuer}`);
});
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => server.close(() => process.exit(0)));
