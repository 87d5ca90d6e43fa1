// The console in a real browser: Debian's chromium, headless, driven by
// puppeteer-core, against a real `hijackguard serve` with principals, after
// the iOS 6 hijack trace was replayed to it. Signs in with a token, reads
// each page, checks the numbers, the tenant scoping, the headers and the
// browser's console, runs axe-core on every page, and saves a screenshot of
// each.
//
//   node tests/console/browser_test.mjs --binary build/dev/bin/hijackguard \
//     --source-dir . --modules build/dev/browser-tools/node_modules \
//     --out build/dev/console-screenshots
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
  "connect-src 'self'; form-action 'self'; frame-ancestors 'none'";

function args() {
  const out = { chromium: '/usr/bin/chromium' };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 2) {
    out[argv[i].replace(/^--/, '').replace(/-/g, '_')] = argv[i + 1];
  }
  for (const key of ['binary', 'source_dir', 'modules', 'out']) {
    if (!out[key]) throw new Error(`--${key.replace(/_/g, '-')} is required`);
  }
  return out;
}

let failures = 0;
function check(condition, message) {
  if (!condition) {
    failures++;
    console.error(`FAIL: ${message}`);
  }
}

function token() {
  return randomBytes(24).toString('hex');
}

function sha256(text) {
  return createHash('sha256').update(text).digest('hex');
}

// `hijackguard serve --config FILE`: resolves with its gRPC and HTTP
// addresses once it prints them.
function serve(binary, config, log) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(binary, ['serve', '--config', config], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let text = '';
    let errors = '';
    child.stderr.on('data', (d) => {
      errors += d;
      writeFileSync(log, errors);
    });
    const timer = setTimeout(() => reject(new Error(`no address in 30 s: ${text}`)), 30000);
    child.stdout.on('data', (d) => {
      text += d;
      const grpc = /serving on (\S+)/.exec(text);
      const http = /http on (\S+)/.exec(text);
      if (grpc && http) {
        clearTimeout(timer);
        resolvePromise({ child, grpc: grpc[1], http: http[1] });
      }
    });
    child.on('exit', (code) => reject(new Error(`the server exited ${code}: ${errors}`)));
  });
}

