/*
 * NATS Streaming over a NATS cluster, with the official C client (Debian
 * libnats-dev, nats.c 3.4.x, streaming API stanConnection_*).
 *
 * usage: c_cluster basic    CLUSTER_ID PREFIX LIST [LIST...]
 *        c_cluster failover CLUSTER_ID PREFIX LIST KILL_PID MONITOR_URL
 *   LIST      comma-separated server URLs of one client position, tried in
 *             order (natsOptions_SetNoRandomize)
 *   basic     for each position i: a publisher through LIST[i], a subscriber
 *             through LIST[(i+1) % n]; acked publishes, plain, durable and
 *             queue subscriptions, async publishes
 *   failover  one client through LIST (first URL: the node to kill); during a
 *             burst of async publishes, SIGKILL KILL_PID, expect a reconnect
 *             to the second URL, acked publishes after it, every acked
 *             message received by both subscriptions, and
 *             the client still in MONITOR_URL/streaming/clientsz (fetched with
 *             a plain HTTP/1.0 GET) after several heartbeat and ping intervals
 *
 * build: cc -O1 -Wall -o c_cluster c_cluster.c $(pkg-config --cflags --libs libnats) -lpthread
 *
 * Prints "ok <name>" / "FAIL <name>: <details>" per check; exit 1 if any
 * check failed, 2 on the watchdog (alarm). Every wait is bounded.
 */
#ifndef NATS_HAS_STREAMING
#define NATS_HAS_STREAMING 1
#endif
#include <nats/nats.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define TIMEOUT_MS 5000
#define GRACE_MS 300
#define WATCHDOG_S 50
#define HB_WAIT_MS 6000
#define PING_INTERVAL_S 1
#define PING_MAX_OUT 3
#define MAXMSGS 256
#define MAXURLS 8

static int passes = 0, failures = 0;
static const char *g_cluster, *g_prefix;

static void check(const char *name, int ok, const char *fmt, ...)
{
    char detail[2048] = "";
    if (fmt != NULL) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(detail, sizeof(detail), fmt, ap);
        va_end(ap);
    }
    if (ok) {
        passes++;
        if (detail[0]) printf("ok %s (%s)\n", name, detail);
        else printf("ok %s\n", name);
    } else {
        failures++;
        printf("FAIL %s: %s\n", name, detail);
    }
    fflush(stdout);
}

static void on_alarm(int sig)
{
    (void)sig;
    static const char m[] = "FAIL watchdog: scenario exceeded time limit\n";
    if (write(1, m, sizeof(m) - 1) < 0) { /* nothing */ }
    _exit(2);
}

static int64_t mono_ms(void)
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

static void errtxt(char *buf, size_t n, natsStatus s)
{
    const char *t = nats_GetLastError(NULL);
    if (t != NULL && t[0] != '\0')
        snprintf(buf, n, "%s (%s)", t, natsStatus_GetText(s));
    else
        snprintf(buf, n, "%s", natsStatus_GetText(s));
}

static void addp(char *buf, size_t n, const char *fmt, ...)
{
    size_t len = strlen(buf);
    if (len + 3 >= n) return;
    if (len > 0) {
        strcat(buf, "; ");
        len += 2;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + len, n - len, fmt, ap);
    va_end(ap);
}

/* Port of a URL "nats://host:port" (-1 if none). */
static int url_port(const char *u)
{
    const char *p = strrchr(u, ':');
    return p != NULL ? atoi(p + 1) : -1;
}

/* A server list: comma-separated URLs split in place. */
typedef struct {
    const char *url[MAXURLS];
    int n;
} urllist;

static void split_list(urllist *l, char *s)
{
    l->n = 0;
    for (char *tok = strtok(s, ","); tok != NULL && l->n < MAXURLS; tok = strtok(NULL, ","))
        l->url[l->n++] = tok;
}

/* -------------------------------------------------------------- collector */

typedef struct {
    uint64_t seq;
    char data[64];
} rmsg;

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    int ack;
    int n;
    rmsg msgs[MAXMSGS];
    char ackerr[256];
} collector;

/* Collectors are never freed: a callback may still run briefly after close. */
static collector *coll_new(int ack)
{
    collector *c = calloc(1, sizeof(*c));
    if (c == NULL) abort();
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cond, NULL);
    c->ack = ack;
    return c;
}

