/*
 * NATS core interop scenario using the official C client (Debian libnats-dev).
 *
 * usage: c_interop URL MODE [USER PASS | TOKEN]
 *   MODE: none | user | bcrypt | token
 *
 * build: gcc -O1 -Wall -o c_interop c_interop.c $(pkg-config --cflags --libs libnats)
 *        (or simply -lnats)
 *
 * Prints one PASS/FAIL line per check; exits 1 if any check failed, 2 on the
 * global watchdog (alarm). Every blocking call has a timeout.
 */
#include <nats/nats.h>

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define CLIENT "c"
#define TIMEOUT_MS 5000
#define GRACE_MS 300
#define WATCHDOG_S 50
#define MAX_PAYLOAD (1024 * 1024)
#define MAXMSGS 64

static int passes = 0, failures = 0;
static const char *g_url, *g_mode;
static const char *g_user, *g_pass, *g_token;
static char g_prefix[64];

static int check(const char *name, int ok, const char *fmt, ...)
{
    char detail[1024] = "";
    if (fmt != NULL) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(detail, sizeof(detail), fmt, ap);
        va_end(ap);
    }
    if (ok) passes++; else failures++;
    printf("%s [%s] %s%s%s\n", ok ? "PASS" : "FAIL", CLIENT, name, detail[0] ? " -- " : "", detail);
    fflush(stdout);
    return ok;
}

static void on_alarm(int sig)
{
    (void)sig;
    static const char m[] = "FAIL [c] watchdog: scenario exceeded time limit\n";
    if (write(1, m, sizeof(m) - 1) < 0) { /* nothing */ }
    _exit(2);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static const char *subj(char *buf, size_t n, const char *s)
{
    snprintf(buf, n, "%s.%s", g_prefix, s);
    return buf;
}

static const char *lasterr(natsStatus s)
{
    const char *t = nats_GetLastError(NULL);
    return (t != NULL && t[0]) ? t : natsStatus_GetText(s);
}

/* Silence the default async error handler output. */
static void quiet_err(natsConnection *nc, natsSubscription *sub, natsStatus err, void *closure)
{
    (void)nc; (void)sub; (void)err; (void)closure;
}

static natsStatus do_connect(natsConnection **nc, const char *name,
                             const char *user, const char *pass, const char *token)
{
    natsOptions *o = NULL;
    natsStatus s = natsOptions_Create(&o);
    if (s == NATS_OK) s = natsOptions_SetURL(o, g_url);
    if (s == NATS_OK) s = natsOptions_SetName(o, name);
    if (s == NATS_OK) s = natsOptions_SetAllowReconnect(o, false);
    if (s == NATS_OK) s = natsOptions_SetMaxReconnect(o, 0);
    if (s == NATS_OK) s = natsOptions_SetTimeout(o, 3000);
    if (s == NATS_OK) s = natsOptions_SetErrorHandler(o, quiet_err, NULL);
    if (s == NATS_OK && user != NULL) s = natsOptions_SetUserInfo(o, user, pass);
    if (s == NATS_OK && token != NULL) s = natsOptions_SetToken(o, token);
    if (s == NATS_OK) s = natsConnection_Connect(nc, o);
    natsOptions_Destroy(o);
    return s;
}

/* Receive up to `expected` msgs within timeout, then keep reading for grace ms
 * (to catch extras). Stores up to MAXMSGS messages in out[]; returns count. */
static int collect(natsSubscription *sub, int expected, int64_t timeout, int64_t grace,
                   natsMsg **out)
{
    int n = 0;
    int64_t deadline = now_ms() + timeout;
    while (n < expected) {
        int64_t left = deadline - now_ms();
        if (left <= 0) break;
        natsMsg *m = NULL;
        if (natsSubscription_NextMsg(&m, sub, left) != NATS_OK) break;
        if (n < MAXMSGS) out[n] = m; else natsMsg_Destroy(m);
        n++;
    }
    int64_t end = now_ms() + grace;
    for (;;) {
        int64_t left = end - now_ms();
        if (left <= 0) break;
        natsMsg *m = NULL;
        if (natsSubscription_NextMsg(&m, sub, left) != NATS_OK) break;
        if (n < MAXMSGS) out[n] = m; else natsMsg_Destroy(m);
        n++;
    }
    return n;
}

static void free_msgs(natsMsg **m, int n)
{
    for (int i = 0; i < n && i < MAXMSGS; i++) natsMsg_Destroy(m[i]);
}

static int data_is(natsMsg *m, const char *s)
{
    return natsMsg_GetDataLength(m) == (int)strlen(s) &&
           memcmp(natsMsg_GetData(m), s, strlen(s)) == 0;
}

/* ------------------------------------------------------------ responders */

static void echo_prefix_cb(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)sub; (void)closure;
    char buf[256];
    int n = snprintf(buf, sizeof(buf), "re:%.*s", natsMsg_GetDataLength(msg), natsMsg_GetData(msg));
    if (natsMsg_GetReply(msg) != NULL)
        natsConnection_Publish(nc, natsMsg_GetReply(msg), buf, n);
    natsMsg_Destroy(msg);
}

