/*
 * TLS interop checks with the official C client (libnats).
 *
 * usage: c_tls URL CERTDIR
 *   The server runs --tls --tlsverify --tlscacert CERTDIR/ca.pem with
 *   CERTDIR/server-cert.pem. A client with our CA and client certificate is
 *   served (a round trip); without a client certificate, or trusting
 *   another CA, it is refused.
 *
 * Prints PASS/FAIL lines (refusals with libnats' error text), exits 1 on
 * any failure. Every wait is bounded (connect timeout, NextMsg timeout).
 */
#include <nats/nats.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int passes = 0, failures = 0;
static const char *g_url, *g_dir;

static void check(const char *name, int ok, const char *fmt, ...)
{
    char detail[512] = "";
    if (fmt != NULL) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(detail, sizeof(detail), fmt, ap);
        va_end(ap);
    }
    if (ok) passes++; else failures++;
    printf("%s [c] %s%s%s\n", ok ? "PASS" : "FAIL", name, detail[0] ? " -- " : "", detail);
    fflush(stdout);
}

static void path(char *out, size_t n, const char *file)
{
    snprintf(out, n, "%s/%s", g_dir, file);
}

/* Connects with the CA `ca` and, when `cert` is not NULL, the client
 * certificate `<cert>-cert.pem` / `<cert>-key.pem`. */
static natsStatus tls_connect(natsConnection **nc, const char *ca, const char *cert)
{
    natsOptions *o = NULL;
    char ca_path[1024], cert_path[1024], key_path[1024];
    natsStatus s = natsOptions_Create(&o);
    path(ca_path, sizeof(ca_path), ca);
    if (s == NATS_OK) s = natsOptions_SetURL(o, g_url);
    if (s == NATS_OK) s = natsOptions_SetSecure(o, true);
    if (s == NATS_OK) s = natsOptions_LoadCATrustedCertificates(o, ca_path);
    if (s == NATS_OK && cert != NULL) {
        char name[256];
        snprintf(name, sizeof(name), "%s-cert.pem", cert);
        path(cert_path, sizeof(cert_path), name);
        snprintf(name, sizeof(name), "%s-key.pem", cert);
        path(key_path, sizeof(key_path), name);
        s = natsOptions_LoadCertificatesChain(o, cert_path, key_path);
    }
    if (s == NATS_OK) s = natsOptions_SetAllowReconnect(o, false);
    if (s == NATS_OK) s = natsOptions_SetTimeout(o, 3000);
    if (s == NATS_OK) s = natsConnection_Connect(nc, o);
    natsOptions_Destroy(o);
    return s;
}

static void refused(const char *name, const char *ca, const char *cert)
{
    natsConnection *nc = NULL;
    natsStatus s = tls_connect(&nc, ca, cert);
    if (s == NATS_OK) {
        check(name, 0, "connected, expected a refusal");
        natsConnection_Destroy(nc);
        return;
    }
    const char *last = nats_GetLastError(NULL);
    check(name, 1, "%s: %s", natsStatus_GetText(s), last != NULL ? last : "");
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: c_tls URL CERTDIR\n");
        return 64;
    }
    g_url = argv[1];
    g_dir = argv[2];

    natsConnection *nc = NULL;
    natsStatus s = tls_connect(&nc, "ca.pem", "client");
    if (check("verify: connected with a client certificate", s == NATS_OK, "%s",
              s == NATS_OK ? "" : nats_GetLastError(NULL)), s == NATS_OK) {
        char subject[64];
        natsSubscription *sub = NULL;
        natsMsg *msg = NULL;
        snprintf(subject, sizeof(subject), "tls.c.%d", (int) getpid());
        s = natsConnection_SubscribeSync(&sub, nc, subject);
        if (s == NATS_OK) s = natsConnection_PublishString(nc, subject, "over tls");
        if (s == NATS_OK) s = natsSubscription_NextMsg(&msg, sub, 5000);
        check("verify: round trip with a client certificate",
              s == NATS_OK && msg != NULL && natsMsg_GetDataLength(msg) == 8
                  && memcmp(natsMsg_GetData(msg), "over tls", 8) == 0,
              "%s", natsStatus_GetText(s));
        natsMsg_Destroy(msg);
        natsSubscription_Destroy(sub);
        natsConnection_Destroy(nc);
    }
    refused("verify: no client certificate is refused", "ca.pem", NULL);
    refused("verify: a client trusting another CA refuses the server", "other-ca.pem", "client");
    printf("[c] %d passed, %d failed\n", passes, failures);
    nats_Close();
    return failures ? 1 : 0;
}