static void on_msg(stanConnection *sc, stanSubscription *sub, const char *channel, stanMsg *msg,
                   void *closure)
{
    (void)sc;
    (void)channel;
    collector *c = closure;
    if (c->ack) {
        natsStatus s = stanSubscription_AckMsg(sub, msg);
        if (s != NATS_OK) {
            pthread_mutex_lock(&c->mu);
            errtxt(c->ackerr, sizeof(c->ackerr), s);
            pthread_mutex_unlock(&c->mu);
        }
    }
    pthread_mutex_lock(&c->mu);
    if (c->n < MAXMSGS) {
        rmsg *m = &c->msgs[c->n];
        m->seq = stanMsg_GetSequence(msg);
        int len = stanMsg_GetDataLength(msg);
        if (len > (int)sizeof(m->data) - 1) len = (int)sizeof(m->data) - 1;
        if (len > 0) memcpy(m->data, stanMsg_GetData(msg), (size_t)len);
        m->data[len < 0 ? 0 : len] = '\0';
        c->n++;
    }
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->mu);
    stanMsg_Destroy(msg);
}

/* 1 if every sequence in [from, to] was received (caller holds the lock). */
static int has_range_locked(collector *c, uint64_t from, uint64_t to)
{
    for (uint64_t q = from; q <= to; q++) {
        int found = 0;
        for (int i = 0; i < c->n && !found; i++) found = c->msgs[i].seq == q;
        if (!found) return 0;
    }
    return 1;
}

static void deadline_in(struct timespec *dl, int ms)
{
    clock_gettime(CLOCK_REALTIME, dl);
    dl->tv_sec += ms / 1000;
    dl->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (dl->tv_nsec >= 1000000000L) {
        dl->tv_sec++;
        dl->tv_nsec -= 1000000000L;
    }
}

/* Waits until n messages (have_range=0) or every seq in [from, to]. */
static int coll_wait(collector *c, int n, uint64_t from, uint64_t to, int ms)
{
    struct timespec dl;
    deadline_in(&dl, ms);
    pthread_mutex_lock(&c->mu);
    for (;;) {
        int ok = n > 0 ? c->n >= n : has_range_locked(c, from, to);
        if (ok) break;
        if (pthread_cond_timedwait(&c->cond, &c->mu, &dl) != 0) break;
    }
    int ok = n > 0 ? c->n >= n : has_range_locked(c, from, to);
    pthread_mutex_unlock(&c->mu);
    return ok;
}

static void seqlist(char *buf, size_t n, collector *c)
{
    size_t len = 0;
    buf[0] = '\0';
    pthread_mutex_lock(&c->mu);
    for (int i = 0; i < c->n && len + 24 < n; i++)
        len += (size_t)snprintf(buf + len, n - len, "%s%llu", i ? "," : "",
                                (unsigned long long)c->msgs[i].seq);
    pthread_mutex_unlock(&c->mu);
}

/* Exactly sequences from..to, payload "<dpfx><seq>". */
static void exact_problems(char *probs, size_t pn, collector *c, uint64_t from, uint64_t to,
                           const char *dpfx)
{
    pthread_mutex_lock(&c->mu);
    int bad = c->n != (int)(to - from + 1);
    for (int i = 0; !bad && i < c->n; i++) bad = c->msgs[i].seq != from + (uint64_t)i;
    for (int i = 0; i < c->n; i++) {
        char want[64];
        snprintf(want, sizeof(want), "%s%llu", dpfx, (unsigned long long)c->msgs[i].seq);
        if (strcmp(want, c->msgs[i].data) != 0)
            addp(probs, pn, "seq %llu: data '%s' != '%s'", (unsigned long long)c->msgs[i].seq,
                 c->msgs[i].data, want);
    }
    if (c->ackerr[0]) addp(probs, pn, "ack failed: %s", c->ackerr);
    pthread_mutex_unlock(&c->mu);
    if (bad) {
        char got[1024];
        seqlist(got, sizeof(got), c);
        addp(probs, pn, "sequences [%s] != expected %llu..%llu", got, (unsigned long long)from,
             (unsigned long long)to);
    }
}

/* ------------------------------------------------------------ connections */

typedef struct {
    pthread_mutex_t mu;
    int reconnects;
    int reconnect_port;
    int64_t reconnect_at;
    int lost;
    char lost_err[256];
} conn_events;

static conn_events g_ev = {PTHREAD_MUTEX_INITIALIZER, 0, -1, 0, 0, ""};

static void on_reconnected(natsConnection *nc, void *closure)
{
    (void)closure;
    char url[256] = "";
    natsConnection_GetConnectedUrl(nc, url, sizeof(url));
    pthread_mutex_lock(&g_ev.mu);
    if (g_ev.reconnects++ == 0) {
        g_ev.reconnect_port = url_port(url);
        g_ev.reconnect_at = mono_ms();
    }
    pthread_mutex_unlock(&g_ev.mu);
}