static void echo_raw_cb(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)sub; (void)closure;
    if (natsMsg_GetReply(msg) != NULL)
        natsConnection_Publish(nc, natsMsg_GetReply(msg), natsMsg_GetData(msg), natsMsg_GetDataLength(msg));
    natsMsg_Destroy(msg);
}

static void header_echo_cb(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)sub; (void)closure;
    const char *req = NULL;
    const char **vals = NULL;
    int nvals = 0;
    natsMsg *rep = NULL;
    if (natsMsgHeader_Get(msg, "X-Req", &req) != NATS_OK) req = "missing";
    if (natsMsg_Create(&rep, natsMsg_GetReply(msg), NULL, "ok", 2) == NATS_OK) {
        natsMsgHeader_Set(rep, "X-Echo", req);
        if (natsMsgHeader_Values(msg, "X-Multi", &vals, &nvals) == NATS_OK) {
            for (int i = 0; i < nvals; i++) natsMsgHeader_Add(rep, "X-Multi-Echo", vals[i]);
            free((void *)vals);
        }
        natsMsgHeader_Set(rep, "X-Resp", "yes");
        natsConnection_PublishMsg(nc, rep);
        natsMsg_Destroy(rep);
    }
    natsMsg_Destroy(msg);
}

/* ------------------------------------------------------------ scenarios */

static void s_connect(natsConnection *a, natsConnection *b)
{
    char sid[128] = "";
    natsConnection_GetConnectedServerId(a, sid, sizeof(sid));
    check("connect: connected (A)", !natsConnection_IsClosed(a), "server id %.12s...", sid);
    check("connect: connected (B)", !natsConnection_IsClosed(b), NULL);
    natsStatus s = natsConnection_FlushTimeout(a, TIMEOUT_MS);
    int64_t rtt = 0;
    natsStatus s2 = natsConnection_GetRTT(b, &rtt);
    check("connect: flush + PING/PONG round trip", s == NATS_OK && s2 == NATS_OK,
          "flush=%s rtt=%lld us", natsStatus_GetText(s), (long long)(rtt / 1000));
    int64_t mp = natsConnection_GetMaxPayload(a);
    check("connect: server INFO max_payload == 1048576", mp == MAX_PAYLOAD, "got %lld", (long long)mp);
    check("connect: server INFO headers == true", natsConnection_HasHeaderSupport(a) == NATS_OK, NULL);
}