async function main() {
  const a = args();
  if (!existsSync(join(a.modules, 'puppeteer-core')) || !existsSync(join(a.modules, 'axe-core'))) {
    throw new Error(`no puppeteer-core and axe-core under ${a.modules}: run scripts/browser-tools`);
  }
  if (!existsSync(a.chromium)) {
    throw new Error(`no chromium at ${a.chromium}: run scripts/bootstrap`);
  }
  const require = createRequire(join(resolve(a.modules), 'noop.js'));
  const puppeteer = require('puppeteer-core');
  const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
  mkdirSync(a.out, { recursive: true });

  const dir = mkdtempSync(join(tmpdir(), 'hg-console-'));
  const tokens = { acme: token(), other: token(), gateway: token(), mdm: token(), all: token() };
  const config = join(dir, 'hijackguard.json');
  writeFileSync(
    config,
    JSON.stringify({
      listen: '127.0.0.1:0',
      http: { listen: '127.0.0.1:0' },
      state_dir: join(dir, 'state'),
      policy: join(a.source_dir, 'examples/policies/default.json'),
      catalog: join(a.source_dir, 'detector/catalog/known_issues.json'),
      auth: {
        principals: [
          { id: 'analyst-acme', roles: ['auditor'], tenants: ['acme'],
            token_sha256: sha256(tokens.acme) },
          { id: 'analyst-other', roles: ['auditor'], tenants: ['initech'],
            token_sha256: sha256(tokens.other) },
          { id: 'gateway', roles: ['gateway'], tenants: ['acme'],
            token_sha256: sha256(tokens.gateway) },
          { id: 'mdm', roles: ['mdm'], tenants: ['acme'], token_sha256: sha256(tokens.mdm) },
          { id: 'analyst-all', roles: ['auditor'], tenants: ['*'],
            token_sha256: sha256(tokens.all) },
        ],
      },
    }),
  );
  const server = await serve(a.binary, config, join(dir, 'server.log'));
  const base = `http://${server.http}`;
  let browser;
  try {
    browser = await puppeteer.launch({
      executablePath: a.chromium,
      headless: true,
      // CI runs as root, where chromium needs --no-sandbox.
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
    });
    // The alerts pages are open before anything happens: the live feed
    // must bring the alert in.
    const live = await watchAlerts(browser, base, tokens, a.out, axeSource);
    // The device checks in (the MDM), then its traffic is replayed (the
    // gateway): three events, one rewritten meeting.
    const tokenFile = (name) => {
      const f = join(dir, `${name}.token`);
      writeFileSync(f, tokens[name], { mode: 0o600 });
      return f;
    };
    const checkin = spawnSync(a.binary, [
      'checkin', '--server', server.grpc, '--token-file', tokenFile('mdm'), '--tenant', 'acme',
      '--device-id', 'ApplDMPFXZABDFHW', '--user', 'alice@example.com',
      '--user-agent', 'Apple-iPhone4C1/1001.403', '--json'], { encoding: 'utf8' });
    check(checkin.status === 0, `checkin: ${checkin.stderr}`);
    const replay = spawnSync(a.binary, [
      'replay', '--server', server.grpc, '--token-file', tokenFile('gateway'),
      join(a.source_dir, 'examples/traces/ios60_hijack.jsonl')], { encoding: 'utf8' });
    check(replay.status === 0, `replay: ${replay.stdout} ${replay.stderr}`);
    const livePages = await checkLiveAlerts(live, a.out, axeSource);
    // What `hijackguard simulate` answers for the device the form will
    // describe, with the same --now.
    const events = join(dir, 'events.jsonl');
    writeFileSync(events, SIMULATED_EVENTS.join('\n') + '\n');
    const cli = spawnSync(a.binary, [
      'simulate', '--server', server.grpc, '--token-file', tokenFile('all'),
      '--tenant', 'acme', '--device-id', 'ApplSIMULATE', '--user', 'alice@example.com',
      '--user-agent', 'Apple-iPhone4C1/1001.403', '--events', events, '--now', SIMULATED_NOW],
    { encoding: 'utf8' });
    check(cli.status === 0, `simulate: ${cli.stderr}`);
    const expected = JSON.parse(cli.stdout).decision;
    const results = await visit(browser, base, tokens, a.out, axeSource, expected);
    results.pages += livePages;
    results.pages += await checkAudit(browser, base, tokens, a.out, axeSource);
    check(results.pages >= 9, `only ${results.pages} pages were checked`);
    // The static report, made while the server runs, opened with no
    // network: the same numbers as the console.
    const html = join(a.out, 'report.html');
    const report = spawnSync(a.binary, ['report', '--state', join(dir, 'state'), '--html', html],
      { encoding: 'utf8' });
    check(report.status === 0, `report: ${report.stdout} ${report.stderr}`);
    await checkReport(browser, html, results.fleet, a.out, axeSource);
  } finally {
    if (browser) await browser.close();
    server.child.kill('SIGTERM');
    await new Promise((r) => server.child.on('exit', r));
    if (failures === 0) rmSync(dir, { recursive: true, force: true });
  }
  if (failures > 0) {
    console.error(`${failures} checks failed; the server's directory is kept: ${dir}`);
    process.exit(1);
  }
  console.log('console browser test: every check passed');
}

// A page of the console, checked: its status, its CSP, no errors in the
// browser's console, no serious or critical axe-core violation; a
// screenshot saved as `name`.png.
async function open(page, url, name, out, axeSource, expectStatus = 200) {
  const errors = [];
  const onConsole = (m) => {
    if (m.type() === 'error') errors.push(m.text());
  };
  const onError = (e) => errors.push(String(e));
  page.on('console', onConsole);
  page.on('pageerror', onError);
  const response = await page.goto(url, { waitUntil: 'load' });
  await checkPage(page, response, name, out, axeSource, expectStatus, errors);
  page.off('console', onConsole);
  page.off('pageerror', onError);
  return response;
}