static void on_conn_lost(stanConnection *sc, const char *err, void *closure)
{
    (void)sc;
    (void)closure;
    pthread_mutex_lock(&g_ev.mu);
    g_ev.lost++;
    snprintf(g_ev.lost_err, sizeof(g_ev.lost_err), "%s", err ? err : "(null)");
    pthread_mutex_unlock(&g_ev.mu);
}

static natsStatus connect_id(stanConnection **sc, const char *clientID, const urllist *l,
                             int events, char *err, size_t en)
{
    natsOptions *no = NULL;
    stanConnOptions *o = NULL;
    natsStatus s = natsOptions_Create(&no);
    if (s == NATS_OK) s = natsOptions_SetServers(no, (const char **)l->url, l->n);
    if (s == NATS_OK) s = natsOptions_SetNoRandomize(no, true);
    if (s == NATS_OK) s = natsOptions_SetReconnectWait(no, 250);
    if (s == NATS_OK && events) s = natsOptions_SetReconnectedCB(no, on_reconnected, NULL);
    if (s == NATS_OK) s = stanConnOptions_Create(&o);
    if (s == NATS_OK) s = stanConnOptions_SetNATSOptions(o, no);
    if (s == NATS_OK) s = stanConnOptions_SetConnectionWait(o, TIMEOUT_MS);
    if (s == NATS_OK) s = stanConnOptions_SetPubAckWait(o, TIMEOUT_MS);
    if (s == NATS_OK) s = stanConnOptions_SetPings(o, PING_INTERVAL_S, PING_MAX_OUT);
    if (s == NATS_OK && events) s = stanConnOptions_SetConnectionLostHandler(o, on_conn_lost, NULL);
    if (s == NATS_OK) s = stanConnection_Connect(sc, g_cluster, clientID, o);
    if (s != NATS_OK) {
        errtxt(err, en, s);
        *sc = NULL;
    }
    stanConnOptions_Destroy(o);
    natsOptions_Destroy(no);
    return s;
}

static int connected_port(stanConnection *sc)
{
    natsConnection *nc = NULL;
    char url[256] = "";
    if (stanConnection_GetNATSConnection(sc, &nc) != NATS_OK) return -1;
    natsConnection_GetConnectedUrl(nc, url, sizeof(url));
    stanConnection_ReleaseNATSConnection(sc);
    return url_port(url);
}

static int close_conn(stanConnection *sc, char *err, size_t en)
{
    natsStatus s = stanConnection_Close(sc);
    if (s != NATS_OK) errtxt(err, en, s);
    stanConnection_Destroy(sc);
    return s == NATS_OK;
}

typedef struct {
    int all;
    int manual;
    int64_t ackwait_ms;
    const char *durable;
} subspec;

static natsStatus subscribe(stanSubscription **sub, stanConnection *sc, const char *channel,
                            const char *queue, collector *c, subspec sp, char *err, size_t en)
{
    stanSubOptions *o = NULL;
    natsStatus s = stanSubOptions_Create(&o);
    if (s == NATS_OK && sp.all) s = stanSubOptions_DeliverAllAvailable(o);
    if (s == NATS_OK && sp.manual) s = stanSubOptions_SetManualAckMode(o, true);
    if (s == NATS_OK && sp.ackwait_ms > 0) s = stanSubOptions_SetAckWait(o, sp.ackwait_ms);
    if (s == NATS_OK && sp.durable) s = stanSubOptions_SetDurableName(o, sp.durable);
    if (s == NATS_OK) {
        if (queue)
            s = stanConnection_QueueSubscribe(sub, sc, channel, queue, on_msg, c, o);
        else
            s = stanConnection_Subscribe(sub, sc, channel, on_msg, c, o);
    }
    if (s != NATS_OK) {
        errtxt(err, en, s);
        *sub = NULL;
    }
    stanSubOptions_Destroy(o);
    return s;
}

static void unsub(stanSubscription *sub, int close, char *probs, size_t pn)
{
    natsStatus s = close ? stanSubscription_Close(sub) : stanSubscription_Unsubscribe(sub);
    if (s != NATS_OK) {
        char e[512];
        errtxt(e, sizeof(e), s);
        addp(probs, pn, "%s: %s", close ? "close" : "unsubscribe", e);
    }
    stanSubscription_Destroy(sub);
}

static void publish_sync(stanConnection *sc, const char *channel, const char *dpfx, int from, int to,
                         char *probs, size_t pn)
{
    for (int i = from; i <= to; i++) {
        char d[64];
        snprintf(d, sizeof(d), "%s%d", dpfx, i);
        natsStatus s = stanConnection_Publish(sc, channel, d, (int)strlen(d));
        if (s != NATS_OK) {
            char e[512];
            errtxt(e, sizeof(e), s);
            addp(probs, pn, "publish '%s': %s", d, e);
        }
    }
}