static void s_pubsub(natsConnection *a, natsConnection *b)
{
    char s[128], root[128], x[160];
    natsMsg *m[MAXMSGS];
    natsSubscription *sub = NULL;
    subj(s, sizeof(s), "lit");
    natsConnection_SubscribeSync(&sub, a, s);
    natsConnection_FlushTimeout(a, TIMEOUT_MS);
    natsConnection_PublishString(b, s, "hello");
    natsConnection_FlushTimeout(b, TIMEOUT_MS);
    int n = collect(sub, 1, TIMEOUT_MS, GRACE_MS, m);
    check("pubsub: literal subject delivers exactly 1 msg", n == 1, "got %d", n);
    if (n >= 1)
        check("pubsub: payload + subject intact",
              data_is(m[0], "hello") && strcmp(natsMsg_GetSubject(m[0]), s) == 0,
              "%s", natsMsg_GetSubject(m[0]));
    free_msgs(m, n);
    natsSubscription_Unsubscribe(sub);
    natsSubscription_Destroy(sub);

    /* wildcards */
    natsSubscription *star = NULL, *gt = NULL, *lit = NULL;
    subj(root, sizeof(root), "foo");
    snprintf(x, sizeof(x), "%s.*", root);
    natsConnection_SubscribeSync(&star, a, x);
    snprintf(x, sizeof(x), "%s.>", root);
    natsConnection_SubscribeSync(&gt, a, x);
    natsConnection_SubscribeSync(&lit, a, root);
    natsConnection_FlushTimeout(a, TIMEOUT_MS);
    char p1[160], p2[160], p3[160], p4[160];
    snprintf(p1, sizeof(p1), "%s.bar", root);
    snprintf(p2, sizeof(p2), "%s.bar.baz", root);
    snprintf(p3, sizeof(p3), "%s", root);
    subj(p4, sizeof(p4), "other.bar");
    const char *pubs[] = {p1, p2, p3, p4};
    for (int i = 0; i < 4; i++) natsConnection_PublishString(b, pubs[i], pubs[i]);
    natsConnection_FlushTimeout(b, TIMEOUT_MS);

    natsMsg *ms[MAXMSGS], *mg[MAXMSGS], *ml[MAXMSGS];
    int ns = collect(star, 1, TIMEOUT_MS, GRACE_MS, ms);
    int ng = collect(gt, 2, TIMEOUT_MS, 50, mg);
    int nl = collect(lit, 1, TIMEOUT_MS, 50, ml);
    check("wildcard: foo.* gets only foo.bar (1 msg)",
          ns == 1 && strcmp(natsMsg_GetSubject(ms[0]), p1) == 0, "got %d", ns);
    int gt_ok = ng == 2 &&
                ((strcmp(natsMsg_GetSubject(mg[0]), p1) == 0 && strcmp(natsMsg_GetSubject(mg[1]), p2) == 0) ||
                 (strcmp(natsMsg_GetSubject(mg[0]), p2) == 0 && strcmp(natsMsg_GetSubject(mg[1]), p1) == 0));
    check("wildcard: foo.> gets foo.bar + foo.bar.baz (2 msgs)", gt_ok, "got %d", ng);
    check("wildcard: literal foo gets only foo (1 msg)",
          nl == 1 && strcmp(natsMsg_GetSubject(ml[0]), p3) == 0, "got %d", nl);
    int payload_ok = 1;
    for (int i = 0; i < ns && i < MAXMSGS; i++) payload_ok &= data_is(ms[i], natsMsg_GetSubject(ms[i]));
    for (int i = 0; i < ng && i < MAXMSGS; i++) payload_ok &= data_is(mg[i], natsMsg_GetSubject(mg[i]));
    for (int i = 0; i < nl && i < MAXMSGS; i++) payload_ok &= data_is(ml[i], natsMsg_GetSubject(ml[i]));
    check("wildcard: MSG carries published subject and payload", payload_ok, NULL);
    free_msgs(ms, ns); free_msgs(mg, ng); free_msgs(ml, nl);
    natsSubscription_Unsubscribe(star); natsSubscription_Destroy(star);
    natsSubscription_Unsubscribe(gt); natsSubscription_Destroy(gt);
    natsSubscription_Unsubscribe(lit); natsSubscription_Destroy(lit);
}