async function checkPage(page, response, name, out, axeSource, expectStatus, errors) {
  check(response.status() === expectStatus,
    `${name}: status ${response.status()}, expected ${expectStatus}`);
  check(response.headers()['content-security-policy'] === CSP,
    `${name}: the CSP is ${response.headers()['content-security-policy']}`);
  // axe-core goes in through the DevTools protocol, which the page's CSP
  // does not govern; the CSP stays on.
  await page.evaluate(axeSource);
  const violations = await page.evaluate(async () => {
    const result = await globalThis.axe.run(document);
    return result.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  });
  check(violations.length === 0, `${name}: axe-core found ${violations.join('; ')}`);
  const filtered = errors.filter((e) => !(expectStatus >= 400 && /status of 4\d\d/.test(e)));
  check(filtered.length === 0, `${name}: the browser's console said ${filtered.join('; ')}`);
  await page.screenshot({ path: join(out, `${name}.png`), fullPage: true });
}

async function signIn(page, base, value, out, axeSource) {
  await open(page, `${base}/ui/login`, 'signin', out, axeSource);
  await page.type('#token', value);
  const [response] = await Promise.all([
    page.waitForNavigation({ waitUntil: 'load' }),
    page.click('button[type=submit]'),
  ]);
  return response;
}

async function text(page, selector) {
  return page.$eval(selector, (e) => e.textContent.trim());
}

async function checkReport(browser, html, fleet, out, axeSource) {
  const context = await browser.createBrowserContext();
  const page = await context.newPage();
  await page.setViewport({ width: 1280, height: 900 });
  await page.setOfflineMode(true);
  const requests = [];
  page.on('request', (r) => requests.push(r.url()));
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  await page.goto(`file://${resolve(html)}`, { waitUntil: 'load' });
  check(requests.length === 1, `the report asked for ${requests.join(', ')}`);
  for (const id of ['devices-total', 'quarantine-evaluated', 'quarantine-enforced',
    'events-total']) {
    const value = await text(page, `#${id}`);
    check(value === fleet[id], `the report's ${id} is ${value}, the console's ${fleet[id]}`);
  }
  const rows = await page.$$eval('#repairs tbody tr', (trs) => trs.map((t) => t.textContent));
  check(rows.length === 1 && rows[0].includes('bob@example.com'), `the report's repair rows: ${rows}`);
  await page.evaluate(axeSource);
  const violations = await page.evaluate(async () => (await globalThis.axe.run(document)).violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => v.id));
  check(violations.length === 0, `report: axe-core found ${violations}`);
  check(errors.length === 0, `report: the browser's console said ${errors}`);
  await page.screenshot({ path: join(out, 'report.png'), fullPage: true });
  await context.close();
}

// The alerts page of acme's analyst and of another tenant's, open and live
// before the device does anything.
async function watchAlerts(browser, base, tokens, out, axeSource) {
  const pages = {};
  for (const [who, token] of [['acme', tokens.acme], ['other', tokens.other]]) {
    const context = await browser.createBrowserContext();
    const page = await context.newPage();
    await page.setViewport({ width: 1280, height: 900 });
    const errors = [];
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    page.on('pageerror', (e) => errors.push(String(e)));
    await signIn(page, base, token, out, axeSource);
    const response = await page.goto(`${base}/ui/alerts`, { waitUntil: 'load' });
    check(response.status() === 200, `alerts (${who}): status ${response.status()}`);
    check(response.headers()['content-security-policy'] === CSP, `alerts (${who}): the CSP`);
    await page.waitForFunction(
      () => document.getElementById('live-status').textContent.startsWith('Live'),
      { timeout: 30000 });
    pages[who] = { context, page, errors };
  }
  return pages;
}