/* ------------------------------------------------------------------ basic */

/* Queue check: count[0] < 0 marks another problem; else every seq once. */
static int count_ok(const int *count, int other)
{
    if (count[0] < 0 || other) return 0;
    for (int q = 1; q <= 10; q++)
        if (count[q] != 1) return 0;
    return 1;
}

#define NASYNC 20
static struct {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    int acks;
    int errs;
    char firsterr[256];
} g_async = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, ""};

static void on_pub_ack(const char *guid, const char *error, void *closure)
{
    (void)guid;
    (void)closure;
    pthread_mutex_lock(&g_async.mu);
    g_async.acks++;
    if (error != NULL && error[0] != '\0' && g_async.errs++ == 0)
        snprintf(g_async.firsterr, sizeof(g_async.firsterr), "%s", error);
    pthread_cond_broadcast(&g_async.cond);
    pthread_mutex_unlock(&g_async.mu);
}

static void basic_position(urllist *lists, int n, int i)
{
    const urllist *pl = &lists[i], *sl = &lists[(i + 1) % n];
    char tag[16], name[64], id[160], ch[160], dp[32], err[512];
    stanConnection *P = NULL, *S = NULL;
    snprintf(tag, sizeof(tag), "p%d", i);
#define NAME(s) (snprintf(name, sizeof(name), "%s.%s", tag, s), name)

    snprintf(id, sizeof(id), "%s-%s-pub", g_prefix, tag);
    if (connect_id(&P, id, pl, 0, err, sizeof(err)) != NATS_OK) {
        check(NAME("connect"), 0, "%s: %s", id, err);
        return;
    }
    snprintf(id, sizeof(id), "%s-%s-sub", g_prefix, tag);
    if (connect_id(&S, id, sl, 0, err, sizeof(err)) != NATS_OK) {
        check(NAME("connect"), 0, "%s: %s", id, err);
        close_conn(P, err, sizeof(err));
        return;
    }
    int pp = connected_port(P), sp = connected_port(S);
    check(NAME("connect"), pp == url_port(pl->url[0]) && sp == url_port(sl->url[0]),
          "publisher on :%d (want :%d), subscriber on :%d (want :%d)", pp, url_port(pl->url[0]),
          sp, url_port(sl->url[0]));

    /* Plain subscription (new only), 5 synchronous publishes with acks. */
    snprintf(ch, sizeof(ch), "%s.%s", g_prefix, tag);
    snprintf(dp, sizeof(dp), "%s-m", tag);
    {
        char probs[4096] = "";
        collector *c = coll_new(0);
        stanSubscription *sub = NULL;
        subspec spc = {0, 0, 0, NULL};
        if (subscribe(&sub, S, ch, NULL, c, spc, err, sizeof(err)) != NATS_OK) {
            check(NAME("plain_sub"), 0, "subscribe: %s", err);
        } else {
            publish_sync(P, ch, dp, 1, 5, probs, sizeof(probs));
            check(NAME("publish_acked"), probs[0] == '\0', "%s", probs);
            probs[0] = '\0';
            coll_wait(c, 5, 0, 0, TIMEOUT_MS);
            sleep_ms(GRACE_MS);
            exact_problems(probs, sizeof(probs), c, 1, 5, dp);
            unsub(sub, 0, probs, sizeof(probs));
            check(NAME("plain_sub"), probs[0] == '\0', "%s", probs);
        }
    }
    /* Durable (manual acks): 1..5, close, 6..8 published, resume with 6..8. */
    {
        char probs[4096] = "";
        collector *c = coll_new(1);
        stanSubscription *sub = NULL;
        subspec spc = {1, 1, 2000, "dur"};
        if (subscribe(&sub, S, ch, NULL, c, spc, err, sizeof(err)) != NATS_OK) {
            check(NAME("durable_sub"), 0, "subscribe: %s", err);
        } else {
            coll_wait(c, 5, 0, 0, TIMEOUT_MS);
            sleep_ms(GRACE_MS);
            exact_problems(probs, sizeof(probs), c, 1, 5, dp);
            unsub(sub, 1, probs, sizeof(probs));
            publish_sync(P, ch, dp, 6, 8, probs, sizeof(probs));
            c = coll_new(1);
            if (subscribe(&sub, S, ch, NULL, c, spc, err, sizeof(err)) != NATS_OK) {
                addp(probs, sizeof(probs), "resubscribe: %s", err);
            } else {
                coll_wait(c, 3, 0, 0, TIMEOUT_MS);
                sleep_ms(GRACE_MS);
                exact_problems(probs, sizeof(probs), c, 6, 8, dp);
                unsub(sub, 0, probs, sizeof(probs));
            }
            check(NAME("durable_sub"), probs[0] == '\0', "%s", probs);
        }
    }
    /* Queue group, one member on each connection: union is exactly 1..10. */
    {
        char probs[4096] = "", qch[176], qdp[32];
        collector *c1 = coll_new(0), *c2 = coll_new(0);
        stanSubscription *s1 = NULL, *s2 = NULL;
        subspec spc = {0, 0, 0, NULL};
        snprintf(qch, sizeof(qch), "%sq", ch);
        snprintf(qdp, sizeof(qdp), "%s-q", tag);
        if (subscribe(&s1, S, qch, "grp", c1, spc, err, sizeof(err)) != NATS_OK ||
            subscribe(&s2, P, qch, "grp", c2, spc, err, sizeof(err)) != NATS_OK) {
            check(NAME("queue_sub"), 0, "subscribe: %s", err);
            if (s1) unsub(s1, 0, probs, sizeof(probs));
        } else {
            publish_sync(P, qch, qdp, 1, 10, probs, sizeof(probs));
            int64_t dl = mono_ms() + TIMEOUT_MS;
            while (mono_ms() < dl) {
                pthread_mutex_lock(&c1->mu);
                pthread_mutex_lock(&c2->mu);
                int tot = c1->n + c2->n;
                pthread_mutex_unlock(&c2->mu);
                pthread_mutex_unlock(&c1->mu);
                if (tot >= 10) break;
                sleep_ms(20);
            }
            sleep_ms(GRACE_MS);
            int count[11] = {0}, other = 0;
            collector *cs[2] = {c1, c2};
            for (int k = 0; k < 2; k++) {
                pthread_mutex_lock(&cs[k]->mu);
                for (int j = 0; j < cs[k]->n; j++) {
                    uint64_t q = cs[k]->msgs[j].seq;
                    char want[64];
                    snprintf(want, sizeof(want), "%s%llu", qdp, (unsigned long long)q);
                    if (q >= 1 && q <= 10) count[q]++;
                    else other++;
                    if (strcmp(want, cs[k]->msgs[j].data) != 0)
                        addp(probs, sizeof(probs), "seq %llu: data '%s'", (unsigned long long)q,
                             cs[k]->msgs[j].data);
                }
                pthread_mutex_unlock(&cs[k]->mu);
            }
            for (int q = 1; q <= 10; q++)
                if (count[q] != 1) addp(probs, sizeof(probs), "seq %d received %d times", q, count[q]);
            if (other) addp(probs, sizeof(probs), "%d messages outside 1..10", other);
            unsub(s1, 0, probs, sizeof(probs));
            unsub(s2, 0, probs, sizeof(probs));
            if (probs[0] != '\0') count[0] = -1; /* any problem fails the check */
            if (probs[0] == '\0') snprintf(probs, sizeof(probs), "split %d/%d", c1->n, c2->n);
            check(NAME("queue_sub"), count_ok(count, other), "%s", probs);
        }
    }
    /* 20 async publishes, then a deliver-all subscriber on the other node. */
    {
        char probs[4096] = "", ach[176], adp[32];
        snprintf(ach, sizeof(ach), "%sa", ch);
        snprintf(adp, sizeof(adp), "%s-a", tag);
        pthread_mutex_lock(&g_async.mu);
        g_async.acks = 0;
        g_async.errs = 0;
        pthread_mutex_unlock(&g_async.mu);
        for (int k = 1; k <= NASYNC; k++) {
            char d[64];
            snprintf(d, sizeof(d), "%s%d", adp, k);
            natsStatus s = stanConnection_PublishAsync(P, ach, d, (int)strlen(d), on_pub_ack, NULL);
            if (s != NATS_OK) {
                errtxt(err, sizeof(err), s);
                addp(probs, sizeof(probs), "publish %s: %s", d, err);
            }
        }
        struct timespec dl;
        deadline_in(&dl, TIMEOUT_MS);
        pthread_mutex_lock(&g_async.mu);
        while (g_async.acks < NASYNC)
            if (pthread_cond_timedwait(&g_async.cond, &g_async.mu, &dl) != 0) break;
        if (g_async.acks < NASYNC) addp(probs, sizeof(probs), "only %d/%d acks", g_async.acks, NASYNC);
        if (g_async.errs) addp(probs, sizeof(probs), "%d ack errors, first '%s'", g_async.errs, g_async.firsterr);
        pthread_mutex_unlock(&g_async.mu);
        collector *c = coll_new(0);
        stanSubscription *sub = NULL;
        subspec spc = {1, 0, 0, NULL};
        if (subscribe(&sub, S, ach, NULL, c, spc, err, sizeof(err)) != NATS_OK) {
            addp(probs, sizeof(probs), "subscribe: %s", err);
        } else {
            coll_wait(c, NASYNC, 0, 0, TIMEOUT_MS);
            sleep_ms(GRACE_MS);
            exact_problems(probs, sizeof(probs), c, 1, NASYNC, adp);
            unsub(sub, 0, probs, sizeof(probs));
        }
        check(NAME("async_publish"), probs[0] == '\0', "%s", probs);
    }
    char e1[512] = "", e2[512] = "";
    int ok1 = close_conn(S, e1, sizeof(e1));
    int ok2 = close_conn(P, e2, sizeof(e2));
    check(NAME("close"), ok1 && ok2, ok1 && ok2 ? NULL : "%s %s", e1, e2);
#undef NAME
}