static void s_queue(natsConnection *a, natsConnection *b)
{
    char s[128];
    enum { N = 30 };
    natsSubscription *q[3] = {NULL, NULL, NULL}, *plain = NULL;
    subj(s, sizeof(s), "q");
    for (int i = 0; i < 3; i++) natsConnection_QueueSubscribeSync(&q[i], a, s, "workers");
    natsConnection_SubscribeSync(&plain, a, s);
    natsConnection_FlushTimeout(a, TIMEOUT_MS);
    for (int i = 0; i < N; i++) {
        char buf[16];
        snprintf(buf, sizeof(buf), "%d", i);
        natsConnection_PublishString(b, s, buf);
    }
    natsConnection_FlushTimeout(b, TIMEOUT_MS);
    natsMsg *m[MAXMSGS];
    int np = collect(plain, N, TIMEOUT_MS, 0, m);
    free_msgs(m, np);
    int seen[N] = {0}, per[3] = {0, 0, 0}, total = 0, bad = 0;
    int64_t deadline = now_ms() + TIMEOUT_MS;
    int grace_done = 0;
    for (;;) {
        for (int i = 0; i < 3; i++) {
            int k = collect(q[i], N, 10, 0, m);
            for (int j = 0; j < k && j < MAXMSGS; j++) {
                int v = atoi(natsMsg_GetData(m[j]));
                if (v >= 0 && v < N) seen[v]++; else bad++;
            }
            free_msgs(m, k);
            per[i] += k;
            total += k;
        }
        if (total >= N) {
            if (grace_done) break;
            sleep_ms(GRACE_MS);
            grace_done = 1;
        } else if (now_ms() > deadline) {
            break;
        }
    }
    /* plain: extras after grace */
    int extra = collect(plain, 0, 0, 10, m);
    free_msgs(m, extra);
    check("queue: plain subscriber gets all 30", np + extra == N, "got %d", np + extra);
    check("queue: group members total exactly 30", total == N, "per member [%d, %d, %d]", per[0], per[1], per[2]);
    int once = !bad;
    for (int i = 0; i < N; i++) once &= (seen[i] == 1);
    check("queue: each message delivered to exactly one member", once, NULL);
    for (int i = 0; i < 3; i++) { natsSubscription_Unsubscribe(q[i]); natsSubscription_Destroy(q[i]); }
    natsSubscription_Unsubscribe(plain);
    natsSubscription_Destroy(plain);
}

static void expect_no_responders(natsConnection *b, const char *s, const char *label, int64_t max_ms)
{
    natsMsg *r = NULL;
    int64_t t0 = now_ms();
    natsStatus st = natsConnection_RequestString(&r, b, s, "x", 2000);
    int64_t el = now_ms() - t0;
    if (st == NATS_OK) {
        check(label, 0, "got a reply");
        natsMsg_Destroy(r);
    } else {
        /* (nats_GetLastError() is not updated for this status: print the status text only) */
        check(label, st == NATS_NO_RESPONDERS && el < max_ms, "status=NATS_NO_RESPONDERS? %s: '%s' (%d) after %lld ms",
              st == NATS_NO_RESPONDERS ? "yes" : "no", natsStatus_GetText(st), (int)st, (long long)el);
    }
}

static void s_request(natsConnection *a, natsConnection *b)
{
    char s[128], s2[128];
    natsSubscription *rsub = NULL;
    subj(s, sizeof(s), "svc");
    natsConnection_Subscribe(&rsub, a, s, echo_prefix_cb, NULL);
    natsConnection_FlushTimeout(a, TIMEOUT_MS);
    natsMsg *r = NULL;
    natsStatus st = natsConnection_RequestString(&r, b, s, "ping", TIMEOUT_MS);
    check("request: reply received from responder", st == NATS_OK && data_is(r, "re:ping"),
          "status=%s", natsStatus_GetText(st));
    if (r) natsMsg_Destroy(r);
    natsSubscription_Unsubscribe(rsub);
    natsSubscription_Destroy(rsub);
    expect_no_responders(b, subj(s2, sizeof(s2), "nobody.home"),
                         "no-responders: request fails fast with NATS_NO_RESPONDERS", 1500);
}

