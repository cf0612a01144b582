/*
 * NATS cluster interop scenario using the official C client (Debian libnats-dev).
 *
 * usage: c_cluster CTL_DIR KILL URL1 URL2 URL3
 *   URL1..3  client URLs of the three cluster nodes (N1, N2, N3)
 *   KILL     index (1..3) of the node run.sh kills (SIGKILL) and restarts
 *   CTL_DIR  control directory shared with run.sh: this scenario creates
 *            kill.req / restart.req and waits for kill.done / restart.done
 *
 * build: gcc -O1 -Wall -o c_cluster c_cluster.c $(pkg-config --cflags --libs libnats) -lpthread
 *
 * Prints one PASS/FAIL line per check; exits 1 if any check failed, 2 on the
 * global watchdog (alarm). Every wait is bounded; readiness is polled.
 */
#include <nats/nats.h>

#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CLIENT "c"
#define TIMEOUT_MS 5000
#define READY_MS 10000
#define READY_DEGRADED_MS 1000 /* the readiness bound once a readiness wait has failed */
#define GRACE_MS 300
#define WATCHDOG_S 80
#define MAXC 4096

static int passes = 0, failures = 0;
static char g_prefix[64];
static const char *g_urls[3];
static const char *g_ctl;
static int g_kill; /* 0-based */
static natsConnection *cs[3];
static int probe_n = 0;
static int64_t ready_bound = READY_MS;
static int ready_failures = 0; /* later steps are skipped once interest failed to cross */