/* --------------------------------------------------------------- failover */

/* GET MONITOR_URL/streaming/clientsz; 1 if fetched; *listed = client present. */
static int clientsz_lists(const char *monitor, const char *client_id, int *listed, char *err,
                          size_t en)
{
    int port = url_port(monitor);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        snprintf(err, en, "socket failed");
        return 0;
    }
    struct timeval tv = {TIMEOUT_MS / 1000, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        snprintf(err, en, "connect to monitoring port %d failed", port);
        close(fd);
        return 0;
    }
    static const char req[] =
        "GET /streaming/clientsz?limit=1024 HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if (write(fd, req, sizeof(req) - 1) != (ssize_t)(sizeof(req) - 1)) {
        snprintf(err, en, "write failed");
        close(fd);
        return 0;
    }
    static char resp[65536];
    size_t len = 0;
    for (;;) {
        ssize_t r = read(fd, resp + len, sizeof(resp) - 1 - len);
        if (r <= 0) break;
        len += (size_t)r;
        if (len >= sizeof(resp) - 1) break;
    }
    close(fd);
    resp[len] = '\0';
    if (strncmp(resp, "HTTP/1.", 7) != 0 || strstr(resp, " 200 ") == NULL) {
        snprintf(err, en, "bad HTTP response: %.120s", resp);
        return 0;
    }
    char needle[256];
    snprintf(needle, sizeof(needle), "\"id\":\"%s\"", client_id);
    char needle2[256];
    snprintf(needle2, sizeof(needle2), "\"id\": \"%s\"", client_id);
    *listed = strstr(resp, needle) != NULL || strstr(resp, needle2) != NULL;
    return 1;
}