// The alert reached acme's page through the feed (no reload), and not the
// other tenant's.
async function checkLiveAlerts(live, out, axeSource) {
  const { page, errors } = live.acme;
  try {
    await page.waitForFunction(
      () => Array.from(document.querySelectorAll('#live-alerts tbody tr'))
        .some((tr) => tr.textContent.includes('ApplDMPFXZABDFHW')),
      { timeout: 30000 });
  } catch (e) {
    check(false, `no live alert came: the feed says "${await text(page, '#live-status')}"; ` +
      `the console said ${errors.join('; ')}`);
    throw e;
  }
  const row = await page.$$eval('#live-alerts tbody tr', (trs) => trs[0].textContent);
  check(row.includes('QUARANTINE') && row.includes('acme') && row.includes('TRAFFIC'),
    `the live alert row: ${row}`);
  check(await page.$('#no-alerts') === null, 'the empty-list note stayed');
  // Its device link leads to the device page.
  const href = await page.$eval('#live-alerts tbody tr a', (a) => a.getAttribute('href'));
  check(href === '/ui/device?tenant=acme&eas=ApplDMPFXZABDFHW', `the alert's link: ${href}`);
  await checkPage(page, { status: () => 200, headers: () => ({ 'content-security-policy': CSP }) },
    'alerts', out, axeSource, 200, errors);
  const other = live.other;
  await other.page.reload({ waitUntil: 'load' });
  check(!(await other.page.content()).includes('ApplDMPFXZABDFHW'),
    'another tenant sees the alert');
  await checkPage(other.page,
    { status: () => 200, headers: () => ({ 'content-security-policy': CSP }) },
    'alerts-other-tenant', out, axeSource, 200, other.errors);
  await live.acme.context.close();
  await other.context.close();
  return 2;
}

// The audit page of the analyst of every tenant: the check-in's decision
// with its device, and the chain verified in the background.
async function checkAudit(browser, base, tokens, out, axeSource) {
  const context = await browser.createBrowserContext();
  const page = await context.newPage();
  await page.setViewport({ width: 1280, height: 900 });
  await signIn(page, base, tokens.all, out, axeSource);
  let status = '';
  for (let i = 0; i < 60 && !status.includes('INTACT'); i++) {
    await page.goto(`${base}/ui/audit`, { waitUntil: 'load' });
    status = await text(page, '#chain-status');
    if (!status.includes('INTACT')) await new Promise((r) => setTimeout(r, 500));
  }
  check(status.includes('INTACT'), `the chain's status: ${status}`);
  await open(page, `${base}/ui/audit`, 'audit', out, axeSource);
  const rows = await page.$$eval('#audit-rows tbody tr', (trs) => trs.map((t) => t.textContent));
  check(rows.some((r) => r.includes('decision') && r.includes('ApplDMPFXZABDFHW')),
    `the audit rows: ${rows.join(' | ')}`);
  await context.close();
  return 1;
}

const SIMULATED_NOW = '2026-12-01T09:00:00Z';
const SIMULATED_EVENTS = [
  '{"kind": "EVENT_KIND_ORGANIZER_REWRITE", "attendeeCount": 3, "observedAt": "2026-11-30T09:00:00Z"}',
  '{"kind": "EVENT_KIND_ATTENDEE_CANCEL", "attendeeCount": 3, "observedAt": "2026-11-30T09:05:00Z"}',
];

const ACTION = (a) => String(a || 'ACTION_ALLOW').replace(/^ACTION_/, '');