static void s_headers(natsConnection *a, natsConnection *b)
{
    char s[128], rs[128];
    natsSubscription *sub = NULL;
    natsMsg *m[MAXMSGS];
    subj(s, sizeof(s), "hdr");
    natsConnection_SubscribeSync(&sub, a, s);
    natsConnection_FlushTimeout(a, TIMEOUT_MS);
    natsMsg *out = NULL;
    natsMsg_Create(&out, s, NULL, "with headers", 12);
    natsMsgHeader_Set(out, "X-Single", "one");
    natsMsgHeader_Add(out, "X-Multi", "a");
    natsMsgHeader_Add(out, "X-Multi", "b");
    natsMsgHeader_Set(out, "X-Other", "two words");
    natsStatus st = natsConnection_PublishMsg(b, out);
    natsMsg_Destroy(out);
    natsConnection_FlushTimeout(b, TIMEOUT_MS);
    int n = collect(sub, 1, TIMEOUT_MS, GRACE_MS, m);
    check("headers: message with headers delivered", st == NATS_OK && n == 1, "publish=%s got %d",
          natsStatus_GetText(st), n);
    if (n == 1) {
        const char *v1 = NULL, *v2 = NULL;
        natsMsgHeader_Get(m[0], "X-Single", &v1);
        natsMsgHeader_Get(m[0], "X-Other", &v2);
        check("headers: single values intact",
              v1 && v2 && strcmp(v1, "one") == 0 && strcmp(v2, "two words") == 0,
              "X-Single=%s X-Other=%s", v1 ? v1 : "(null)", v2 ? v2 : "(null)");
        const char **vals = NULL;
        int nv = 0;
        natsMsgHeader_Values(m[0], "X-Multi", &vals, &nv);
        check("headers: multi-value header keeps both values in order",
              nv == 2 && strcmp(vals[0], "a") == 0 && strcmp(vals[1], "b") == 0, "count %d", nv);
        free((void *)vals);
        check("headers: payload intact", data_is(m[0], "with headers"), NULL);
    }
    free_msgs(m, n);
    natsSubscription_Unsubscribe(sub);
    natsSubscription_Destroy(sub);

    /* request/reply with headers both ways */
    natsSubscription *rsub = NULL;
    subj(rs, sizeof(rs), "hsvc");
    natsConnection_Subscribe(&rsub, a, rs, header_echo_cb, NULL);
    natsConnection_FlushTimeout(a, TIMEOUT_MS);
    natsMsg *req = NULL, *rep = NULL;
    natsMsg_Create(&req, rs, NULL, "q", 1);
    natsMsgHeader_Set(req, "X-Req", "v1");
    natsMsgHeader_Add(req, "X-Multi", "m1");
    natsMsgHeader_Add(req, "X-Multi", "m2");
    st = natsConnection_RequestMsg(&rep, b, req, TIMEOUT_MS);
    natsMsg_Destroy(req);
    int ok = 0;
    const char *e = NULL, *rr = NULL;
    int nv = 0;
    if (st == NATS_OK) {
        const char **vals = NULL;
        natsMsgHeader_Get(rep, "X-Echo", &e);
        natsMsgHeader_Get(rep, "X-Resp", &rr);
        natsMsgHeader_Values(rep, "X-Multi-Echo", &vals, &nv);
        ok = e && rr && strcmp(e, "v1") == 0 && strcmp(rr, "yes") == 0 && data_is(rep, "ok") &&
             nv == 2 && strcmp(vals[0], "m1") == 0 && strcmp(vals[1], "m2") == 0;
        free((void *)vals);
    }
    check("headers: request/reply carries headers both ways", ok, "status=%s X-Echo=%s X-Resp=%s X-Multi-Echo count=%d",
          natsStatus_GetText(st), e ? e : "(null)", rr ? rr : "(null)", nv);
    if (rep) natsMsg_Destroy(rep);
    natsSubscription_Unsubscribe(rsub);
    natsSubscription_Destroy(rsub);
}