static void check_listed(const char *name, const char *monitor, const char *client_id, int want,
                         const char *info)
{
    char err[512] = "";
    int listed = 0;
    if (!clientsz_lists(monitor, client_id, &listed, err, sizeof(err))) {
        check(name, 0, "GET %s/streaming/clientsz: %s", monitor, err);
        return;
    }
    check(name, listed == want, "%s %s %s", client_id, listed ? "listed" : "not listed", info);
}

/* Publishes of the failover burst and the state of their acks. */
#define NBURST 64
typedef struct {
    char data[32];
    int after; /* issued after the reconnect */
    int done;
    char err[160];
} burst_pub;

static struct {
    pthread_mutex_t mu;
    burst_pub pub[NBURST];
    int n;
} g_burst = {PTHREAD_MUTEX_INITIALIZER, {{"", 0, 0, ""}}, 0};

static void on_burst_ack(const char *guid, const char *error, void *closure)
{
    (void)guid;
    burst_pub *b = closure;
    pthread_mutex_lock(&g_burst.mu);
    b->done = 1;
    if (error != NULL && error[0] != '\0') snprintf(b->err, sizeof(b->err), "%s", error);
    pthread_mutex_unlock(&g_burst.mu);
}

/* Wanted payloads: "fo-1".."fo-10" and the acked burst publishes. */
typedef struct {
    char data[NBURST + 16][32];
    int n;
} wantset;

/* 1 if every wanted payload was received; lists the missing ones. */
static int has_payloads(collector *c, const wantset *w, char *missing, size_t mn)
{
    int ok = 1;
    if (missing) missing[0] = '\0';
    pthread_mutex_lock(&c->mu);
    for (int i = 0; i < w->n; i++) {
        int found = 0;
        for (int j = 0; j < c->n && !found; j++) found = strcmp(c->msgs[j].data, w->data[i]) == 0;
        if (!found) {
            ok = 0;
            if (missing) addp(missing, mn, "%s", w->data[i]);
        }
    }
    pthread_mutex_unlock(&c->mu);
    return ok;
}

static int wait_payloads(collector *c, const wantset *w, int ms)
{
    int64_t dl = mono_ms() + ms;
    while (!has_payloads(c, w, NULL, 0)) {
        if (mono_ms() >= dl) return 0;
        sleep_ms(20);
    }
    return 1;
}