async function simulateInBrowser(browser, base, tokens, out, axeSource, expected) {
  const context = await browser.createBrowserContext();
  const page = await context.newPage();
  await page.setViewport({ width: 1280, height: 900 });
  await signIn(page, base, tokens.all, out, axeSource);
  await open(page, `${base}/ui/policy`, 'policy', out, axeSource);
  // The server's start recorded the policy file: a row names its revision.
  const revision = (await text(page, '#policy-revision')).slice(0, 12);
  const history = await page.$$eval('#policy-history tbody tr', (trs) => trs.map((t) => t.textContent));
  check(history.some((row) => row.includes(revision) && row.includes('file:')),
    `the policy history does not name ${revision}: ${history}`);
  await page.type('#sim-tenant', 'acme');
  await page.type('#sim-device_id', 'ApplSIMULATE');
  await page.type('#sim-user', 'alice@example.com');
  await page.type('#sim-user_agent', 'Apple-iPhone4C1/1001.403');
  await page.type('#sim-now', SIMULATED_NOW);
  await page.type('#sim-events', SIMULATED_EVENTS.join('\n'));
  const [response] = await Promise.all([
    page.waitForNavigation({ waitUntil: 'load' }),
    page.click('form.simulate button[type=submit]'),
  ]);
  await checkPage(page, response, 'simulate', out, axeSource, 200, []);
  const enforced = await text(page, '#sim-enforced');
  const evaluated = await text(page, '#sim-evaluated');
  const score = Number(await text(page, '#sim-score'));
  check(enforced === ACTION(expected.enforcedAction) &&
    evaluated === ACTION(expected.evaluatedAction) &&
    Math.abs(score - (expected.score || 0)) < 0.05,
  `the form says ${enforced}/${evaluated}/${score}, hijackguard simulate ` +
    `${expected.enforcedAction}/${expected.evaluatedAction}/${expected.score}`);
  const reasons = await page.$$eval('#sim-reasons tbody th code', (cs) => cs.map((c) => c.textContent));
  const cliReasons = (expected.reasons || []).map((r) => r.code);
  check(JSON.stringify(reasons) === JSON.stringify(cliReasons),
    `the form's reasons ${reasons}, the CLI's ${cliReasons}`);
  await context.close();
}