static int check(const char *name, int ok, const char *fmt, ...)
{
    char detail[2048] = "";
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

static void note(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("# [%s] ", CLIENT);
    vprintf(fmt, ap);
    printf("\n");
    fflush(stdout);
    va_end(ap);
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

static const char *subj(char *buf, size_t n, const char *fmt, ...)
{
    char tail[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tail, sizeof(tail), fmt, ap);
    va_end(ap);
    snprintf(buf, n, "%s.%s", g_prefix, tail);
    return buf;
}

static const char *netloc(const char *url)
{
    const char *p = strstr(url, "://");
    return p ? p + 3 : url;
}

static int data_is(natsMsg *m, const char *s)
{
    return natsMsg_GetDataLength(m) == (int)strlen(s) && memcmp(natsMsg_GetData(m), s, strlen(s)) == 0;
}

static void quiet_err(natsConnection *nc, natsSubscription *sub, natsStatus err, void *closure)
{
    (void)nc; (void)sub; (void)err; (void)closure;
}

static natsStatus connect_one(natsConnection **nc, const char *url, const char *name)
{
    natsOptions *o = NULL;
    natsStatus s = natsOptions_Create(&o);
    if (s == NATS_OK) s = natsOptions_SetURL(o, url);
    if (s == NATS_OK) s = natsOptions_SetName(o, name);
    if (s == NATS_OK) s = natsOptions_SetAllowReconnect(o, false);
    if (s == NATS_OK) s = natsOptions_SetTimeout(o, 3000);
    if (s == NATS_OK) s = natsOptions_SetErrorHandler(o, quiet_err, NULL);
    if (s == NATS_OK) s = natsConnection_Connect(nc, o);
    natsOptions_Destroy(o);
    return s;
}

/* ------------------------------------------------------------ collectors */

typedef struct {
    pthread_mutex_t mu;
    int n;
    natsMsg *m[MAXC];
} coll_t;

static coll_t *coll_new(void)
{
    coll_t *c = calloc(1, sizeof(coll_t));
    pthread_mutex_init(&c->mu, NULL);
    return c;
}

static void coll_cb(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)nc; (void)sub;
    coll_t *c = closure;
    pthread_mutex_lock(&c->mu);
    if (c->n < MAXC) c->m[c->n] = msg; else natsMsg_Destroy(msg);
    c->n++;
    pthread_mutex_unlock(&c->mu);
}

static int coll_count(coll_t *c)
{
    pthread_mutex_lock(&c->mu);
    int n = c->n;
    pthread_mutex_unlock(&c->mu);
    return n;
}

static void coll_free(coll_t *c)
{
    for (int i = 0; i < c->n && i < MAXC; i++) natsMsg_Destroy(c->m[i]);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

/* Waits (bounded) until every collector has at least want[i], then GRACE_MS. */
static void wait_counts(coll_t **cols, const int *want, int k, int64_t bound)
{
    int64_t deadline = now_ms() + bound;
    for (;;) {
        int ok = 1;
        for (int i = 0; i < k; i++) ok &= coll_count(cols[i]) >= want[i];
        if (ok || now_ms() >= deadline) break;
        sleep_ms(20);
    }
    sleep_ms(GRACE_MS);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Payloads of a collector, sorted, joined with ','. */
static void sorted_payloads(coll_t *c, char *out, size_t n)
{
    pthread_mutex_lock(&c->mu);
    int k = c->n < MAXC ? c->n : MAXC;
    char **v = calloc(k + 1, sizeof(char *));
    for (int i = 0; i < k; i++) {
        int len = natsMsg_GetDataLength(c->m[i]);
        v[i] = calloc(len + 1, 1);
        memcpy(v[i], natsMsg_GetData(c->m[i]), len);
    }
    pthread_mutex_unlock(&c->mu);
    qsort(v, k, sizeof(char *), cmp_str);
    out[0] = 0;
    for (int i = 0; i < k; i++) {
        if (i) strncat(out, ",", n - strlen(out) - 1);
        strncat(out, v[i], n - strlen(out) - 1);
        free(v[i]);
    }
    free(v);
}

/* Sorted, ','-joined list of strings. */
static void sorted_join(char **v, int k, char *out, size_t n)
{
    qsort(v, k, sizeof(char *), cmp_str);
    out[0] = 0;
    for (int i = 0; i < k; i++) {
        if (i) strncat(out, ",", n - strlen(out) - 1);
        strncat(out, v[i], n - strlen(out) - 1);
    }
}

/* ------------------------------------------------------------ responders */

typedef struct {
    const char *prefix;
    int append; /* reply = prefix + request data when set, else prefix */
} resp_t;

static void resp_cb(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)sub;
    resp_t *r = closure;
    char buf[512];
    int n = snprintf(buf, sizeof(buf), "%s", r->prefix);
    if (r->append) n += snprintf(buf + n, sizeof(buf) - n, "%.*s", natsMsg_GetDataLength(msg), natsMsg_GetData(msg));
    if (natsMsg_GetReply(msg) != NULL) natsConnection_Publish(nc, natsMsg_GetReply(msg), buf, n);
    natsMsg_Destroy(msg);
}

static resp_t R_UP = {"up", 0}, R_X = {"x", 0}, R_R = {"r:", 1};
static resp_t R_SVC[3] = {{"0:", 1}, {"1:", 1}, {"2:", 1}};
static resp_t R_SURV[3] = {{"0", 0}, {"1", 0}, {"2", 0}};

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

/* ------------------------------------------------------------ polling helpers */

/* Requests until a reply comes; returns the reply (caller destroys) or NULL. */
static natsMsg *request_until(natsConnection *nc, const char *s, const char *data, int64_t bound, char *why, size_t wn)
{
    int64_t deadline = now_ms() + bound;
    snprintf(why, wn, "never tried");
    while (now_ms() < deadline) {
        natsMsg *r = NULL;
        natsStatus st = natsConnection_RequestString(&r, nc, s, data, 500);
        if (st == NATS_OK) {
            snprintf(why, wn, "ok");
            return r;
        }
        snprintf(why, wn, "%s", st == NATS_NO_RESPONDERS ? "no responders" : natsStatus_GetText(st));
        if (st != NATS_TIMEOUT) sleep_ms(20);
    }
    return NULL;
}

/* True once a request to s is answered by no-responders (interest gone). */
static int no_responders_within(natsConnection *nc, const char *s, char *why, size_t wn)
{
    int64_t deadline = now_ms() + TIMEOUT_MS;
    snprintf(why, wn, "never tried");
    while (now_ms() < deadline) {
        natsMsg *r = NULL;
        natsStatus st = natsConnection_RequestString(&r, nc, s, "x", 500);
        if (st == NATS_NO_RESPONDERS) {
            snprintf(why, wn, "no responders");
            return 1;
        }
        if (st == NATS_OK) {
            natsMsg_Destroy(r);
            snprintf(why, wn, "answered");
            sleep_ms(20);
        } else if (st == NATS_TIMEOUT) {
            snprintf(why, wn, "timeout (the route still has the interest)");
        } else {
            snprintf(why, wn, "%s", natsStatus_GetText(st));
            sleep_ms(20);
        }
    }
    return 0;
}

static int until_discovered(natsConnection *nc, int skip_a, int skip_b, int64_t bound, char *got, size_t gn);

/* Waits until sub_nc's subscriptions so far are known on the nodes of the
 * publishers: a probe responder subscribed last on sub_nc (interest crosses
 * a route in order) is requested from each until answered. */
static int ready(natsConnection *sub_nc, const char *sub_name, natsConnection **pubs, const char **pub_names, int np)
{
    char probe[160], why[128], name[256];
    natsSubscription *ps = NULL;
    subj(probe, sizeof(probe), "probe.%d", ++probe_n);
    natsConnection_Subscribe(&ps, sub_nc, probe, resp_cb, &R_UP);
    natsConnection_FlushTimeout(sub_nc, TIMEOUT_MS);
    int ok = 1;
    for (int i = 0; i < np; i++) {
        int64_t t0 = now_ms();
        natsMsg *r = request_until(pubs[i], probe, "?", ready_bound, why, sizeof(why));
        if (r == NULL) {
            snprintf(name, sizeof(name), "ready: interest of %s reaches %s", sub_name, pub_names[i]);
            ok = check(name, 0, "no answer within %llds (%s)", (long long)ready_bound / 1000, why);
            ready_bound = READY_DEGRADED_MS; /* fail fast from now on */
            ready_failures++;
        } else {
            if (now_ms() - t0 > 1000)
                note("interest of %s reached %s after %.2fs", sub_name, pub_names[i], (now_ms() - t0) / 1000.0);
            natsMsg_Destroy(r);
        }
    }
    natsSubscription_Unsubscribe(ps);
    natsSubscription_Destroy(ps);
    return ok;
}

static const char *NN[3] = {"N1", "N2", "N3"};

/* ready() from node i's connection to the two others. */
static void ready_others(int i, const char *what)
{
    natsConnection *p[2];
    const char *pn[2];
    int k = 0;
    char name[64];
    for (int j = 0; j < 3; j++)
        if (j != i) { p[k] = cs[j]; pn[k] = NN[j]; k++; }
    snprintf(name, sizeof(name), "%s %s", NN[i], what);
    ready(cs[i], name, p, pn, 2);
}

/* Discovered servers of nc include the URLs of every node but skip_a/skip_b. */
static int until_discovered(natsConnection *nc, int skip_a, int skip_b, int64_t bound, char *got, size_t gn)
{
    int64_t deadline = now_ms() + bound;
    for (;;) {
        char **servers = NULL;
        int count = 0, found = 0, want = 0;
        got[0] = 0;
        if (natsConnection_GetDiscoveredServers(nc, &servers, &count) == NATS_OK) {
            for (int j = 0; j < 3; j++) {
                if (j == skip_a || j == skip_b) continue;
                want++;
                for (int i = 0; i < count; i++)
                    if (strcmp(netloc(servers[i]), netloc(g_urls[j])) == 0) { found++; break; }
            }
            sorted_join(servers, count, got, gn);
            for (int i = 0; i < count; i++) free(servers[i]);
            free(servers);
        }
        if (found == want) return 1;
        if (now_ms() >= deadline) return 0;
        sleep_ms(20);
    }
}

/* ------------------------------------------------------------ scenarios */

static void s_gossip(void)
{
    char got[1024], name[128];
    int64_t deadline = now_ms() + READY_MS; /* one bound for the three */
    for (int i = 0; i < 3; i++) {
        int64_t left = deadline - now_ms();
        int ok = until_discovered(cs[i], i, i, left > 0 ? left : 0, got, sizeof(got));
        snprintf(name, sizeof(name), "gossip: client on %s learns the other nodes from INFO connect_urls", NN[i]);
        check(name, ok, "discovered servers [%s]", got);
    }
}

static void s_pubsub(void)
{
    char s[160], buf[32], name[160];
    enum { PER = 10 };
    coll_t *cols[3];
    natsSubscription *subs[3];
    subj(s, sizeof(s), "plain");
    for (int i = 0; i < 3; i++) {
        cols[i] = coll_new();
        natsConnection_Subscribe(&subs[i], cs[i], s, coll_cb, cols[i]);
    }
    for (int i = 0; i < 3; i++) ready_others(i, "sub");
    for (int i = 0; i < 3; i++) {
        for (int k = 0; k < PER; k++) {
            snprintf(buf, sizeof(buf), "%d:%d", i, k);
            natsConnection_PublishString(cs[i], s, buf);
        }
        natsConnection_FlushTimeout(cs[i], TIMEOUT_MS);
    }
    int want[3] = {3 * PER, 3 * PER, 3 * PER};
    wait_counts(cols, want, 3, TIMEOUT_MS);
    for (int i = 0; i < 3; i++) {
        natsSubscription_Unsubscribe(subs[i]);
        natsSubscription_Destroy(subs[i]);
        int n = coll_count(cols[i]);
        /* exact set and per-publisher order */
        int next[3] = {0, 0, 0}, ordered = 1, bad = 0;
        for (int k = 0; k < n && k < MAXC; k++) {
            int p = -1, q = -1;
            char tmp[32];
            snprintf(tmp, sizeof(tmp), "%.*s", natsMsg_GetDataLength(cols[i]->m[k]), natsMsg_GetData(cols[i]->m[k]));
            if (sscanf(tmp, "%d:%d", &p, &q) != 2 || p < 0 || p > 2) { bad = 1; continue; }
            if (q != next[p]) ordered = 0;
            next[p] = q + 1;
        }
        snprintf(name, sizeof(name), "pubsub: subscriber on %s gets all 30 (10 from each node), none twice", NN[i]);
        check(name, n == 3 * PER && !bad && ordered, "got %d", n);
        snprintf(name, sizeof(name), "pubsub: subscriber on %s sees each publisher's order", NN[i]);
        check(name, ordered && next[0] == PER && next[1] == PER && next[2] == PER, NULL);
        coll_free(cols[i]);
    }
}

static void s_wildcards(void)
{
    char root[160], pat[3][170], pubs[4][170], buf[1024], got[2048], exp[2048], name[160];
    coll_t *cols[3];
    natsSubscription *subs[3];
    subj(root, sizeof(root), "w");
    snprintf(pat[0], sizeof(pat[0]), "%s.*", root);
    snprintf(pat[1], sizeof(pat[1]), "%s.>", root);
    snprintf(pat[2], sizeof(pat[2]), "%s", root);
    for (int i = 0; i < 3; i++) {
        cols[i] = coll_new();
        natsConnection_Subscribe(&subs[i], cs[i], pat[i], coll_cb, cols[i]);
    }
    for (int i = 0; i < 3; i++) ready_others(i, "sub");
    snprintf(pubs[0], sizeof(pubs[0]), "%s.a", root);
    snprintf(pubs[1], sizeof(pubs[1]), "%s.a.b", root);
    snprintf(pubs[2], sizeof(pubs[2]), "%s", root);
    subj(pubs[3], sizeof(pubs[3]), "other.a");
    for (int i = 0; i < 3; i++) {
        for (int p = 0; p < 4; p++) {
            snprintf(buf, sizeof(buf), "%d|%s", i, pubs[p]);
            natsConnection_PublishString(cs[i], pubs[p], buf);
        }
        natsConnection_FlushTimeout(cs[i], TIMEOUT_MS);
    }
    int want[3] = {3, 6, 3};
    wait_counts(cols, want, 3, TIMEOUT_MS);
    /* expected payload lists, built then sorted */
    const char *labels[3] = {"'*' on N1", "'>' on N2", "literal on N3"};
    for (int w = 0; w < 3; w++) {
        char *v[6];
        int k = 0;
        for (int i = 0; i < 3; i++) {
            if (w == 0 || w == 1) { v[k] = malloc(200); snprintf(v[k++], 200, "%d|%s", i, pubs[0]); }
            if (w == 1) { v[k] = malloc(200); snprintf(v[k++], 200, "%d|%s", i, pubs[1]); }
            if (w == 2) { v[k] = malloc(200); snprintf(v[k++], 200, "%d|%s", i, pubs[2]); }
        }
        sorted_join(v, k, exp, sizeof(exp));
        for (int i = 0; i < k; i++) free(v[i]);
        natsSubscription_Unsubscribe(subs[w]);
        natsSubscription_Destroy(subs[w]);
        sorted_payloads(cols[w], got, sizeof(got));
        int subj_ok = 1;
        for (int i = 0; i < cols[w]->n && i < MAXC; i++) {
            const char *d = natsMsg_GetData(cols[w]->m[i]);
            const char *bar = memchr(d, '|', natsMsg_GetDataLength(cols[w]->m[i]));
            subj_ok &= bar != NULL && strlen(natsMsg_GetSubject(cols[w]->m[i])) ==
                                          (size_t)(natsMsg_GetDataLength(cols[w]->m[i]) - (bar + 1 - d)) &&
                       memcmp(bar + 1, natsMsg_GetSubject(cols[w]->m[i]), strlen(natsMsg_GetSubject(cols[w]->m[i]))) == 0;
        }
        snprintf(name, sizeof(name), "wildcards: %s gets exactly its matches from all 3 nodes", labels[w]);
        check(name, strcmp(got, exp) == 0 && subj_ok, "got [%s]", got);
        coll_free(cols[w]);
    }
}

static int seen_once(coll_t **cols, int k, int npub, int per)
{
    int seen[3][64];
    memset(seen, 0, sizeof(seen));
    for (int c = 0; c < k; c++) {
        for (int i = 0; i < cols[c]->n && i < MAXC; i++) {
            char tmp[32];
            int p = -1, q = -1;
            snprintf(tmp, sizeof(tmp), "%.*s", natsMsg_GetDataLength(cols[c]->m[i]), natsMsg_GetData(cols[c]->m[i]));
            if (sscanf(tmp, "%d:%d", &p, &q) != 2 || p < 0 || p >= npub || q < 0 || q >= per) return 0;
            seen[p][q]++;
        }
    }
    for (int p = 0; p < npub; p++)
        for (int q = 0; q < per; q++)
            if (seen[p][q] != 1) return 0;
    return 1;
}

static void s_queue(void)
{
    char s[160], s2[160], buf[32];
    enum { PER = 20, M = 30 };
    coll_t *cols[3];
    natsSubscription *subs[3];
    subj(s, sizeof(s), "q");
    for (int i = 0; i < 3; i++) {
        cols[i] = coll_new();
        natsConnection_QueueSubscribe(&subs[i], cs[i], s, "workers", coll_cb, cols[i]);
    }
    for (int i = 0; i < 3; i++) ready_others(i, "queue member");
    for (int i = 0; i < 3; i++) {
        for (int k = 0; k < PER; k++) {
            snprintf(buf, sizeof(buf), "%d:%d", i, k);
            natsConnection_PublishString(cs[i], s, buf);
        }
        natsConnection_FlushTimeout(cs[i], TIMEOUT_MS);
    }
    int64_t deadline = now_ms() + TIMEOUT_MS;
    while (coll_count(cols[0]) + coll_count(cols[1]) + coll_count(cols[2]) < 3 * PER && now_ms() < deadline) sleep_ms(20);
    sleep_ms(GRACE_MS);
    for (int i = 0; i < 3; i++) { natsSubscription_Unsubscribe(subs[i]); natsSubscription_Destroy(subs[i]); }
    int total = cols[0]->n + cols[1]->n + cols[2]->n;
    check("queue: members on every node, 60 published from all nodes: received exactly once cluster-wide",
          total == 3 * PER && seen_once(cols, 3, 3, PER), "per member {N1: %d, N2: %d, N3: %d}, total %d",
          cols[0]->n, cols[1]->n, cols[2]->n, total);
    for (int i = 0; i < 3; i++) coll_free(cols[i]);

    /* members only on N2 and N3, publisher on N1 */
    coll_t *far[2];
    natsSubscription *fs[2];
    subj(s2, sizeof(s2), "q2");
    for (int i = 0; i < 2; i++) {
        far[i] = coll_new();
        natsConnection_QueueSubscribe(&fs[i], cs[1 + i], s2, "far", coll_cb, far[i]);
    }
    for (int i = 1; i <= 2; i++) {
        char nm[64];
        snprintf(nm, sizeof(nm), "%s queue member", NN[i]);
        ready(cs[i], nm, &cs[0], &NN[0], 1);
    }
    for (int k = 0; k < M; k++) {
        snprintf(buf, sizeof(buf), "0:%d", k);
        natsConnection_PublishString(cs[0], s2, buf);
    }
    natsConnection_FlushTimeout(cs[0], TIMEOUT_MS);
    deadline = now_ms() + TIMEOUT_MS;
    while (coll_count(far[0]) + coll_count(far[1]) < M && now_ms() < deadline) sleep_ms(20);
    sleep_ms(GRACE_MS);
    for (int i = 0; i < 2; i++) { natsSubscription_Unsubscribe(fs[i]); natsSubscription_Destroy(fs[i]); }
    check("queue: members on N2+N3 only, 30 published on N1: each delivered to exactly one member",
          far[0]->n + far[1]->n == M && seen_once(far, 2, 1, M), "N2 %d, N3 %d", far[0]->n, far[1]->n);
    for (int i = 0; i < 2; i++) coll_free(far[i]);
}

static void s_request(void)
{
    char s[160], buf[32], exp[64], name[128];
    natsSubscription *rs[3];
    for (int i = 0; i < 3; i++) natsConnection_Subscribe(&rs[i], cs[i], subj(s, sizeof(s), "svc.%d", i), resp_cb, &R_SVC[i]);
    for (int i = 0; i < 3; i++) ready_others(i, "responder");
    for (int i = 0; i < 3; i++) {
        for (int j = 0; j < 3; j++) {
            if (i == j) continue;
            int good = 0;
            for (int k = 0; k < 5; k++) {
                natsMsg *r = NULL;
                snprintf(buf, sizeof(buf), "q%d", k);
                snprintf(exp, sizeof(exp), "%d:q%d", i, k);
                natsStatus st = natsConnection_RequestString(&r, cs[j], subj(s, sizeof(s), "svc.%d", i), buf, TIMEOUT_MS);
                if (st == NATS_OK) {
                    good += data_is(r, exp);
                    natsMsg_Destroy(r);
                } else {
                    note("request %s -> %s failed: %s", NN[j], NN[i], natsStatus_GetText(st));
                }
            }
            snprintf(name, sizeof(name), "request: %s -> responder on %s: 5 of 5 answered", NN[j], NN[i]);
            check(name, good == 5, "%d ok", good);
        }
    }
    for (int i = 0; i < 3; i++) { natsSubscription_Unsubscribe(rs[i]); natsSubscription_Destroy(rs[i]); }
}

static void s_headers(void)
{
    char s[160], rs[160], body[32];
    coll_t *col = coll_new();
    natsSubscription *sub = NULL;
    subj(s, sizeof(s), "hdr");
    natsConnection_Subscribe(&sub, cs[1], s, coll_cb, col);
    natsConnection *p2[2] = {cs[0], cs[2]};
    const char *n2[2] = {"N1", "N3"};
    ready(cs[1], "N2 sub", p2, n2, 2);
    for (int i = 0; i <= 2; i += 2) {
        natsMsg *out = NULL;
        char from[4];
        snprintf(from, sizeof(from), "%d", i);
        snprintf(body, sizeof(body), "from %d", i);
        natsMsg_Create(&out, s, NULL, body, (int)strlen(body));
        natsMsgHeader_Set(out, "X-From", from);
        natsMsgHeader_Add(out, "X-Multi", "a");
        natsMsgHeader_Add(out, "X-Multi", "b");
        natsMsgHeader_Set(out, "X-Other", "two words");
        natsConnection_PublishMsg(cs[i], out);
        natsMsg_Destroy(out);
        natsConnection_FlushTimeout(cs[i], TIMEOUT_MS);
    }
    int want = 2;
    wait_counts(&col, &want, 1, TIMEOUT_MS);
    natsSubscription_Unsubscribe(sub);
    natsSubscription_Destroy(sub);
    int ok = col->n == 2, seen0 = 0, seen2 = 0;
    for (int i = 0; ok && i < col->n; i++) {
        const char *from = NULL, *other = NULL;
        const char **vals = NULL;
        int nv = 0;
        natsMsg *m = col->m[i];
        natsMsgHeader_Get(m, "X-From", &from);
        natsMsgHeader_Get(m, "X-Other", &other);
        natsMsgHeader_Values(m, "X-Multi", &vals, &nv);
        int multi = nv == 2 && strcmp(vals[0], "a") == 0 && strcmp(vals[1], "b") == 0;
        free((void *)vals);
        if (from == NULL || other == NULL || strcmp(other, "two words") != 0 || !multi) { ok = 0; break; }
        snprintf(body, sizeof(body), "from %s", from);
        if (!data_is(m, body)) { ok = 0; break; }
        seen0 += strcmp(from, "0") == 0;
        seen2 += strcmp(from, "2") == 0;
    }
    check("headers: HPUB from N1 and N3 reach a subscriber on N2 with headers intact (multi-value in order)",
          ok && seen0 == 1 && seen2 == 1, "got %d", col->n);
    coll_free(col);

    natsSubscription *rsub = NULL;
    subj(rs, sizeof(rs), "hsvc");
    natsConnection_Subscribe(&rsub, cs[2], rs, header_echo_cb, NULL);
    ready(cs[2], "N3 responder", &cs[0], &NN[0], 1);
    natsMsg *req = NULL, *rep = NULL;
    natsMsg_Create(&req, rs, NULL, "q", 1);
    natsMsgHeader_Set(req, "X-Req", "v1");
    natsMsgHeader_Add(req, "X-Multi", "m1");
    natsMsgHeader_Add(req, "X-Multi", "m2");
    natsStatus st = natsConnection_RequestMsg(&rep, cs[0], req, TIMEOUT_MS);
    natsMsg_Destroy(req);
    const char *e = NULL, *rr = NULL;
    int nv = 0;
    ok = 0;
    if (st == NATS_OK) {
        const char **vals = NULL;
        natsMsgHeader_Get(rep, "X-Echo", &e);
        natsMsgHeader_Get(rep, "X-Resp", &rr);
        natsMsgHeader_Values(rep, "X-Multi-Echo", &vals, &nv);
        ok = e && rr && strcmp(e, "v1") == 0 && strcmp(rr, "yes") == 0 && data_is(rep, "ok") && nv == 2 &&
             strcmp(vals[0], "m1") == 0 && strcmp(vals[1], "m2") == 0;
        free((void *)vals);
    }
    check("headers: request N1 -> responder on N3 carries headers both ways", ok,
          "status=%s X-Echo=%s X-Resp=%s X-Multi-Echo count=%d", natsStatus_GetText(st), e ? e : "(null)",
          rr ? rr : "(null)", nv);
    if (rep) natsMsg_Destroy(rep);
    natsSubscription_Unsubscribe(rsub);
    natsSubscription_Destroy(rsub);
}

static void s_interest_removed(void)
{
    char g[160], gq[160], why[128], name[160], buf[32];
    natsConnection *x = NULL, *y = NULL;
    natsSubscription *xs1 = NULL, *xs2 = NULL, *ys1 = NULL, *ys2 = NULL;
    natsConnection *p2[2] = {cs[0], cs[2]};
    const char *n2[2] = {"N1", "N3"};
    subj(g, sizeof(g), "gone");
    subj(gq, sizeof(gq), "goneq");
    natsStatus st = connect_one(&x, g_urls[1], "c-cluster-x");
    if (!check("interest: subscriber X connects to N2", st == NATS_OK, "%s", natsStatus_GetText(st))) return;
    natsConnection_Subscribe(&xs1, x, g, resp_cb, &R_X);
    natsConnection_QueueSubscribe(&xs2, x, gq, "g", resp_cb, &R_X);
    ready(x, "N2 subscriber X", p2, n2, 2);
    natsConnection_Close(x);
    natsSubscription_Destroy(xs1);
    natsSubscription_Destroy(xs2);
    natsConnection_Destroy(x);
    const char *ss[2] = {g, gq}, *kinds[2] = {"plain", "queue"};
    for (int t = 0; t < 2; t++) {
        for (int j = 0; j <= 2; j += 2) {
            int ok = no_responders_within(cs[j], ss[t], why, sizeof(why));
            snprintf(name, sizeof(name), "interest: %s sub on N2 closed -> gone on %s (request gets no-responders)",
                     kinds[t], NN[j]);
            check(name, ok, "%s", why);
        }
    }
    st = connect_one(&y, g_urls[1], "c-cluster-y");
    if (!check("interest: subscriber Y connects to N2", st == NATS_OK, "%s", natsStatus_GetText(st))) return;
    coll_t *cols[2] = {coll_new(), coll_new()};
    natsConnection_Subscribe(&ys1, y, g, coll_cb, cols[0]);
    natsConnection_QueueSubscribe(&ys2, y, gq, "g", coll_cb, cols[1]);
    ready(y, "N2 subscriber Y", p2, n2, 2);
    for (int j = 0; j <= 2; j += 2) {
        for (int k = 0; k < 5; k++) {
            snprintf(buf, sizeof(buf), "%d:%d", j, k);
            natsConnection_PublishString(cs[j], g, buf);
            natsConnection_PublishString(cs[j], gq, buf);
        }
        natsConnection_FlushTimeout(cs[j], TIMEOUT_MS);
    }
    int want[2] = {10, 10};
    wait_counts(cols, want, 2, TIMEOUT_MS);
    natsConnection_Close(y);
    check("interest: a new subscriber on N2 gets publishes from N1 and N3 (plain 10, queue 10)",
          cols[0]->n == 10 && cols[1]->n == 10, "plain %d, queue %d", cols[0]->n, cols[1]->n);
    natsSubscription_Destroy(ys1);
    natsSubscription_Destroy(ys2);
    natsConnection_Destroy(y);
    coll_free(cols[0]);
    coll_free(cols[1]);
}

static int ctl(const char *action)
{
    char req[1024], done[1024];
    snprintf(req, sizeof(req), "%s/%s.req", g_ctl, action);
    snprintf(done, sizeof(done), "%s/%s.done", g_ctl, action);
    FILE *f = fopen(req, "w");
    if (f == NULL) return 0;
    fputs(CLIENT "\n", f);
    fclose(f);
    int64_t deadline = now_ms() + 20000;
    while (now_ms() < deadline) {
        if (access(done, F_OK) == 0) return 1;
        sleep_ms(20);
    }
    return 0;
}

/* survivor stream: node a publishes a sequence every 20 ms until stopped */
typedef struct {
    natsConnection *nc;
    const char *subject;
    int stop;
    int sent;
} stream_t;

static void *streamer(void *arg)
{
    stream_t *s = arg;
    char buf[32];
    while (!__atomic_load_n(&s->stop, __ATOMIC_SEQ_CST)) {
        int n = __atomic_load_n(&s->sent, __ATOMIC_SEQ_CST);
        snprintf(buf, sizeof(buf), "%d", n);
        natsConnection_PublishString(s->nc, s->subject, buf);
        __atomic_store_n(&s->sent, n + 1, __ATOMIC_SEQ_CST);
        sleep_ms(20);
    }
    return NULL;
}

static int reconnects = 0, disconnects = 0;
static void on_disc(natsConnection *nc, void *cl) { (void)nc; (void)cl; __atomic_add_fetch(&disconnects, 1, __ATOMIC_SEQ_CST); }
static void on_reco(natsConnection *nc, void *cl) { (void)nc; (void)cl; __atomic_add_fetch(&reconnects, 1, __ATOMIC_SEQ_CST); }

static void s_kill_restart(void)
{
    int k = g_kill, a = -1, b = -1;
    for (int i = 0; i < 3; i++)
        if (i != k) { if (a < 0) a = i; else b = i; }
    char name[256], url[256], why[128], rs[160], st_subj[160], s[160], got[1024];
    natsConnection *surv[2] = {cs[a], cs[b]};
    const char *sn[2] = {NN[a], NN[b]};

    natsOptions *o = NULL;
    natsConnection *r = NULL;
    const char *order[3] = {g_urls[k], g_urls[a], g_urls[b]};
    natsStatus st = natsOptions_Create(&o);
    if (st == NATS_OK) st = natsOptions_SetServers(o, order, 3);
    if (st == NATS_OK) st = natsOptions_SetNoRandomize(o, true);
    if (st == NATS_OK) st = natsOptions_SetName(o, "c-cluster-r");
    if (st == NATS_OK) st = natsOptions_SetAllowReconnect(o, true);
    if (st == NATS_OK) st = natsOptions_SetMaxReconnect(o, 100);
    if (st == NATS_OK) st = natsOptions_SetReconnectWait(o, 100);
    if (st == NATS_OK) st = natsOptions_SetReconnectJitter(o, 0, 0);
    if (st == NATS_OK) st = natsOptions_SetTimeout(o, 2000);
    if (st == NATS_OK) st = natsOptions_SetErrorHandler(o, quiet_err, NULL);
    if (st == NATS_OK) st = natsOptions_SetDisconnectedCB(o, on_disc, NULL);
    if (st == NATS_OK) st = natsOptions_SetReconnectedCB(o, on_reco, NULL);
    if (st == NATS_OK) st = natsConnection_Connect(&r, o);
    natsOptions_Destroy(o);
    url[0] = 0;
    if (st == NATS_OK) natsConnection_GetConnectedUrl(r, url, sizeof(url));
    snprintf(name, sizeof(name), "kill: client R (servers %s,%s,%s) connected to %s", NN[k], NN[a], NN[b], NN[k]);
    if (!check(name, st == NATS_OK && strcmp(netloc(url), netloc(g_urls[k])) == 0, "status=%s url=%s",
               natsStatus_GetText(st), url))
        return;
    natsSubscription *rsub = NULL;
    subj(rs, sizeof(rs), "r.svc");
    natsConnection_Subscribe(&rsub, r, rs, resp_cb, &R_R);
    snprintf(name, sizeof(name), "R on %s", NN[k]);
    ready(r, name, surv, sn, 2);
    /* a responder on the node to kill (its connection dies with it) */
    char dead[160];
    natsSubscription *dsub = NULL;
    subj(dead, sizeof(dead), "dead.svc");
    natsConnection_Subscribe(&dsub, cs[k], dead, resp_cb, &R_X);
    snprintf(name, sizeof(name), "%s responder", NN[k]);
    ready(cs[k], name, surv, sn, 2);

    natsSubscription *svc[2];
    natsConnection_Subscribe(&svc[0], cs[a], subj(s, sizeof(s), "surv.%d", a), resp_cb, &R_SURV[a]);
    natsConnection_Subscribe(&svc[1], cs[b], subj(s, sizeof(s), "surv.%d", b), resp_cb, &R_SURV[b]);

    coll_t *stream = coll_new();
    natsSubscription *ssub = NULL;
    subj(st_subj, sizeof(st_subj), "stream");
    natsConnection_Subscribe(&ssub, cs[b], st_subj, coll_cb, stream);
    snprintf(name, sizeof(name), "%s stream sub", NN[b]);
    ready(cs[b], name, &cs[a], &NN[a], 1);
    snprintf(name, sizeof(name), "%s responder", NN[a]);
    ready(cs[a], name, &cs[b], &NN[b], 1);
    stream_t sd = {cs[a], st_subj, 0, 0};
    pthread_t th;
    pthread_create(&th, NULL, streamer, &sd);
    int five = 5;
    wait_counts(&stream, &five, 1, TIMEOUT_MS);

    int killed = ctl("kill");
    int at_kill = __atomic_load_n(&sd.sent, __ATOMIC_SEQ_CST);
    snprintf(name, sizeof(name), "kill: run.sh killed %s (SIGKILL)", NN[k]);
    check(name, killed, NULL);
    int64_t deadline = now_ms() + READY_MS;
    int ok = 0;
    while (now_ms() < deadline) {
        url[0] = 0;
        if (natsConnection_Status(r) == NATS_CONN_STATUS_CONNECTED &&
            natsConnection_GetConnectedUrl(r, url, sizeof(url)) == NATS_OK &&
            strcmp(netloc(url), netloc(g_urls[k])) != 0) { ok = 1; break; }
        sleep_ms(20);
    }
    snprintf(name, sizeof(name), "kill: R reconnects to a survivor after %s dies", NN[k]);
    check(name, ok, "url=%s disconnects=%d reconnects=%d", url, disconnects, reconnects);
    for (int i = 0; i < 2; i++) {
        int dropped = no_responders_within(surv[i], dead, why, sizeof(why));
        snprintf(name, sizeof(name), "kill: %s drops the interest of dead %s (request gets no-responders)", sn[i], NN[k]);
        check(name, dropped, "%s", why);
    }
    for (int i = 0; i < 2; i++) {
        int64_t t0 = now_ms();
        natsMsg *rep = request_until(surv[i], rs, "again", READY_MS, why, sizeof(why));
        snprintf(name, sizeof(name), "kill: R's subscription (resubscribed) answers a request from %s", sn[i]);
        check(name, rep != NULL && data_is(rep, "r:again"), "%s after %.2fs", why, (now_ms() - t0) / 1000.0);
        if (rep) natsMsg_Destroy(rep);
    }

    /* the survivors' stream must flow while the node is down */
    deadline = now_ms() + TIMEOUT_MS;
    while (__atomic_load_n(&sd.sent, __ATOMIC_SEQ_CST) < at_kill + 5 && now_ms() < deadline) sleep_ms(20);
    int restarted = ctl("restart");
    int at_restart = __atomic_load_n(&sd.sent, __ATOMIC_SEQ_CST);
    snprintf(name, sizeof(name), "restart: run.sh restarted %s on the same ports", NN[k]);
    check(name, restarted, NULL);
    natsConnection *nk = NULL;
    st = connect_one(&nk, g_urls[k], "c-cluster-k2");
    snprintf(name, sizeof(name), "restart: a client connects to restarted %s", NN[k]);
    if (check(name, st == NATS_OK, "%s", natsStatus_GetText(st))) {
        int ids[2] = {a, b};
        for (int i = 0; i < 2; i++) {
            int64_t t0 = now_ms();
            char exp[4];
            snprintf(exp, sizeof(exp), "%d", ids[i]);
            natsMsg *rep = request_until(nk, subj(s, sizeof(s), "surv.%d", ids[i]), "?", 15000, why, sizeof(why));
            snprintf(name, sizeof(name), "restart: client on restarted %s reaches a responder on %s", NN[k], sn[i]);
            check(name, rep != NULL && data_is(rep, exp), "%s after %.2fs", why, (now_ms() - t0) / 1000.0);
            if (rep) natsMsg_Destroy(rep);
        }
        coll_t *back = coll_new();
        natsSubscription *bsub = NULL;
        char bs[160];
        subj(bs, sizeof(bs), "back");
        natsConnection_Subscribe(&bsub, nk, bs, coll_cb, back);
        snprintf(name, sizeof(name), "restarted %s sub", NN[k]);
        ready(nk, name, surv, sn, 2);
        for (int i = 0; i < 2; i++) {
            char d[4];
            snprintf(d, sizeof(d), "%d", ids[i]);
            natsConnection_PublishString(surv[i], bs, d);
            natsConnection_FlushTimeout(surv[i], TIMEOUT_MS);
        }
        int two = 2;
        wait_counts(&back, &two, 1, TIMEOUT_MS);
        natsSubscription_Unsubscribe(bsub);
        natsSubscription_Destroy(bsub);
        char exp[16];
        snprintf(exp, sizeof(exp), "%d,%d", a, b);
        sorted_payloads(back, got, sizeof(got));
        snprintf(name, sizeof(name), "restart: a subscriber on restarted %s gets publishes from %s and %s", NN[k],
                 NN[a], NN[b]);
        check(name, strcmp(got, exp) == 0, "got [%s]", got);
        coll_free(back);
        ok = until_discovered(nk, k, k, READY_MS, got, sizeof(got));
        snprintf(name, sizeof(name), "restart: client on restarted %s learns the others from connect_urls", NN[k]);
        check(name, ok, "discovered servers [%s]", got);
        natsConnection_Close(nk);
        natsConnection_Destroy(nk);
    }

    /* let the stream run on a little after the restart, then stop it */
    deadline = now_ms() + TIMEOUT_MS;
    while (__atomic_load_n(&sd.sent, __ATOMIC_SEQ_CST) < at_restart + 5 && now_ms() < deadline) sleep_ms(20);
    __atomic_store_n(&sd.stop, 1, __ATOMIC_SEQ_CST);
    pthread_join(th, NULL);
    natsConnection_FlushTimeout(cs[a], TIMEOUT_MS);
    int total = sd.sent;
    wait_counts(&stream, &total, 1, TIMEOUT_MS);
    natsSubscription_Unsubscribe(ssub);
    natsSubscription_Destroy(ssub);
    int in_order = stream->n == total;
    for (int i = 0; in_order && i < stream->n && i < MAXC; i++) {
        char d[16];
        snprintf(d, sizeof(d), "%d", i);
        in_order &= data_is(stream->m[i], d);
    }
    snprintf(name, sizeof(name), "survivors: stream %s -> %s never stopped: all %d in order, none lost or twice", NN[a],
             NN[b], total);
    check(name, in_order && at_kill > 0 && at_kill < at_restart && at_restart < total,
          "got %d, sent %d (at kill %d, at restart %d)", stream->n, total, at_kill, at_restart);
    coll_free(stream);
    for (int i = 0; i < 2; i++) { natsSubscription_Unsubscribe(svc[i]); natsSubscription_Destroy(svc[i]); }
    natsSubscription_Destroy(rsub);
    natsSubscription_Destroy(dsub);
    natsConnection_Close(r);
    natsConnection_Destroy(r);
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: %s CTL_DIR KILL URL1 URL2 URL3\n", argv[0]);
        return 64;
    }
    signal(SIGALRM, on_alarm);
    alarm(WATCHDOG_S);
    g_ctl = argv[1];
    g_kill = atoi(argv[2]) - 1;
    if (g_kill < 0 || g_kill > 2) {
        fprintf(stderr, "KILL must be 1, 2 or 3\n");
        return 64;
    }
    for (int i = 0; i < 3; i++) g_urls[i] = argv[3 + i];
    snprintf(g_prefix, sizeof(g_prefix), "c%d_%lld", (int)getpid(), (long long)(now_ms() % 1000000));
    printf("# [%s] libnats %s nodes=[%s, %s, %s] kill=%s\n", CLIENT, nats_GetVersion(), g_urls[0], g_urls[1], g_urls[2],
           NN[g_kill]);
    fflush(stdout);
    if (nats_Open(-1) != NATS_OK) {
        check("nats_Open", 0, NULL);
        return 1;
    }
    for (int i = 0; i < 3; i++) {
        char nm[32];
        snprintf(nm, sizeof(nm), "c-cluster-n%d", i + 1);
        natsStatus st = connect_one(&cs[i], g_urls[i], nm);
        if (st != NATS_OK) {
            check("connect: one connection to each of the 3 nodes", 0, "%s: %s", NN[i], natsStatus_GetText(st));
            return 1;
        }
    }
    check("connect: one connection to each of the 3 nodes", 1, NULL);
    struct { const char *name; void (*fn)(void); } steps[] = {
        {"gossip", s_gossip},   {"pubsub", s_pubsub},   {"wildcards", s_wildcards},
        {"queue", s_queue},     {"request", s_request}, {"headers", s_headers},
        {"interest", s_interest_removed}, {"kill/restart", s_kill_restart},
    };
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        if (ready_failures) {
            char nm[160];
            snprintf(nm, sizeof(nm), "%s: skipped (interest did not cross the routes in an earlier step)", steps[i].name);
            check(nm, 0, NULL);
            continue;
        }
        steps[i].fn();
    }
    for (int i = 0; i < 3; i++) {
        natsConnection_Close(cs[i]);
        natsConnection_Destroy(cs[i]);
    }
    nats_CloseAndWait(2000);
    printf("# [%s] %d passed, %d failed\n", CLIENT, passes, failures);
    fflush(stdout);
    return failures ? 1 : 0;
}