static int reconnect_state(int *port, int64_t *at)
{
    pthread_mutex_lock(&g_ev.mu);
    int n = g_ev.reconnects;
    *port = g_ev.reconnect_port;
    *at = g_ev.reconnect_at;
    pthread_mutex_unlock(&g_ev.mu);
    return n;
}

static void failover(urllist *l, int kill_pid, const char *monitor)
{
    char id[160], ch[160], err[512], probs[4096] = "";
    static wantset want;
    stanConnection *sc = NULL;
    snprintf(id, sizeof(id), "%s-fo", g_prefix);
    if (connect_id(&sc, id, l, 1, err, sizeof(err)) != NATS_OK) {
        check("connect", 0, "%s: %s", id, err);
        return;
    }
    int before = connected_port(sc);
    if (before != url_port(l->url[0])) {
        check("connect", 0, "connected to :%d, want :%d (the node to kill)", before, url_port(l->url[0]));
        return;
    }
    check("connect", 1, "connected to :%d (the node to kill)", before);
    snprintf(ch, sizeof(ch), "%s.fo", g_prefix);
    collector *plain = coll_new(0), *dur = coll_new(1);
    stanSubscription *s1 = NULL, *s2 = NULL;
    subspec sp1 = {1, 0, 2000, NULL}, sp2 = {1, 1, 2000, "fodur"};
    if (subscribe(&s1, sc, ch, NULL, plain, sp1, err, sizeof(err)) != NATS_OK ||
        subscribe(&s2, sc, ch, NULL, dur, sp2, err, sizeof(err)) != NATS_OK) {
        check("subscribe", 0, "%s", err);
        return;
    }
    publish_sync(sc, ch, "fo-", 1, 5, probs, sizeof(probs));
    want.n = 0;
    for (int i = 1; i <= 5; i++) snprintf(want.data[want.n++], sizeof(want.data[0]), "fo-%d", i);
    wait_payloads(plain, &want, TIMEOUT_MS);
    wait_payloads(dur, &want, TIMEOUT_MS);
    exact_problems(probs, sizeof(probs), plain, 1, 5, "fo-");
    check("before_failover", probs[0] == '\0', "%s", probs);
    check_listed("clientsz_before", monitor, id, 1, "");

    /* A burst of async publishes (every 10 ms) across the kill of the node
     * the client is connected to, until 20 were issued after the reconnect.
     * (libnats has no reconnect buffer for streaming connections: a publish
     * while disconnected fails at once, which is allowed.) */
    int64_t t_kill = 0, deadline = mono_ms() + 10000, rat = 0;
    int after = 0, rport = -1;
    while (after < 20 && mono_ms() < deadline && g_burst.n < NBURST) {
        if (g_burst.n == 10 && t_kill == 0) {
            t_kill = mono_ms();
            if (kill((pid_t)kill_pid, SIGKILL) != 0) {
                check("kill_node", 0, "kill -9 %d failed", kill_pid);
                return;
            }
        }
        burst_pub *b = &g_burst.pub[g_burst.n];
        snprintf(b->data, sizeof(b->data), "fo-b%d", g_burst.n + 1);
        b->after = reconnect_state(&rport, &rat) > 0;
        if (b->after) after++;
        pthread_mutex_lock(&g_burst.mu);
        g_burst.n++;
        pthread_mutex_unlock(&g_burst.mu);
        natsStatus s = stanConnection_PublishAsync(sc, ch, b->data, (int)strlen(b->data), on_burst_ack, b);
        if (s != NATS_OK) {
            pthread_mutex_lock(&g_burst.mu);
            b->done = 1;
            errtxt(b->err, sizeof(b->err), s);
            pthread_mutex_unlock(&g_burst.mu);
        }
        sleep_ms(10);
    }
    if (reconnect_state(&rport, &rat) == 0) {
        check("reconnect", 0, "no reconnect within 10s");
        return;
    }
    if (rport != url_port(l->url[1])) {
        check("reconnect", 0, "reconnected to :%d, want :%d", rport, url_port(l->url[1]));
        return;
    }
    check("reconnect", 1, "reconnected to :%d after %lldms", rport, (long long)(rat - t_kill));

    probs[0] = '\0';
    publish_sync(sc, ch, "fo-", 6, 10, probs, sizeof(probs));
    check("publish_after_failover", probs[0] == '\0', "%s", probs);

    /* Server heartbeats and client pings run; the burst's acks settle
     * (ack timeout 5 s). */
    sleep_ms(HB_WAIT_MS);
    char late[2048] = "";
    int nacked = 0, pending = 0, nafter = 0;
    for (int i = 6; i <= 10; i++) snprintf(want.data[want.n++], sizeof(want.data[0]), "fo-%d", i);
    pthread_mutex_lock(&g_burst.mu);
    for (int i = 0; i < g_burst.n; i++) {
        burst_pub *b = &g_burst.pub[i];
        nafter += b->after;
        if (!b->done) pending++;
        if (b->done && b->err[0] == '\0') {
            nacked++;
            snprintf(want.data[want.n++], sizeof(want.data[0]), "%s", b->data);
        } else if (b->after) {
            addp(late, sizeof(late), "%s (%s)", b->data, b->done ? b->err : "no ack");
        }
    }
    int nburst = g_burst.n;
    pthread_mutex_unlock(&g_burst.mu);
    check("burst_acked_after_reconnect", late[0] == '\0',
          "%d/%d burst publishes acked, %d issued after the reconnect%s%s; %d issued before it without ack",
          nacked, nburst, nafter, late[0] ? "; not acked after the reconnect: " : "", late, pending);

    int okp = wait_payloads(plain, &want, 10000);
    int okd = wait_payloads(dur, &want, 10000);
    char mp[1024], md[1024];
    has_payloads(plain, &want, mp, sizeof(mp));
    has_payloads(dur, &want, md, sizeof(md));
    check("receive_after_failover", okp && okd,
          "%d acked messages; plain missing [%s], durable missing [%s]; deliveries plain %d, durable %d",
          want.n, mp, md, plain->n, dur->n);

    char info[64];
    snprintf(info, sizeof(info), "%lldms after the kill", (long long)(mono_ms() - t_kill));
    check_listed("clientsz_after_heartbeats", monitor, id, 1, info);
    pthread_mutex_lock(&g_ev.mu);
    int lost = g_ev.lost;
    char lerr[256];
    snprintf(lerr, sizeof(lerr), "%s", g_ev.lost_err);
    pthread_mutex_unlock(&g_ev.mu);
    check("no_connection_lost", lost == 0, "connection lost handler called %d times: %s", lost, lerr);
    probs[0] = '\0';
    publish_sync(sc, ch, "fo-", 11, 12, probs, sizeof(probs));
    static wantset w2;
    w2.n = 0;
    snprintf(w2.data[w2.n++], sizeof(w2.data[0]), "fo-11");
    snprintf(w2.data[w2.n++], sizeof(w2.data[0]), "fo-12");
    if (!wait_payloads(plain, &w2, TIMEOUT_MS))
        addp(probs, sizeof(probs), "plain subscriber did not get fo-11, fo-12");
    check("publish_receive_late", probs[0] == '\0', "%s", probs);
    err[0] = '\0';
    probs[0] = '\0';
    unsub(s1, 0, probs, sizeof(probs));
    unsub(s2, 0, probs, sizeof(probs));
    if (!close_conn(sc, err, sizeof(err))) addp(probs, sizeof(probs), "close: %s", err);
    check("close", probs[0] == '\0', "%s", probs);
    check_listed("clientsz_after_close", monitor, id, 0, "");
}