async function visit(browser, base, tokens, out, axeSource, expected) {
  let pages = 0;
  // The analyst of acme.
  const context = await browser.createBrowserContext();
  const page = await context.newPage();
  await page.setViewport({ width: 1280, height: 900 });
  const fleet = await signIn(page, base, tokens.acme, out, axeSource);
  check(fleet.url() === `${base}/ui/`, `signing in led to ${fleet.url()}`);
  const cookies = await context.cookies(base);
  const session = cookies.find((c) => c.name === '__Host-hijackguard');
  check(session && session.httpOnly && session.secure && session.sameSite === 'Strict',
    `the session cookie is ${JSON.stringify(session)}`);
  await open(page, `${base}/ui/`, 'fleet', out, axeSource);
  pages++;
  check(await text(page, '#devices-total') === '1', 'the fleet has not one device');
  // Monitor mode: nothing is quarantined now, one device would be.
  check(await text(page, '#quarantine-evaluated') === '1',
    `would-be QUARANTINE: ${await text(page, '#quarantine-evaluated')}`);
  check(await text(page, '#quarantine-enforced') === '0', 'a device is quarantined in monitor mode');
  const fleetNumbers = {};
  for (const id of ['devices-total', 'quarantine-evaluated', 'quarantine-enforced',
    'events-total']) {
    fleetNumbers[id] = await text(page, `#${id}`);
  }
  // The three detection events of the trace, recorded today.
  check(fleetNumbers['events-total'].startsWith('3 detection events'),
    `the fleet's events: ${fleetNumbers['events-total']}`);

  await open(page, `${base}/ui/devices`, 'devices', out, axeSource);
  pages++;
  const rows = await page.$$eval('#devices tbody tr', (trs) => trs.map((t) => t.textContent));
  check(rows.length === 1 && rows[0].includes('ApplDMPFXZABDFHW'), `device rows: ${rows}`);
  // Sorting by a column keeps the rows (one page, client side).
  await page.click('#devices thead th:nth-child(7) button');
  check(await page.$eval('#devices thead th:nth-child(7)', (th) => th.getAttribute('aria-sort'))
    === 'ascending', 'the score column did not sort');

  const [device] = await Promise.all([
    page.waitForNavigation({ waitUntil: 'load' }),
    page.click('#devices tbody a'),
  ]);
  await checkPage(page, device, 'device', out, axeSource, 200, []);
  pages++;
  const events = await page.$$eval('#event-table tbody tr', (trs) => trs.length);
  check(events === 3, `the device page shows ${events} events`);
  const meetings = await page.$$eval('#meeting-table tbody tr', (trs) => trs.map((t) => t.textContent));
  check(meetings.length === 1 && meetings[0].includes('bob@example.com'),
    `the meeting rows: ${meetings}`);
  check((await text(page, '#evaluated')).includes('QUARANTINE'), 'the device is not evaluated QUARANTINE');
  check((await text(page, '#admin-remediation')).includes('Set-CASMailbox'),
    'no Exchange command on the device page');

  // The repair list: the meeting, and its row in the CSV.
  await open(page, `${base}/ui/repair`, 'repair', out, axeSource);
  pages++;
  const repairs = await page.$$eval('#repairs tbody tr', (trs) => trs.map((t) => t.textContent));
  check(repairs.length === 1 && repairs[0].includes('bob@example.com') &&
    repairs[0].includes('ApplDMPFXZABDFHW'), `the repair rows: ${repairs}`);
  const csv = await page.evaluate(async () => {
    const r = await fetch('/ui/repair.csv');
    return { status: r.status, type: r.headers.get('content-type'), text: await r.text() };
  });
  const csvLines = csv.text.trim().split('\r\n');
  check(csv.status === 200 && csv.type.startsWith('text/csv') && csvLines.length === 2 &&
    csvLines[1].startsWith('"acme","040000008200E00074C5B7101A82E008') &&
    csvLines[1].includes('"bob@example.com"') && csvLines[1].includes('"ApplDMPFXZABDFHW"'),
  `the repair CSV: ${csv.status} ${csv.type} ${csv.text}`);
  writeFileSync(join(out, 'repair.csv'), csv.text);

  // Sign out: the session is gone.
  const [signedOut] = await Promise.all([
    page.waitForNavigation({ waitUntil: 'load' }),
    page.click('header form button'),
  ]);
  check(signedOut.url() === `${base}/ui/login`, `signing out led to ${signedOut.url()}`);
  const after = await page.goto(`${base}/ui/`);
  check(after.url() === `${base}/ui/login`, `after signing out /ui/ is ${after.url()}`);
  await context.close();

  // A principal of another tenant sees none of it.
  const otherContext = await browser.createBrowserContext();
  const other = await otherContext.newPage();
  await signIn(other, base, tokens.other, out, axeSource);
  await open(other, `${base}/ui/`, 'fleet-other-tenant', out, axeSource);
  pages++;
  check(await text(other, '#devices-total') === '0', 'another tenant sees devices');
  await open(other, `${base}/ui/devices`, 'devices-other-tenant', out, axeSource);
  check(!(await other.content()).includes('ApplDMPFXZABDFHW'), 'another tenant sees the device');
  await open(other, `${base}/ui/device?tenant=acme&eas=ApplDMPFXZABDFHW`, 'device-refused', out,
    axeSource, 403);
  check(!(await other.content()).includes('bob@example.com'), 'a refused page shows the meeting');
  await open(other, `${base}/ui/repair`, 'repair-other-tenant', out, axeSource);
  check(!(await other.content()).includes('bob@example.com'), 'another tenant sees the meeting');
  const otherCsv = await other.evaluate(async () => (await fetch('/ui/repair.csv')).text());
  check(otherCsv.trim().split('\r\n').length === 1, `another tenant's CSV: ${otherCsv}`);
  await otherContext.close();

  await simulateInBrowser(browser, base, tokens, out, axeSource, expected);
  pages++;
  // The policy concerns every tenant: an analyst of one is refused it.
  const oneContext = await browser.createBrowserContext();
  const one = await oneContext.newPage();
  await signIn(one, base, tokens.acme, out, axeSource);
  await open(one, `${base}/ui/policy`, 'policy-refused', out, axeSource, 403);
  await oneContext.close();

  // A wrong token: refused on the sign-in page.
  const wrongContext = await browser.createBrowserContext();
  const wrong = await wrongContext.newPage();
  const refused = await signIn(wrong, base, 'not-a-token', out, axeSource);
  check(refused.status() === 401, `a wrong token got ${refused.status()}`);
  await wrongContext.close();
  return { pages, fleet: fleetNumbers };
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