static void s_automax(natsConnection *a, natsConnection *b)
{
    char s[128], s3[128];
    natsSubscription *sub = NULL;
    natsMsg *m[MAXMSGS];
    subj(s, sizeof(s), "max");
    natsConnection_SubscribeSync(&sub, a, s);
    natsStatus st = natsSubscription_AutoUnsubscribe(sub, 3); /* UNSUB <sid> 3 */
    natsConnection_FlushTimeout(a, TIMEOUT_MS);
    for (int i = 0; i < 10; i++) {
        char buf[16];
        snprintf(buf, sizeof(buf), "%d", i);
        natsConnection_PublishString(b, s, buf);
    }
    natsConnection_FlushTimeout(b, TIMEOUT_MS);
    int n = collect(sub, 3, TIMEOUT_MS, GRACE_MS, m);
    int ok = st == NATS_OK && n == 3 && data_is(m[0], "0") && data_is(m[1], "1") && data_is(m[2], "2");
    check("auto-unsubscribe: AutoUnsubscribe(3) delivers exactly 3 of 10", ok, "got %d", n);
    free_msgs(m, n);
    check("auto-unsubscribe: subscription invalid client-side", !natsSubscription_IsValid(sub), NULL);
    natsSubscription_Destroy(sub);
    expect_no_responders(b, s, "auto-unsubscribe: server dropped interest (request -> no responders)", 2000);

    natsSubscription *sub3 = NULL;
    subj(s3, sizeof(s3), "unsub");
    natsConnection_SubscribeSync(&sub3, a, s3);
    natsConnection_FlushTimeout(a, TIMEOUT_MS);
    natsSubscription_Unsubscribe(sub3);
    natsConnection_FlushTimeout(a, TIMEOUT_MS);
    natsSubscription_Destroy(sub3);
    expect_no_responders(b, s3, "unsubscribe: server dropped interest (request -> no responders)", 2000);
}

static void s_payload(natsConnection *a, natsConnection *b)
{
    char s[128];
    natsSubscription *rsub = NULL;
    subj(s, sizeof(s), "big");
    natsConnection_Subscribe(&rsub, a, s, echo_raw_cb, NULL);
    natsConnection_FlushTimeout(a, TIMEOUT_MS);
    size_t sizes[2] = {512 * 1024, MAX_PAYLOAD};
    const char *names[2] = {"payload: 512 KiB round-trips intact",
                            "payload: exactly max_payload (1 MiB) round-trips intact"};
    for (int k = 0; k < 2; k++) {
        unsigned char *buf = malloc(sizes[k]);
        for (size_t i = 0; i < sizes[k]; i++) buf[i] = (unsigned char)(rand() & 0xff);
        natsMsg *r = NULL;
        natsStatus st = natsConnection_Request(&r, b, s, buf, (int)sizes[k], TIMEOUT_MS);
        int ok = st == NATS_OK && (size_t)natsMsg_GetDataLength(r) == sizes[k] &&
                 memcmp(natsMsg_GetData(r), buf, sizes[k]) == 0;
        check(names[k], ok, "status=%s len %d", natsStatus_GetText(st), r ? natsMsg_GetDataLength(r) : -1);
        if (r) natsMsg_Destroy(r);
        free(buf);
    }
    natsSubscription_Unsubscribe(rsub);
    natsSubscription_Destroy(rsub);

    char *too = calloc(1, MAX_PAYLOAD + 1);
    natsStatus st = natsConnection_Publish(b, s, too, MAX_PAYLOAD + 1);
    if (st != NATS_OK) {
        check("payload: > max_payload rejected", 1, "client-side status=%s (%d) '%s'",
              natsStatus_GetText(st), (int)st, lasterr(st));
    } else {
        natsConnection_FlushTimeout(b, TIMEOUT_MS);
        sleep_ms(500);
        check("payload: > max_payload rejected", natsConnection_IsClosed(b),
              "client did not reject locally and connection still open");
    }
    free(too);
}