int main(int argc, char **argv)
{
    static const char usage[] = "usage: %s basic CLUSTER_ID PREFIX LIST [LIST...]\n"
                                "       %s failover CLUSTER_ID PREFIX LIST KILL_PID MONITOR_URL\n";
    if (argc < 5) {
        fprintf(stderr, usage, argv[0], argv[0]);
        return 64;
    }
    const char *mode = argv[1];
    g_cluster = argv[2];
    g_prefix = argv[3];
    urllist lists[MAXURLS];
    int n = 0;
    int is_failover = strcmp(mode, "failover") == 0;
    if (!is_failover && strcmp(mode, "basic") != 0) {
        fprintf(stderr, usage, argv[0], argv[0]);
        return 64;
    }
    if (is_failover && argc != 7) {
        fprintf(stderr, usage, argv[0], argv[0]);
        return 64;
    }
    for (int i = 4; i < (is_failover ? 5 : argc) && n < MAXURLS; i++) split_list(&lists[n++], argv[i]);
    if (is_failover && lists[0].n < 2) {
        fprintf(stderr, "failover: LIST needs two URLs\n");
        return 64;
    }
    signal(SIGALRM, on_alarm);
    alarm(WATCHDOG_S);
    if (nats_Open(-1) != NATS_OK) {
        check("nats_open", 0, "nats_Open failed");
        return 1;
    }
    if (is_failover)
        failover(&lists[0], atoi(argv[5]), argv[6]);
    else
        for (int i = 0; i < n; i++) basic_position(lists, n, i);
    printf("# c: %d ok, %d failed\n", passes, failures);
    fflush(stdout);
    alarm(0);
    /* nats_Close() may wait on library threads; exit directly instead. */
    _exit(failures ? 1 : 0);
}