static void s_auth_neg(void)
{
    char wrong[256];
    struct { const char *label, *user, *pass, *token; } cases[4];
    int nc = 0;
    static char wuser[256], wpass[256], wtok[256];
    if (strcmp(g_mode, "user") == 0 || strcmp(g_mode, "bcrypt") == 0) {
        snprintf(wpass, sizeof(wpass), "%sx", g_pass);
        snprintf(wuser, sizeof(wuser), "%sx", g_user);
        cases[nc].label = "wrong password"; cases[nc].user = g_user; cases[nc].pass = wpass; cases[nc].token = NULL; nc++;
        cases[nc].label = "wrong user"; cases[nc].user = wuser; cases[nc].pass = g_pass; cases[nc].token = NULL; nc++;
    } else if (strcmp(g_mode, "token") == 0) {
        snprintf(wtok, sizeof(wtok), "%sx", g_token);
        cases[nc].label = "wrong token"; cases[nc].user = NULL; cases[nc].pass = NULL; cases[nc].token = wtok; nc++;
    }
    cases[nc].label = "no credentials"; cases[nc].user = NULL; cases[nc].pass = NULL; cases[nc].token = NULL; nc++;
    for (int i = 0; i < nc; i++) {
        natsConnection *c = NULL;
        int64_t t0 = now_ms();
        natsStatus st = do_connect(&c, "c-interop-bad", cases[i].user, cases[i].pass, cases[i].token);
        int64_t el = now_ms() - t0;
        snprintf(wrong, sizeof(wrong), "auth: %s rejected with 'Authorization Violation'", cases[i].label);
        if (st == NATS_OK) {
            check(wrong, 0, "connected");
            natsConnection_Close(c);
            natsConnection_Destroy(c);
        } else {
            const char *t = lasterr(st);
            check(wrong, strstr(t, "Authorization Violation") != NULL || strstr(t, "authorization violation") != NULL,
                  "status=%s (%d) '%s' after %lld ms", natsStatus_GetText(st), (int)st, t, (long long)el);
        }
    }
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s URL MODE [USER PASS | TOKEN]\n", argv[0]);
        return 64;
    }
    signal(SIGALRM, on_alarm);
    alarm(WATCHDOG_S);
    g_url = argv[1];
    g_mode = argv[2];
    if (strcmp(g_mode, "user") == 0 || strcmp(g_mode, "bcrypt") == 0) {
        if (argc < 5) { fprintf(stderr, "mode %s needs USER PASS\n", g_mode); return 64; }
        g_user = argv[3];
        g_pass = argv[4];
    } else if (strcmp(g_mode, "token") == 0) {
        if (argc < 4) { fprintf(stderr, "mode token needs TOKEN\n"); return 64; }
        g_token = argv[3];
    } else if (strcmp(g_mode, "none") != 0) {
        fprintf(stderr, "unknown mode %s\n", g_mode);
        return 64;
    }
    srand((unsigned)getpid());
    snprintf(g_prefix, sizeof(g_prefix), "c%d_%lld", (int)getpid(), (long long)(now_ms() % 1000000));
    printf("# [%s] libnats %s url=%s mode=%s\n", CLIENT, nats_GetVersion(), g_url, g_mode);
    fflush(stdout);

    if (nats_Open(-1) != NATS_OK) {
        check("nats_Open", 0, NULL);
        return 1;
    }
    natsConnection *a = NULL, *b = NULL;
    natsStatus st = do_connect(&a, "c-interop-a", g_user, g_pass, g_token);
    if (st == NATS_OK) st = do_connect(&b, "c-interop-b", g_user, g_pass, g_token);
    if (st != NATS_OK) {
        check("connect: with valid credentials", 0, "status=%s '%s'", natsStatus_GetText(st), lasterr(st));
        return 1;
    }
    s_connect(a, b);
    s_pubsub(a, b);
    s_queue(a, b);
    s_request(a, b);
    s_headers(a, b);
    s_automax(a, b);
    if (strcmp(g_mode, "none") == 0)
        s_payload(a, b);
    else
        s_auth_neg();

    natsConnection_Close(a);
    natsConnection_Close(b);
    natsConnection_Destroy(a);
    natsConnection_Destroy(b);
    nats_CloseAndWait(2000);
    printf("# [%s] mode=%s: %d passed, %d failed\n", CLIENT, g_mode, passes, failures);
    fflush(stdout);
    return failures ? 1 : 0;
}
